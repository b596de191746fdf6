"""Attachments: PDF, JPEG or PNG up to 5 MB, the type told by the bytes (never the name), images
re-encoded with Pillow so that what the camera wrote into them (GPS position, device, time) is gone."""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from portal.services.errors import Refused

MAX_FILES = 3
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a phone photo is ~12-50 MP; beyond this Pillow's bomb check refuses
# Magic numbers: the PDF header (ISO 32000-1 §7.5.2), JPEG SOI marker, PNG signature (RFC 2083 §3.1).
SIGNATURES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
EXTENSIONS = {media_type: extension for _, media_type, extension in SIGNATURES}


@dataclass(frozen=True)
class Upload:
    """A file as the form sent it: the name the sender's device gave it, and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class CleanFile:
    filename: str
    media_type: str
    content: bytes


def sniff(content: bytes) -> str | None:
    """The media type the bytes start with, among those the portal takes; None for anything else."""
    return next((media for magic, media, _ in SIGNATURES if content.startswith(magic)), None)


def display_name(filename: str, media_type: str) -> str:
    """The name shown and offered on download: no folders, no control characters, the right extension."""
    base = re.split(r"[\\/]", filename)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()[:150] or "file"
    extension = EXTENSIONS[media_type]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'file'}.{extension}"


def ascii_name(filename: str) -> str:
    """The name for Content-Disposition's plain `filename=`: letters, digits, dot, dash, underscore."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:150] or "file"


def _reencode(content: bytes, media_type: str) -> bytes:
    """The picture alone, drawn again: EXIF, XMP, ICC and text chunks are left behind."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as opened:
                opened.load()
                upright = ImageOps.exif_transpose(opened)  # keep the photo the right way up
                if upright.mode not in ("RGB", "RGBA", "L", "LA"):
                    upright = upright.convert("RGBA")
                fresh = Image.new(upright.mode, upright.size)
                fresh.paste(upright)  # pixels only: no info dict (EXIF, XMP, ICC, text) carries over
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        raise Refused("file_unreadable") from None
    except Image.DecompressionBombWarning:
        raise Refused("file_unreadable") from None
    out = io.BytesIO()
    if media_type == "image/jpeg":
        if fresh.mode not in ("RGB", "L"):
            fresh = fresh.convert("RGB")
        fresh.save(out, format="JPEG", quality=88)
    else:
        fresh.save(out, format="PNG", optimize=True)
    return out.getvalue()


def clean(upload: Upload) -> CleanFile:
    """The file as the portal keeps it; Refused "file_too_big", "file_type" or "file_unreadable"."""
    if len(upload.content) > MAX_BYTES:
        raise Refused("file_too_big")
    media_type = sniff(upload.content)
    if media_type is None:
        raise Refused("file_type")
    content = upload.content if media_type == "application/pdf" else _reencode(upload.content, media_type)
    return CleanFile(display_name(upload.filename, media_type), media_type, content)


def clean_all(uploads: list[Upload]) -> list[CleanFile]:
    """Every file of a message, checked before anything is stored."""
    if len(uploads) > MAX_FILES:
        raise Refused("too_many_files")
    return [clean(upload) for upload in uploads]
