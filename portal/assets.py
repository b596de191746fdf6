"""Static files served from memory under content-hashed names, gzip-compressed once, cached for a year.

app.css is a Jinja template rendered once at start-up with the clinic's accent colour, so the colour
costs no inline style (the CSP forbids it) and no extra request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import Response

from portal.config import Settings

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    name: str  # the logical name templates ask for: "app.css"
    hashed_name: str  # "app.3f2a9c1b0d.css"
    body: bytes
    gzipped: bytes
    media_type: str


class Assets:
    def __init__(self, settings: Settings) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed_name: dict[str, Asset] = {}
        for path in sorted(STATIC.iterdir()):
            if path.is_file() and not path.name.endswith((".map", ".md")):
                self._add(path.name, path.read_bytes())
        css = Environment(autoescape=False).from_string((STATIC / "app.css").read_text())
        accent = settings.accent
        self._add("app.css", css.render(accent=accent.color).encode())

    def _add(self, name: str, body: bytes) -> None:
        digest = hashlib.sha256(body).hexdigest()[:12]
        stem, dot, suffix = name.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        asset = Asset(name, hashed, body, gzip.compress(body, compresslevel=9, mtime=0), media_type)
        if name in self.by_name:
            del self.by_hashed_name[self.by_name[name].hashed_name]
        self.by_name[name] = asset
        self.by_hashed_name[hashed] = asset

    def url(self, name: str) -> str:
        return "/static/" + self.by_name[name].hashed_name

    def response(self, request: Request, hashed_name: str) -> Response | None:
        asset = self.by_hashed_name.get(hashed_name)
        if asset is None:
            return None
        headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{asset.hashed_name}"', "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
