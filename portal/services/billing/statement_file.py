"""The CSV statement format, for practice-management systems that export files rather than FHIR.

One header line, then one line per visit, UTF-8, comma-separated, quoted as RFC 4180 says:

    patient,visit,date,provider,description,billed,insurance_paid,patient_share
    pat-123,V-2026-0001,2026-05-04,Dr Ana Ruiz,Office visit,180.00,130.00,50.00

- patient: the patient's FHIR id as the portal imported it
- visit: the system's own id for the visit (a re-import of the same id updates that visit, never adds)
- date: the day of the visit, YYYY-MM-DD
- billed, insurance_paid, patient_share: dollars and cents, not negative; neither insurance_paid nor
  patient_share may be more than billed

The file is checked whole before anything is written: one bad line refuses the file, naming the line
and the problem.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from portal.models.people import Patient
from portal.services.billing.ledger import VisitBill
from portal.services.billing.money import parse_cents
from portal.services.errors import Refused

COLUMNS = ("patient", "visit", "date", "provider", "description", "billed", "insurance_paid", "patient_share")
MAX_LINES = 100_000
MAX_TEXT = 200


@dataclass(frozen=True)
class Problem:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


class StatementFileRefused(Exception):
    """The file was refused whole; `problems` names each line and what is wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:20]))
        self.problems = problems


def read_statement_file(session: Session, text: str) -> dict[int, list[VisitBill]]:
    """Every visit of the file, by patient row id; raises StatementFileRefused naming each bad line."""
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise StatementFileRefused([Problem(1, "the header must be: " + ",".join(COLUMNS))])
    parsed: list[tuple[int, str, VisitBill]] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if line > MAX_LINES:
                problems.append(Problem(line, f"more than {MAX_LINES} lines"))
                break
            if not any(cell.strip() for cell in row):
                continue
            found = _line(line, row, seen)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                parsed.append((line, *found))
    except csv.Error as error:
        problems.append(Problem(reader.line_num, f"not valid CSV ({error})"))
    fhir_ids = {patient for _, patient, _ in parsed}
    patients = {
        p.fhir_id: p.id
        for p in session.exec(select(Patient).where(col(Patient.fhir_id).in_(fhir_ids))).all()
        if p.id is not None
    }
    by_patient: dict[int, list[VisitBill]] = {}
    for line, patient, bill in parsed:
        if patient not in patients:
            problems.append(Problem(line, f"no patient with id {patient!r}"))
            continue
        by_patient.setdefault(patients[patient], []).append(bill)
    if problems:
        raise StatementFileRefused(sorted(problems, key=lambda p: p.line))
    return by_patient


def _line(line: int, row: list[str], seen: dict[str, int]) -> tuple[str, VisitBill] | Problem:
    if len(row) != len(COLUMNS):
        return Problem(line, f"{len(row)} fields, expected {len(COLUMNS)}")
    values = dict(zip(COLUMNS, (cell.strip() for cell in row), strict=True))
    for name in ("patient", "visit", "date"):
        if not values[name]:
            return Problem(line, f"{name} is empty")
    for name, value in values.items():
        if len(value) > MAX_TEXT:
            return Problem(line, f"{name} is longer than {MAX_TEXT} characters")
    try:
        served = date.fromisoformat(values["date"])
    except ValueError:
        return Problem(line, f"date {values['date']!r} is not YYYY-MM-DD")
    amounts: dict[str, int] = {}
    for name in ("billed", "insurance_paid", "patient_share"):
        try:
            amounts[name] = parse_cents(values[name])
        except Refused:
            return Problem(line, f"{name} {values[name]!r} is not an amount like 12.34")
    if amounts["insurance_paid"] > amounts["billed"] or amounts["patient_share"] > amounts["billed"]:
        return Problem(line, "insurance_paid and patient_share may not be more than billed")
    key = f"csv:{values['visit']}"
    if key in seen:
        return Problem(line, f"visit {values['visit']!r} is also on line {seen[key]}")
    seen[key] = line
    return values["patient"], VisitBill(
        source_key=key,
        service_date=served,
        provider=values["provider"],
        description=values["description"],
        billed_cents=amounts["billed"],
        insurance_paid_cents=amounts["insurance_paid"],
        patient_share_cents=amounts["patient_share"],
    )
