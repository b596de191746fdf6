"""Print FHIR import speed (resources per second) for the sample sets, each into a fresh SQLite database."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from portal import db
from portal.fhir import importer, reading
from portal.services import audit

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"
BUDGET_SECONDS = 10.0  # all 18 Synthea bundles
SETS = {
    "synthea bundles": SAMPLE_DATA / "synthea",
    "bulk NDJSON": SAMPLE_DATA / "uscore-bulk",
    "project sample": SAMPLE_DATA / "sample-infant.json",
}


def measure(name: str, folder: Path) -> float | None:
    if not folder.exists():
        print(f"{name:<16} skipped: {folder} is absent")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/bench.db")
        audit.use_chain_key(engine, "benchmark-secret-key-0123456789-abcdefghij")
        db.upgrade(engine)
        files = reading.collect_files([folder])
        started, cpu = time.perf_counter(), time.process_time()
        summary = importer.import_paths(engine, files)
        first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        importer.import_paths(engine, files)
        again = time.perf_counter() - started
        engine.dispose()
    count = sum(summary.total("resources").values())
    print(
        f"{name:<16} {len(files):>3} files {count:>6} resources  {first:6.2f} s ({first_cpu:5.2f} s CPU)  "
        f"{count / first:7.0f} resources/s  (again, unchanged: {again:5.2f} s)"
        + (f"  {len(summary.failed)} REFUSED" if summary.failed else "")
    )
    return first


def main() -> None:
    results = {name: measure(name, folder) for name, folder in SETS.items()}
    synthea = results["synthea bundles"]
    if synthea is not None:
        verdict = "within" if synthea <= BUDGET_SECONDS else "OVER"
        print(f"18 Synthea bundles: {synthea:.2f} s, {verdict} the {BUDGET_SECONDS:.0f} s budget")


if __name__ == "__main__":
    main()
