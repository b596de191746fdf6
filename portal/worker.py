"""The worker: sends queued mail and runs queued batch jobs, in its own process (`portal worker`) or in a
thread beside the demo's web server (`portal demo`).

Each round links waiting audit events into the chain, sends what the outbox holds, then runs the print
jobs (a day's visit summaries in one PDF).
All state is in the database, so the worker and any number of web processes share nothing else.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine

from portal.commands import open_engine
from portal.config import Settings
from portal.services import audit, mail, printing
from portal.services.billing import plans as billing_plans
from portal.services.due import reminders
from portal.services.messaging import notices
from portal.services.registration import offers as checkin_offers
from portal.services.scheduling.rounds import run_scheduling_round

log = logging.getLogger("portal.worker")


def run_round(engine: Engine, settings: Settings) -> None:
    """One round: link the audit events that wait; queue appointment reminders and wait-list offers,
    "something is due" reminders, check-in offers and message notices; send the mail; then run the queued
    print jobs."""
    audit.sequence_pending(engine, key=audit.engine_key(engine))
    audit.ensure_partitions(engine)  # PostgreSQL: next month's audit partition exists before it begins
    run_scheduling_round(engine, settings)
    reminders.send_due_reminders(engine, settings)  # queued before sending, so they go this round
    checkin_offers.send_checkin_offers(engine, settings)
    notices.run_notices(engine, settings)  # message notices and pool digests, into the outbox
    mail.send_pending(engine, settings)
    printing.run_print_jobs(engine, settings)
    billing_plans.worker_round(engine, settings)


def run_rounds(engine: Engine, settings: Settings, *, once: bool = False, interval: float = 5.0) -> None:
    """Round after round, `interval` seconds apart (a single round when `once`)."""
    while True:
        run_round(engine, settings)
        if once:
            return
        time.sleep(interval)


def run_worker(settings: Settings, *, once: bool, interval: float) -> None:
    """The worker's loop on its own engine (able to write audit events), the schema brought up to date."""
    with open_engine(settings, upgrade=True) as engine:
        run_rounds(engine, settings, once=once, interval=interval)


def keep_worker_running(settings: Settings, *, interval: float = 2.0) -> None:
    """The demo's worker, in a background thread: a round that fails is logged and the loop starts again."""
    while True:
        try:
            run_worker(settings, once=False, interval=interval)
            return
        except Exception as error:  # the demo must keep sending mail; the name only, never the data
            log.error("worker stopped (%s); starting again", type(error).__name__)
            time.sleep(interval)
