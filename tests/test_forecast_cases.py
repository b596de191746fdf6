"""All the CDC's CDSi test cases in tests/data/cdsi, through the `portal forecast` command."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from portal.cli import main

CASES = Path(__file__).parent / "data" / "cdsi" / "cdsi-healthy-test-cases-v4.45.csv"
# The agreement reached with supporting data 4.64 (see tests/data/cdsi/DIFFERENCES.md for the rest).
CASES_FLOOR = 97.5
GROUP_FORECAST_FLOOR = 85.0


def test_all_cdc_cases_agree_above_the_floor() -> None:
    result = CliRunner().invoke(main, ["forecast", "--quiet", str(CASES)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    print(result.output)  # noqa: T201 (the per-group figures, for the record)
    lines = result.output.strip().splitlines()
    summary = re.fullmatch(r"(\d+) of (\d+) cases match \((\d+\.\d) %\)", lines[-1])
    assert summary is not None, lines[-1]
    matching, total, percent = int(summary[1]), int(summary[2]), float(summary[3])
    assert total == 811
    assert percent >= CASES_FLOOR and matching == round(total * percent / 100)
    rows = [re.match(r"(.+?)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%$", line) for line in lines]
    groups = {m[1]: (float(m[3]), float(m[4]), float(m[5])) for m in rows if m}
    assert len(groups) == 16
    assert all(forecasts >= GROUP_FORECAST_FLOOR for _, forecasts, _ in groups.values()), groups


def test_every_case_line_says_whether_evaluation_and_forecast_match(tmp_path: Path) -> None:
    rows = CASES.read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "three.csv"
    sample.write_text("\n".join(rows[:4]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["forecast", str(sample)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(" ")[0] for line in lines[:3]] == ["2013-0001", "2013-0002", "2013-0003"]
    assert all("evaluation matches" in line and "forecast" in line for line in lines[:3])
    assert re.fullmatch(r"\d of 3 cases match \(\d+\.\d %\)", lines[-1])


def test_a_file_not_in_the_cdc_layout_is_refused_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,someone\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["forecast", str(bad)])
    assert result.exit_code != 0
    assert "no header row starting with CDC_Test_ID" in result.output
