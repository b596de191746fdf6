"""The demo's mailbox: the newest mail the worker wrote to the outbox folder, readable without signing in.

It exists only in demo mode (`create_app` adds the route when `settings.demo` is on), so a newcomer can
follow an enrolment or invitation link without a mail server. Mail never carries patient data by design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.templating import render

PATH = "/demo/mail"
NEWEST = 20  # the mail shown, newest first
LINK = re.compile(r"(https?://\S+)")


@dataclass(frozen=True)
class Mail:
    name: str  # the outbox file, numbered in the order the mail was queued
    to: str
    subject: str
    parts: list[tuple[str, bool]]  # the body's text, split into (text, is a link)


def read_mail(path: Path) -> Mail:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    parts = [(piece, index % 2 == 1) for index, piece in enumerate(LINK.split(text)) if piece]
    return Mail(path.name, str(message["To"] or ""), str(message["Subject"] or ""), parts)


def newest_mail(outbox: Path, limit: int = NEWEST) -> list[Mail]:
    files = sorted(outbox.glob("*.eml"), reverse=True)[:limit] if outbox.is_dir() else []
    return [read_mail(path) for path in files]


async def demo_mail(request: Request) -> Response:
    settings = request.app.state.settings
    outbox = Path(settings.data_dir) / "outbox"
    mails = await run_in_threadpool(newest_mail, outbox)
    context = {"mails": mails, "smtp": bool(settings.smtp_url), "newest": NEWEST}
    return render(request, "demo/mail.html", context)


routes = [Route(PATH, demo_mail, name="demo_mail")]
