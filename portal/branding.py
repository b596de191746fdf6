"""The clinic's look: name, logo and an accent colour whose contrast is checked rather than trusted."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

# WCAG 2.2 AA for normal text; the accent is used for links on white and as a button behind white text.
MIN_CONTRAST = 4.5
WHITE = (255, 255, 255)

DEFAULT_LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" '
    'aria-hidden="true" focusable="false"><rect width="32" height="32" rx="7" fill="currentColor"/>'
    '<path d="M13 7h6v6h6v6h-6v6h-6v-6H7v-6h6z" fill="#fff"/></svg>'
)

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_UNSAFE_SVG = re.compile(r"<script|\son\w+\s*=|javascript:|<foreignObject|href\s*=\s*[\"']?(?!#)", re.I)


class Accent(NamedTuple):
    color: str  # the colour actually used, "#rrggbb"
    configured: str
    contrast: float  # against white
    adjusted: bool  # True when the configured colour was too light and was darkened


def parse_hex(value: str) -> tuple[int, int, int]:
    match = _HEX.match(value.strip())
    if not match:
        raise ValueError(f"accent colour {value!r} is not a hex colour like #1d6b57")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@lru_cache(maxsize=16)
def accessible_accent(configured: str) -> Accent:
    """The configured accent, darkened step by step until white text on it (and it on white) passes AA."""
    rgb = parse_hex(configured)
    adjusted = False
    while contrast_ratio(rgb, WHITE) < MIN_CONTRAST:
        rgb = (int(rgb[0] * 0.9), int(rgb[1] * 0.9), int(rgb[2] * 0.9))
        adjusted = True
    color = "#{:02x}{:02x}{:02x}".format(*rgb)
    return Accent(color, configured, round(contrast_ratio(rgb, WHITE), 2), adjusted)


def load_logo(path: Path) -> str:
    """A clinic logo is inline SVG; refuse one that carries script, event handlers or outside links."""
    text = path.read_text(encoding="utf-8")
    if "<svg" not in text or _UNSAFE_SVG.search(text):
        raise ValueError(f"{path} is not a plain SVG logo (no script, event handlers or external links)")
    if len(text) > 8192:
        raise ValueError(
            f"{path} is larger than 8 KB: a logo must stay small enough for the first round trip"
        )
    return text.strip()
