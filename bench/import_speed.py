"""Print FHIR import speed (resources per second) for the sample sets, each into an empty database.

SQLite by default (a fresh file per set); `--database-url` (or PORTAL_TEST_DATABASE_URL, which
tests/with_postgres.sh sets) measures PostgreSQL instead, EMPTYING that database before each set.
`--profile N` prints the N costliest functions of the Synthea import (cProfile, cumulative time).

Each set is imported with the default number of jobs (worker processes, one per core; `--jobs` to choose)
and then with one job (the serial import, in this process), each into an empty database. Each line prints
the wall-clock time, the CPU time of this process and of the workers it started (not of a PostgreSQL
server), and resources per second of each: wall clock is what an operator waits; CPU is the work, steadier
on a shared machine. Each process that validates builds the fhir.resources models it uses (about half a
second of CPU, as in `portal import-fhir`): the parallel import is measured first, so that for the first
set both it and the serial import pay that cost; `--warm` validates the sample resources once before
timing anything, to measure the import without it (the workers then inherit the models).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from portal import db
from portal.fhir import parallel, reading
from portal.services import audit

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"
BUDGET_SECONDS = 10.0  # all 18 Synthea bundles
TARGET_SET_AT = 3260  # resources/s that fhir.resources read and validated when the 2,000/s target was set
SETS = {
    "synthea bundles": SAMPLE_DATA / "synthea",
    "bulk NDJSON": SAMPLE_DATA / "uscore-bulk",
    "project sample": SAMPLE_DATA / "sample-infant.json",
}


@contextmanager
def empty_database(database_url: str | None) -> Iterator[Engine]:
    """A migrated, empty database: a new SQLite file, or the PostgreSQL database emptied."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(database_url or f"sqlite:///{tmp}/bench.db")
        if database_url:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        audit.use_chain_key(engine, "benchmark-secret-key-0123456789-abcdefghij")
        db.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def cpu_time() -> float:
    """CPU seconds of this process and of the worker processes it has started and waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(
    name: str, folder: Path, database_url: str | None, profile: int, jobs: int
) -> tuple[float, int] | None:
    """Import the set with `jobs` jobs, then with one; the first one's wall-clock seconds, and resources."""
    if not folder.exists():
        print(f"{name:<16} skipped: {folder} is absent")
        return None
    walls = [measure_jobs(name, folder, database_url, profile, each) for each in dict.fromkeys((jobs, 1))]
    return walls[0]


def measure_jobs(
    name: str, folder: Path, database_url: str | None, profile: int, jobs: int
) -> tuple[float, int]:
    profiler = cProfile.Profile() if profile and jobs == 1 else None  # it sees this process only
    with empty_database(database_url) as engine:
        files = reading.collect_files([folder])
        started, cpu = time.perf_counter(), cpu_time()
        if profiler:
            profiler.enable()
        summary = parallel.import_paths(engine, files, jobs=jobs)
        if profiler:
            profiler.disable()
        first, first_cpu = time.perf_counter() - started, cpu_time() - cpu
        started, cpu = time.perf_counter(), cpu_time()
        parallel.import_paths(engine, files, jobs=jobs)
        again, again_cpu = time.perf_counter() - started, cpu_time() - cpu
    count = sum(summary.total("resources").values())
    print(
        f"{name:<16} {len(files):>3} files {count:>6} resources  {jobs} job{'s' if jobs > 1 else ' '}  "
        f"{first:6.2f} s {count / first:6.0f}/s wall  {first_cpu:5.2f} s {count / first_cpu:6.0f}/s CPU  "
        f"(again, unchanged: {again:5.2f} s wall, {again_cpu:5.2f} s CPU)"
        + (f"  {len(summary.failed)} REFUSED" if summary.failed else "")
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    return first, count


def warm_up() -> None:
    """Validate every sample resource once, so that the fhir.resources models are built."""
    for folder in SETS.values():
        if folder.exists():
            for path in reading.collect_files([folder]):
                for entry in reading.read_entries(path):
                    reading.parse(entry)


def validation_alone(folder: Path) -> float:
    """Resources per second that reading and validating alone reach in this process, models built (the
    second of two passes): what the import's speed is compared with, as the machine's own speed moves."""
    files = reading.collect_files([folder])
    for _ in range(2):
        started, count = time.process_time(), 0
        for path in files:
            for entry in reading.read_entries(path):
                reading.parse(entry)
                count += 1
        seconds = time.process_time() - started
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PORTAL_TEST_DATABASE_URL"),
        help="a PostgreSQL database to measure on; it is EMPTIED (default: a new SQLite file per set)",
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N top costs")
    parser.add_argument("--only", choices=sorted(SETS), help="measure one set")
    parser.add_argument(
        "--jobs",
        type=int,
        default=parallel.default_jobs(),
        help="worker processes for the first import of each set (default: %(default)s, one per core)",
    )
    parser.add_argument(
        "--warm", action="store_true", help="build the fhir.resources models before timing anything"
    )
    args = parser.parse_args()
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"FHIR import on {database}" + (" (models built before timing)" if args.warm else ""))
    if args.warm:
        warm_up()
    results = {
        name: measure(
            name, folder, args.database_url, args.profile if name == "synthea bundles" else 0, args.jobs
        )
        for name, folder in SETS.items()
        if args.only in (None, name)
    }
    measured = results.get("synthea bundles")
    if measured is not None:
        synthea, count = measured
        verdict = "within" if synthea <= BUDGET_SECONDS else "OVER"
        print(
            f"18 Synthea bundles, {args.jobs} jobs: {synthea:.2f} s,"
            f" {verdict} the {BUDGET_SECONDS:.0f} s budget"
        )
        alone = validation_alone(SETS["synthea bundles"])
        rate = count / synthea
        print(
            f"fhir.resources alone (read and validate, one process, CPU): {alone:.0f}/s; the import with"
            f" {args.jobs} jobs: {rate:.0f}/s wall, {rate / alone:.2f} of it (the target, 2,000/s, was set"
            f" when validation alone ran at {TARGET_SET_AT:,}/s: {2000 / TARGET_SET_AT:.2f} of it)"
        )


if __name__ == "__main__":
    main()
