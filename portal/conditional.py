"""Conditional GET for pages that hold no patient data: the browser keeps a copy and revalidates it.

Pages that can show patient data are never stored (`no-store`, set by SecurityHeaders); only a view
that knows its page is public calls `revalidated()`. The ETag is a hash of the rendered body, so a page
in another language, or with another CSRF token, is simply a different page.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

REVALIDATE = "private, no-cache"


def revalidated(request: Request, response: Response) -> Response:
    """`response` with an ETag, or an empty 304 when the browser's copy is still the same."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    digest = '"' + hashlib.sha256(response.body).hexdigest()[:32] + '"'
    response.headers["ETag"] = "W/" + digest  # weak: the same page is sent gzip-compressed or not
    response.headers["Cache-Control"] = REVALIDATE
    sent = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if digest not in sent:
        return response
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return Response(status_code=304, headers=headers)
