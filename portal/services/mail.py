"""Mail: an outbox table in the caller's transaction, and what the worker (portal.worker) sends it with.

A message is queued with the change that causes it, so it goes out exactly when the change commits. The
worker (`portal worker`) sends over SMTP (`SMTP_URL`, e.g. smtp://user:pass@host:587, smtps:// for TLS);
without SMTP it writes each message to `data/outbox/` and logs "mail queued". Bodies never carry
patient data: "You have a new message in your portal", never the message. Once sent, a message's body
is dropped from the table: links and codes in it are not kept readable.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from portal import db
from portal.config import Settings
from portal.models import OutboxMail
from portal.models.base import utcnow

log = logging.getLogger("portal.mail")

MAX_ATTEMPTS = 5
SENT_BODY = "(sent; the text is not kept)"
BATCH = 50


def enqueue(session: Session, *, to: str, subject: str, body: str) -> OutboxMail:
    message = OutboxMail(to_address=to, subject=subject, body=body)
    session.add(message)
    session.flush()
    log.info("mail queued id=%s", message.id)
    return message


def _email(settings: Settings, row: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message.set_content(row.body)
    return message


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    url = urlsplit(settings.smtp_url)
    host = url.hostname or "localhost"
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=30, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, url.port or 25, timeout=30)
    with client:
        if url.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)


def _write_file(settings: Settings, row: OutboxMail, message: EmailMessage) -> None:
    folder = Path(settings.data_dir) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{row.id:08d}.eml").write_bytes(bytes(message))


CLAIM_SECONDS = 300  # far longer than one send (SMTP times out after 30 s)
RETRY_SECONDS = 60


def claim_next(engine: Engine) -> OutboxMail | None:
    """Claim the oldest message waiting, for this worker alone, in a short transaction of its own.

    On PostgreSQL the row is locked (FOR UPDATE SKIP LOCKED), so a second worker passes over it; on SQLite
    the transaction holds the write lock (BEGIN IMMEDIATE). Either way the claim's UPDATE is conditional, so
    a message is claimed once, and a worker that dies mid-send frees its claim when `claimed_until` passes.
    """
    now = utcnow()
    free = or_(col(OutboxMail.claimed_until).is_(None), col(OutboxMail.claimed_until) < now)
    with db.transaction(engine) as session:
        row = session.exec(
            select(OutboxMail)
            .where(col(OutboxMail.sent_at).is_(None), OutboxMail.attempts < MAX_ATTEMPTS, free)
            .order_by(col(OutboxMail.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        claimed = session.connection().execute(
            update(OutboxMail)
            .where(col(OutboxMail.id) == row.id, col(OutboxMail.sent_at).is_(None), free)
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        if claimed.rowcount != 1:
            return None
        session.expunge(row)
        return row


def send_pending(engine: Engine, settings: Settings) -> int:
    """Send what is waiting (at most BATCH); how many went. A message that fails is retried on later
    runs. Each message is claimed first, so two workers running at once never send the same one."""
    sent = 0
    for _ in range(BATCH):
        row = claim_next(engine)
        if row is None:
            break
        message = _email(settings, row)
        error: str | None = None
        try:
            if settings.smtp_url:
                _send_smtp(settings, message)
            else:
                _write_file(settings, row, message)
        except (OSError, smtplib.SMTPException) as exc:
            error = type(exc).__name__  # never the server's text: it can quote the address
        with db.transaction(engine) as session:
            stored = session.get(OutboxMail, row.id)
            assert stored is not None
            stored.attempts += 1
            stored.claimed_until = None
            if error is not None:  # not again this round: the next try waits a minute
                stored.claimed_until = utcnow() + timedelta(seconds=RETRY_SECONDS)
            if error is None:
                stored.sent_at = utcnow()
                # Enrolment and invitation links work until used: once the mail has gone, the outbox
                # keeps no readable copy of them (nor of any code) for a database reader to take.
                stored.body = SENT_BODY
                sent += 1
                log.info("mail sent id=%s via=%s", row.id, "smtp" if settings.smtp_url else "folder")
            else:
                stored.last_error = error
                log.warning("mail not sent id=%s error=%s", row.id, error)
    return sent
