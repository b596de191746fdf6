"""`portal forecast CASES.csv`: run the CDC's CDSi test cases through the forecaster."""

from __future__ import annotations

from pathlib import Path

import click

from portal.forecast import cases


@click.command(name="forecast")
@click.argument(
    "cases_file", metavar="CASES.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--quiet", is_flag=True, help="Print only the cases that differ, then the figures.")
def forecast_command(cases_file: Path, quiet: bool) -> None:
    """Compare the forecaster with test cases in the CDC's CDSi column layout."""
    try:
        loaded = cases.read_cases(cases_file)
    except (cases.CaseError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{cases_file.name}: {error}") from None
    results = []
    for result in cases.run_cases(loaded):
        results.append(result)
        if quiet and result.matches:
            continue
        evaluation = "evaluation matches" if result.evaluation_matches else "evaluation differs"
        forecast = "forecast matches" if result.forecast_matches else "forecast differs"
        line = f"{result.case.case_id} {result.case.vaccine_group}: {evaluation}, {forecast}"
        if result.differences:
            line += " (" + "; ".join(result.differences) + ")"
        click.echo(line)
    click.echo("")
    click.echo(f"{'vaccine group':<16} {'cases':>5} {'match':>7} {'forecasts':>9} {'doses':>7}")
    for name, figures in cases.agreement_by_group(results).items():
        click.echo(
            f"{name:<16} {figures.cases:>5} "
            f"{cases.percent(figures.matching, figures.cases):>6.1f}% "
            f"{cases.percent(figures.forecasts_matching, figures.cases):>8.1f}% "
            f"{cases.percent(figures.doses_matching, figures.doses_checked):>6.1f}%"
        )
    matching = sum(r.matches for r in results)
    click.echo(f"{matching} of {len(results)} cases match ({cases.percent(matching, len(results)):.1f} %)")
