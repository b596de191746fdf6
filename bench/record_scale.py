"""Print what a record page costs for an ordinary record and for one fifty times larger.

The largest Synthea bundle (by resources) is imported as it is, the ordinary record; then COPIES copies of
it are imported with every id made new except the patient's and their dates moved back 13 days a copy,
so one patient gets COPIES times its results, reports and visits, on other days: the large record. Both
patients get an account and a session, and the app answers in this process (no network): each page is
asked for REPEAT times after a warm-up, and the fastest time is printed for both records side by side,
with the ratio. The target: no page of the large record costs more than 1.5 times the same page of the
ordinary one ("a page's cost does not grow with the size of the record"). Pages: the summary, the results
list (first and last page), the visits list (first and last page) and the newest visit's page.

    PYTHONPATH=. .venv/bin/python bench/record_scale.py [--copies 50] [--repeat 40] [--database URL]

A --database URL (PostgreSQL) is EMPTIED; by default a fresh SQLite file in a temporary folder is used.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from portal import demo  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.cli import open_engine  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.fhir import dates, importer  # noqa: E402
from portal.models.people import Patient, Person  # noqa: E402
from portal.security import sessions  # noqa: E402

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
ORIGIN = "https://localhost:8000"
TARGET_RATIO = 1.5


def read(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()


def synthea_folder() -> Path:
    for folder in (demo.PROJECT_FHIR / "synthea", Path("/work/shared/fhir/synthea")):
        if folder.is_dir():
            return folder
    raise SystemExit("the Synthea bundles are not here (../shared/fhir/synthea)")


def largest_bundle() -> Path:
    return max(synthea_folder().glob("*.json*"), key=lambda path: len(json.loads(read(path))["entry"]))


def copies_of(bundle_path: Path, copies: int, folder: Path) -> tuple[str, list[Path]]:
    """The bundle under a new patient id, and COPIES files of it with every other id new in each."""
    bundle = json.loads(read(bundle_path))
    patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    shared = {  # people, places and organisations stay one each, as in a real record
        e["resource"]["id"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in {"Patient", "Practitioner", "Organization", "Location"}
    }
    ids = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["id"] not in shared]
    source = read(bundle_path)
    new_patient = str(uuid.uuid4())
    paths = []
    for number in range(copies):
        copied = source.replace(patient, new_patient)
        for old in ids:
            copied = copied.replace(old, str(uuid.uuid4()))
        # Each copy 13 days earlier than the one before: a larger record has more days, not fuller ones.
        moved = json.loads(copied)
        for entry in moved["entry"]:
            if entry["resource"]["resourceType"] != "Patient":
                entry["resource"] = dates.shift(entry["resource"], -13 * (number + 1))
        path = folder / f"copy-{number:03}.json"
        path.write_text(json.dumps(moved))
        paths.append(path)
    return new_patient, paths


def empty_postgres(url: str) -> None:
    from portal import db

    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare(settings: Settings, bundle: Path, copies: int, folder: Path) -> dict[str, str]:
    """Import both records and give each patient an account; return {label: patient FHIR id}."""
    large_id, large_paths = copies_of(bundle, copies, folder)
    original = json.loads(read(bundle))
    ordinary_id = next(
        e["resource"]["id"] for e in original["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    started = time.perf_counter()
    with open_engine(settings, upgrade=True) as engine:
        importer.import_paths(engine, [bundle, *large_paths])
        print(f"imported {1 + copies} bundles in {time.perf_counter() - started:.0f} s")
        with Session(engine) as session, session.begin():
            for label, fhir_id in (("ordinary", ordinary_id), (f"{copies}x", large_id)):
                patient = session.exec(select(Patient).where(col(Patient.fhir_id) == fhir_id)).one()
                person = Person(display_name=f"Benchmark {label}")
                session.add(person)
                session.flush()
                patient.person_id = person.id
        engine.dispose()
    return {"ordinary": ordinary_id, f"{copies}x": large_id}


def sign_in(settings: Settings, records: dict[str, str]) -> dict[str, tuple[str, str]]:
    """A fresh session for each record's patient: {label: (patient public id, signed cookie)}."""
    found = {}
    with open_engine(settings, upgrade=True) as engine, Session(engine) as session, session.begin():
        for label, fhir_id in records.items():
            patient = session.exec(select(Patient).where(col(Patient.fhir_id) == fhir_id)).one()
            login = sessions.open_session(
                session, person_id=patient.person_id or 0, method="test", settings=settings
            )
            found[label] = (patient.public_id, sessions.sign(settings, login.id))
    return found


def last_page(client: TestClient, path: str) -> int:
    """The first page with no "older" link (pages before it all have one): doubling, then halving."""

    def has_next(number: int) -> bool:
        return f"?page={number + 1}" in client.get(f"{path}?page={number}").text

    high = 1
    while has_next(high):
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        middle = (low + high) // 2
        if has_next(middle):
            low = middle + 1
        else:
            high = middle
    return low


def timed(client: TestClient, path: str, repeat: int) -> float:
    for _ in range(3):
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    return min(times)  # the page's own work: on a shared machine the median measures the neighbours


def pages_of(client: TestClient, patient: str) -> dict[str, str]:
    base = f"/p/{patient}"
    visits = client.get(f"{base}/visits").text
    newest_visit = re.search(rf'href="({base}/visits/[^"?]+)"', visits)
    pages = {
        "summary": f"{base}/summary",
        "results, first page": f"{base}/results",
        "results, last page": f"{base}/results?page={last_page(client, f'{base}/results')}",
        "visits, first page": f"{base}/visits",
        "visits, last page": f"{base}/visits?page={last_page(client, f'{base}/visits')}",
    }
    if newest_visit:
        pages["newest visit"] = newest_visit.group(1)
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--database", help="a PostgreSQL URL: EMPTIED")
    parser.add_argument("--keep", type=Path, help="keep the SQLite database in this folder, and reuse it")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="portal-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        database = args.database or f"sqlite:///{folder / 'portal.db'}"
        reuse = args.keep is not None and (folder / "records.json").exists()
        if args.database:
            empty_postgres(args.database)
        settings = Settings.from_env(
            {
                "PORTAL_DATA_DIR": str(folder),
                "DATABASE_URL": database,
                "SECRET_KEY": SECRET,
                "PORTAL_ORIGIN": ORIGIN,
            }
        )
        bundle = largest_bundle()
        print(f"{bundle.name}: {len(json.loads(read(bundle))['entry'])} resources, {args.copies} copies")
        if reuse:
            records = json.loads((folder / "records.json").read_text())
        else:
            records = prepare(settings, bundle, args.copies, folder)
            (folder / "records.json").write_text(json.dumps(records))
        signed_in = sign_in(settings, records)
        cookie = sessions.cookie_name(settings)
        figures: dict[str, dict[str, float]] = {}
        with TestClient(create_app(settings), base_url=ORIGIN) as client:
            for label, (patient, token) in signed_in.items():
                client.cookies.set(cookie, token)
                figures[label] = {
                    name: timed(client, path, args.repeat) for name, path in pages_of(client, patient).items()
                }
                print(
                    f"{label}: "
                    + ", ".join(
                        f"{name} {path}"
                        for name, path in pages_of(client, patient).items()
                        if "page=" in path
                    )
                )
        ordinary, large = figures.values()
        print(f"\n{'fastest ms':<22}{'ordinary':>10}{f'{args.copies}x':>10}{'ratio':>8}")
        worst = 0.0
        for name in ordinary:
            ratio = large.get(name, float("nan")) / ordinary[name]
            worst = max(worst, ratio)
            print(f"{name:<22}{ordinary[name]:>10.1f}{large.get(name, float('nan')):>10.1f}{ratio:>8.2f}")
        verdict = "within" if worst <= TARGET_RATIO else "over"
        print(f"worst ratio {worst:.2f} ({verdict} the {TARGET_RATIO} target), {database.split(':')[0]}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
