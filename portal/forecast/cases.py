"""The CDC's CDSi test cases: read them (the CDC's column layout) and compare the forecaster with them."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from portal.forecast import data as supporting
from portal.forecast.engine import ROUTINE_GROUPS, forecast
from portal.forecast.model import DoseGiven, Patient

# The test cases' short vaccine group codes, and the supporting data's names for them.
GROUP_CODES = {
    "DTAP": "DTaP/Tdap/Td",
    "POL": "Polio",
    "MMR": "MMR",
    "VAR": "Varicella",
    "HEPA": "HepA",
    "HEPB": "HepB",
    "HIB": "Hib",
    "PCV": "Pneumococcal",
    "ROTA": "Rotavirus",
    "MCV": "Meningococcal",
    "MENB": "Meningococcal B",
    "HPV": "HPV",
    "FLU": "Influenza",
    "COVID-19": "COVID-19",
    "RSV": "RSV",
    "ZOSTER": "Zoster",
}
MAX_DOSES = 7  # the layout has columns for seven doses


class CaseError(ValueError):
    """A row that does not follow the CDC's layout."""


@dataclass(frozen=True)
class ExpectedDose:
    dose: DoseGiven
    status: str
    reason: str


@dataclass(frozen=True)
class TestCase:
    case_id: str
    name: str
    patient: Patient
    doses: tuple[ExpectedDose, ...]
    vaccine_group: str
    assessment_date: date
    status: str
    earliest: date | None
    recommended: date | None
    past_due: date | None


@dataclass
class CaseResult:
    case: TestCase
    doses_checked: int = 0
    doses_matching: int = 0
    forecast_matches: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def evaluation_matches(self) -> bool:
        return self.doses_checked == self.doses_matching

    @property
    def matches(self) -> bool:
        return self.evaluation_matches and self.forecast_matches


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD or the layout's MM/DD/YYYY; empty or "-" is no date."""
    text = text.strip()
    if not text or text == "-":
        return None
    try:
        if "/" in text:
            month, day, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise CaseError(f"not a date: {text!r}") from None


def _required_date(row: dict[str, str], column: str) -> date:
    found = parse_date(row.get(column, ""))
    if found is None:
        raise CaseError(f"case {row.get('CDC_Test_ID', '?')}: {column} is empty")
    return found


def read_cases(path: Path) -> list[TestCase]:
    """Every case of a CSV file in the CDC's layout (rows before the header row are ignored)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    header_at = next((i for i, row in enumerate(rows) if row and row[0].strip() == "CDC_Test_ID"), None)
    if header_at is None:
        raise CaseError(f"{path.name}: no header row starting with CDC_Test_ID")
    header = [h.strip() for h in rows[header_at]]
    return [
        _case(dict(zip(header, row, strict=False))) for row in rows[header_at + 1 :] if row and row[0].strip()
    ]


def _case(row: dict[str, str]) -> TestCase:
    doses = []
    for number in range(1, MAX_DOSES + 1):
        given_on = parse_date(row.get(f"Date_Administered_{number}", ""))
        if given_on is None:
            continue
        doses.append(
            ExpectedDose(
                dose=DoseGiven(
                    given_on, row.get(f"CVX_{number}", "").strip(), row.get(f"MVX_{number}", "").strip()
                ),
                status=row.get(f"Evaluation_Status_{number}", "").strip(),
                reason=row.get(f"Evaluation_Reason_{number}", "").strip(),
            )
        )
    code = row.get("Vaccine_Group", "").strip()
    return TestCase(
        case_id=row["CDC_Test_ID"].strip(),
        name=row.get("Test_Case_Name", "").strip(),
        patient=Patient(_required_date(row, "DOB"), row.get("gender", row.get("Gender", "")).strip()),
        doses=tuple(doses),
        vaccine_group=GROUP_CODES.get(code.upper(), code),
        assessment_date=_required_date(row, "Assessment_Date"),
        status=row.get("Series_Status", "").strip(),
        earliest=parse_date(row.get("Earliest_Date", "")),
        recommended=parse_date(row.get("Recommended_Date", "")),
        past_due=parse_date(row.get("Past_Due_Date", "")),
    )


def run_case(case: TestCase) -> CaseResult:
    result = CaseResult(case)
    if case.vaccine_group not in GROUP_CODES.values():
        result.differences.append(f"unknown vaccine group {case.vaccine_group!r}")
        return result
    doses = [d.dose for d in case.doses]
    # a dose of another vaccine group (varicella in an MMR case) is judged in its own group
    groups = [case.vaccine_group, *(g for g in groups_of(doses) if g != case.vaccine_group)]
    outcome = forecast(case.patient, doses, case.assessment_date, groups=groups)
    group = outcome.vaccine_groups[case.vaccine_group]
    for index, expected in enumerate(case.doses):
        if not expected.status:
            continue
        result.doses_checked += 1
        verdicts = (outcome.vaccine_groups[name].dose_status(index) for name in groups)
        actual = next((v for v in verdicts if v is not None), None)
        actual_status = actual.status.value if actual else "not evaluated"
        if actual_status.lower() == expected.status.lower():
            result.doses_matching += 1
        else:
            reason = f" ({actual.reason.value})" if actual and actual.reason else ""
            result.differences.append(
                f"dose {index + 1}: expected {expected.status}"
                + (f" ({expected.reason})" if expected.reason else "")
                + f", got {actual_status}{reason}"
            )
    got = group.forecast
    pairs = [
        ("status", case.status.lower(), got.status.value.lower()),
        ("earliest", case.earliest, got.earliest),
        ("recommended", case.recommended, got.recommended),
        ("past due", case.past_due, got.past_due),
    ]
    wrong = [f"{label}: expected {want}, got {have}" for label, want, have in pairs if want != have]
    result.forecast_matches = not wrong
    result.differences.extend(wrong)
    return result


def groups_of(doses: Iterable[DoseGiven]) -> list[str]:
    """The routine vaccine groups the doses' vaccines belong to."""
    data = supporting.load()
    antigens = {
        association.antigen
        for dose in doses
        for association in data.cvx_antigens.get(supporting.normalize_cvx(dose.cvx), ())
    }
    return [name for name in ROUTINE_GROUPS if antigens & set(data.vaccine_groups[name].antigens)]


def run_cases(cases: Iterable[TestCase]) -> Iterator[CaseResult]:
    for case in cases:
        yield run_case(case)


@dataclass
class GroupAgreement:
    cases: int = 0
    matching: int = 0
    forecasts_matching: int = 0
    doses_checked: int = 0
    doses_matching: int = 0


def agreement_by_group(results: Iterable[CaseResult]) -> dict[str, GroupAgreement]:
    groups: dict[str, GroupAgreement] = {}
    for result in results:
        figures = groups.setdefault(result.case.vaccine_group, GroupAgreement())
        figures.cases += 1
        figures.matching += result.matches
        figures.forecasts_matching += result.forecast_matches
        figures.doses_checked += result.doses_checked
        figures.doses_matching += result.doses_matching
    return dict(sorted(groups.items()))


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0
