"""Print how long summaries take to print, in wall-clock and CPU time: one visit summary (warm), the
largest health summary (warm) and a 30-visit day in one PDF.

The demo's sample patients (data/fhir: the infant and the Synthea bundles) are imported into a temporary
SQLite database; the day is 30 visits chosen across the patients (the newest visit of each, then the next
newest), printed the way `portal print day` prints: data, activation codes and audit events, then one PDF.
The health summary is the one a patient downloads (the record with the most results): its data is read
once, then laid out five times. CPU time is this process's (time.process_time): on a shared machine it
varies less than wall-clock time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col, func

from portal import db
from portal.config import Settings
from portal.fhir import importer
from portal.models import Encounter, Observation, Patient
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access, audit, printing
from portal.templating import make_templates

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "data" / "fhir" / "sample-infant.json", ROOT / "data" / "fhir" / "synthea"]
SECRET = "benchmark-secret-key-0123456789-abcdefghij"
SUMMARY_BUDGET = 0.5
DAY_BUDGET = 15.0
DAY_SIZE = 30


def pick_visits(engine: object) -> list[tuple[Patient, str]]:
    """30 visits, spread over the patients: each one's newest visit first, then their next, and so on."""
    with db.transaction(engine) as session:  # type: ignore[arg-type]
        rows = session.execute(
            select(Encounter.public_id, Encounter.patient_id, Patient)
            .join(Patient, col(Patient.id) == col(Encounter.patient_id))
            .order_by(col(Encounter.start_at).desc())
        ).all()
    by_patient: dict[int, list[tuple[Patient, str]]] = {}
    for public_id, patient_id, patient in rows:
        by_patient.setdefault(patient_id, []).append((patient, public_id))
    picked: list[tuple[Patient, str]] = []
    round_ = 0
    while len(picked) < DAY_SIZE and any(len(v) > round_ for v in by_patient.values()):
        picked += [visits[round_] for visits in by_patient.values() if len(visits) > round_]
        round_ += 1
    return picked[:DAY_SIZE]


def print_visits(engine: object, settings: Settings, env: object, visits: list[tuple[Patient, str]]) -> bytes:
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:bench_pdf_speed"))
    with db.transaction(engine) as session:  # type: ignore[arg-type]
        summaries = [
            access.read_as_operator(
                session,
                operator,
                patient,
                access.Look(access.Area.DOCUMENTS, "Encounter", public_id, action="print"),
                printing.print_visit,
                settings,
                public_id,
            )
            for patient, public_id in visits
        ]
    return printing.render_pdf(env, settings, [s for s in summaries if s is not None])  # type: ignore[arg-type]


def largest_record(engine: object, settings: Settings) -> printing.RecordSummary:
    """The health summary of the patient with the most observations, read as an operator would."""
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:bench_pdf_speed"))
    with db.transaction(engine) as session:  # type: ignore[arg-type]
        patient = session.execute(
            select(Patient)
            .join(Observation, col(Observation.patient_id) == col(Patient.id))
            .group_by(col(Patient.id))
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        look = access.Look(access.Area.DOCUMENTS, "RecordSummary", action="print")
        summary = access.read_as_operator(session, operator, patient, look, printing.record_summary, settings)
    assert summary is not None
    return summary


def timed(work: object) -> tuple[float, float, bytes]:
    """Wall-clock seconds, CPU seconds and the PDF of one call."""
    started, cpu_started = time.perf_counter(), time.process_time()
    pdf = work()  # type: ignore[operator]
    return time.perf_counter() - started, time.process_time() - cpu_started, pdf


def main() -> None:
    sources = [path for path in SOURCES if path.exists()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(secret_key=SECRET, database_url=f"sqlite:///{tmp}/bench.db", data_dir=Path(tmp))  # type: ignore[arg-type]
        engine = db.make_engine(settings.database_url)
        audit.use_chain_key(engine, SECRET)
        db.upgrade(engine)
        importer.import_paths(engine, sources)
        env = make_templates().env
        visits = pick_visits(engine)
        print_visits(engine, settings, env, visits[:1])  # warm: fonts, templates, caches
        singles = [
            timed(lambda visit=visit: print_visits(engine, settings, env, [visit])) for visit in visits[:5]
        ]
        record = largest_record(engine, settings)
        records = [timed(lambda: printing.render_pdf(env, settings, [record])) for _ in range(5)]  # type: ignore[arg-type]
        day_seconds, day_cpu, day = timed(lambda: print_visits(engine, settings, env, visits))
        engine.dispose()
    single = statistics.median(wall for wall, _, _ in singles)
    single_cpu = statistics.median(cpu for _, cpu, _ in singles)
    print(
        f"visit summary (warm, median of {len(singles)}): {single:.3f} s, CPU {single_cpu * 1000:.0f} ms, "
        f"{len(singles[-1][2]) / 1024:.0f} KB  {'within' if single <= SUMMARY_BUDGET else 'OVER'} the "
        f"{SUMMARY_BUDGET} s budget"
    )
    record_wall = statistics.median(wall for wall, _, _ in records)
    record_cpu = statistics.median(cpu for _, cpu, _ in records)
    print(
        f"health summary, largest record (warm, median of {len(records)}): {record_wall:.3f} s, "
        f"CPU {record_cpu * 1000:.0f} ms, {len(records[-1][2]) / 1024:.0f} KB"
    )
    print(
        f"day of {len(visits)} visits in one PDF: {day_seconds:.2f} s, CPU {day_cpu:.2f} s, "
        f"{len(day) / 1024:.0f} KB  {'within' if day_seconds <= DAY_BUDGET else 'OVER'} the "
        f"{DAY_BUDGET:.0f} s budget"
    )


if __name__ == "__main__":
    main()
