"""The ledger: integer cents, the balance is the sum of the entries, imports are idempotent."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from portal.fhir.importer import import_paths
from portal.models import BilledVisit, LedgerEntry, Patient, Statement
from portal.services.billing import ledger
from portal.services.billing.imports import sync_claims
from portal.services.billing.ledger import VisitBill
from portal.services.billing.money import dollars, parse_cents
from tests.audit_helpers import run_cli
from tests.conftest import make_patient
from tests.fhir_bundles import write_bundle
from tests.scopes import operator_scope

SYNTHEA = Path(__file__).resolve().parents[1] / "data" / "fhir" / "synthea"


def entries_sum(session: Session, patient_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.patient_id == patient_id
        )
    ).one()
    return int(total)


def bill(key: str, billed: int, insurance: int, share: int, day: str = "2026-05-04") -> VisitBill:
    from datetime import date

    return VisitBill(key, date.fromisoformat(day), "Dr Ana Ruiz", "Office visit", billed, insurance, share)


# --------------------------------------------------------------------------------- the property test

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("charge"), st.integers(0, 5), st.integers(0, 50_000), st.integers(0, 50_000)),
        st.tuples(st.just("payment"), st.integers(1, 20_000)),
        st.tuples(st.just("refund"), st.integers(1, 20_000)),
        st.tuples(st.just("reimport")),
    ),
    max_size=25,
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_the_balance_is_always_the_sum_of_entries_and_what_the_bills_say(session, operations) -> None:
    patient = make_patient(session)
    scope = operator_scope(session, patient)
    bills: dict[str, VisitBill] = {}  # what each visit's source says now
    paid = refunded = 0

    for step, operation in enumerate(operations):
        kind = operation[0]
        if kind == "charge":
            _, visit, billed, share = operation
            share = min(share, billed)
            key = f"csv:{patient.fhir_id}-{visit}"
            bills[key] = bill(key, billed, billed - share, share)
            ledger.record_visit(session, scope, bills[key])
        elif kind == "payment":
            ledger.post(
                session, scope, kind="payment", amount_cents=-operation[1], entry_key=f"p{step}{patient.id}"
            )
            paid += operation[1]
        elif kind == "refund" and operation[1] <= paid - refunded:
            ledger.post(
                session, scope, kind="refund", amount_cents=operation[1], entry_key=f"r{step}{patient.id}"
            )
            refunded += operation[1]
        elif kind == "reimport":
            for again in bills.values():
                ledger.record_visit(session, scope, again)
        expected = sum(b.patient_share_cents for b in bills.values()) - paid + refunded

        assert ledger.balance(session, scope) == entries_sum(session, patient.id) == expected
    session.rollback()


def test_a_reimport_of_the_same_visit_adds_no_entry(session) -> None:
    scope = operator_scope(session, make_patient(session))
    ledger.record_visit(session, scope, bill("csv:V1", 18_000, 13_000, 5_000))
    count = session.exec(select(func.count()).select_from(LedgerEntry)).one()

    ledger.record_visit(session, scope, bill("csv:V1", 18_000, 13_000, 5_000))

    assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == count
    assert ledger.balance(session, scope) == 5_000


def test_a_changed_visit_gets_a_correcting_entry_not_a_rewrite(session) -> None:
    scope = operator_scope(session, make_patient(session))
    ledger.record_visit(session, scope, bill("csv:V1", 18_000, 13_000, 5_000))
    first = [e.amount_cents for e in session.exec(select(LedgerEntry).order_by(LedgerEntry.id))]

    ledger.record_visit(session, scope, bill("csv:V1", 18_000, 15_000, 3_000))

    now = [e.amount_cents for e in session.exec(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert now[: len(first)] == first and len(now) == len(first) + 1
    assert ledger.balance(session, scope) == 3_000


def test_each_month_with_activity_gets_one_statement_with_a_code(session) -> None:
    scope = operator_scope(session, make_patient(session))

    ledger.record_visit(session, scope, bill("csv:V1", 10_000, 0, 10_000))
    ledger.record_visit(session, scope, bill("csv:V2", 10_000, 0, 10_000))

    statements = session.exec(select(Statement).where(Statement.patient_id == scope.patient_id)).all()
    assert len(statements) == 1
    assert len(statements[0].code) == 11 and statements[0].code[5] == "-"


# ------------------------------------------------------------------------------------- money


def test_amounts_are_parsed_to_cents_and_nothing_else_is_an_amount() -> None:
    assert [parse_cents(t) for t in ("12", "12.5", "12.50", "$1,234.56", "0.01")] == [
        1200,
        1250,
        1250,
        123456,
        1,
    ]
    for bad in ("", "-5", "1.234", "abc", "1e3", "12,50.1.1", "99999999"):
        try:
            parse_cents(bad)
        except Exception as error:
            assert getattr(error, "code", None) == "bad_amount"
        else:
            raise AssertionError(f"{bad!r} was taken as an amount")
    assert dollars(123456) == "$1,234.56" and dollars(-500) == "-$5.00"


# ------------------------------------------------------------------------------- from the EHR's EOBs


def eob_bundle(copay: str = "20.00", coinsurance: str = "15.50") -> list[dict]:
    patient = {
        "resourceType": "Patient",
        "id": "bill-pat-1",
        "name": [{"given": ["Rosa"], "family": "Quispe"}],
        "birthDate": "2015-03-02",
    }
    encounter = {
        "resourceType": "Encounter",
        "id": "bill-enc-1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "urn:uuid:bill-pat-1"},
        "period": {"start": "2026-04-02T10:00:00Z"},
        "type": [{"text": "Check-up"}],
    }
    eob = {
        "resourceType": "ExplanationOfBenefit",
        "id": "bill-eob-1",
        "status": "active",
        "type": {"coding": [{"code": "professional"}]},
        "use": "claim",
        "outcome": "complete",
        "patient": {"reference": "urn:uuid:bill-pat-1"},
        "created": "2026-04-03T00:00:00Z",
        "insurer": {"display": "Acme Health"},
        "provider": {"display": "Dr Ana Ruiz"},
        "insurance": [{"focal": True, "coverage": {"display": "Acme Health"}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"text": "Office visit"},
                "servicedDate": "2026-04-02",
                "encounter": [{"reference": "urn:uuid:bill-enc-1"}],
                "adjudication": [
                    {
                        "category": {"coding": [{"code": "submitted"}]},
                        "amount": {"value": 200.00, "currency": "USD"},
                    },
                    {
                        "category": {"coding": [{"code": "copay"}]},
                        "amount": {"value": float(copay), "currency": "USD"},
                    },
                    {
                        "category": {"coding": [{"code": "coinsurance"}]},
                        "amount": {"value": float(coinsurance), "currency": "USD"},
                    },
                    {
                        "category": {"coding": [{"code": "benefit"}]},
                        "amount": {"value": 164.50, "currency": "USD"},
                    },
                ],
            }
        ],
    }
    return [patient, encounter, eob]


def test_the_patient_share_comes_from_the_adjudication_and_reimport_changes_nothing(
    app, session, tmp_path
) -> None:
    path = write_bundle(tmp_path / "claims.json", eob_bundle())
    assert import_paths(app.state.engine, [path]).failed == []
    assert sync_claims(session, _operator()) == 1
    session.commit()
    patient = session.exec(select(Patient).where(Patient.fhir_id == "bill-pat-1")).one()
    visit = session.exec(select(BilledVisit).where(BilledVisit.patient_id == patient.id)).one()
    count = session.exec(select(func.count()).select_from(LedgerEntry)).one()
    session.commit()  # end the read: SQLite lets one writer in at a time

    assert import_paths(app.state.engine, [path]).failed == []
    assert sync_claims(session, _operator()) == 0

    assert (visit.billed_cents, visit.insurance_paid_cents, visit.patient_share_cents) == (
        20_000,
        16_450,
        3_550,
    )
    assert visit.provider == "Dr Ana Ruiz" and str(visit.service_date) == "2026-04-02"
    assert entries_sum(session, patient.id) == 3_550
    assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == count


def _operator():
    from datetime import date

    from portal.models.base import utcnow
    from portal.provenance import Provenance
    from portal.services import access

    return access.Operator(date.today(), access.AgeRules(), utcnow(), Provenance(route="cli:test"))


def test_synthea_claims_become_bills_with_a_share_no_larger_than_billed(app, session, tmp_path) -> None:
    source = sorted(SYNTHEA.glob("*.json.gz"))[0]
    path = tmp_path / "synthea.json"
    with gzip.open(source) as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    eobs = sum(
        e["resource"]["resourceType"] == "ExplanationOfBenefit" for e in json.loads(path.read_text())["entry"]
    )
    assert import_paths(app.state.engine, [path]).failed == []

    sync_claims(session, _operator())
    session.commit()

    visits = session.exec(select(BilledVisit)).all()
    assert len(visits) == eobs
    assert all(0 <= v.patient_share_cents <= v.billed_cents for v in visits)
    assert sum(v.patient_share_cents for v in visits) == entries_sum(session, visits[0].patient_id) > 0
    assert sync_claims(session, _operator()) == 0


# ------------------------------------------------------------------------------------ CSV files

HEADER = "patient,visit,date,provider,description,billed,insurance_paid,patient_share\n"


def test_the_cli_imports_a_statement_file_and_again_changes_nothing(settings, session, tmp_path) -> None:
    patient = make_patient(session, fhir_id="csv-pat-1")
    path = tmp_path / "statement.csv"
    path.write_text(
        HEADER + "csv-pat-1,V-1,2026-05-04,Dr Ana Ruiz,Office visit,180.00,130.00,50.00\n"
        'csv-pat-1,V-2,2026-05-20,"Ruiz, Ana",Lab work,40,0,40\n'
    )

    first = run_cli(settings, "billing", "import", str(path))
    second = run_cli(settings, "billing", "import", str(path))

    assert first.exit_code == 0 and "2 visits imported" in first.output
    assert second.exit_code == 0
    session.expire_all()
    assert entries_sum(session, patient.id) == 9_000
    assert session.exec(select(func.count()).select_from(BilledVisit)).one() == 2


def test_a_bad_statement_file_is_refused_whole_naming_each_line(settings, session, tmp_path) -> None:
    make_patient(session, fhir_id="csv-pat-2")
    path = tmp_path / "statement.csv"
    path.write_text(
        HEADER + "csv-pat-2,V-1,2026-05-04,Dr Ruiz,Visit,180.00,130.00,50.00\n"
        "csv-pat-2,V-2,2026-13-01,Dr Ruiz,Visit,10,0,10\n"
        "csv-pat-2,V-3,2026-05-01,Dr Ruiz,Visit,10,0,20\n"
        "nobody,V-4,2026-05-01,Dr Ruiz,Visit,10,0,10\n"
        "csv-pat-2,V-1,2026-05-01,Dr Ruiz,Visit,ten,0,10\n"
    )

    result = run_cli(settings, "billing", "import", str(path))

    assert result.exit_code != 0
    for expected in (
        "line 3: date",
        "line 4: insurance_paid and patient_share",
        "line 5: no patient",
        "line 6: billed 'ten'",
    ):
        assert expected in result.output
    session.expire_all()
    assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == 0
    assert session.exec(select(func.count()).select_from(BilledVisit)).one() == 0


def test_a_file_with_the_wrong_header_is_refused(settings, tmp_path) -> None:
    path = tmp_path / "statement.csv"
    path.write_text("name,amount\nx,1\n")

    result = run_cli(settings, "billing", "import", str(path))

    assert result.exit_code != 0 and "line 1: the header must be" in result.output
