"""Insurance card photos: JPEG, PNG or HEIC (phones) in, a JPEG without metadata out.

The file's own bytes decide what it is (Pillow opens it, or it is refused): a PDF renamed ".jpg" is not a
photo. Re-encoding from the pixels drops EXIF (place, time, device) and anything hidden after the image.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from portal.services.errors import Refused

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo: more than any phone camera, less than a decompression bomb
LONGEST_SIDE = 2000  # enough to read a card; keeps the stored photo small
ACCEPTED = frozenset({"JPEG", "PNG", "HEIF"})


def _open_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # without pillow-heif, HEIC photos are refused like any other unknown file
        return
    register_heif_opener()


def reencode(data: bytes) -> bytes:
    """The photo as a fresh JPEG without metadata; refuses (code) a file too large or not a photo."""
    if len(data) > MAX_BYTES:
        raise Refused("photo_too_large", field="photo")
    if not data:
        raise Refused("photo_missing", field="photo")
    _open_heif()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED:
                raise Refused("not_a_photo", field="photo")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Refused("photo_too_large", field="photo")
            image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = upright.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Refused("not_a_photo", field="photo") from None
    pixels.thumbnail((LONGEST_SIDE, LONGEST_SIDE))
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=85, optimize=True)  # no exif=, so none is written
    return out.getvalue()
