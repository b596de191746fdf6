"""A message's text as HTML: every character escaped, line breaks kept, web links made into safe links.

Nothing else is interpreted: `<script>`, `hx-get` and `javascript:` stay text, because only http(s)
addresses become links and every other character goes through Markup's escaping.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# An http(s) address up to the next space or angle bracket; trailing punctuation stays outside the link.
LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}"


def as_html(body: str) -> Markup:
    """The body as safe HTML."""
    parts: list[str] = []
    position = 0
    for match in LINK.finditer(body):
        address = match.group(0)
        stripped = address.rstrip(TRAILING)
        end = match.start() + len(stripped)
        parts.append(str(escape(body[position : match.start()])))
        href = escape(stripped)
        parts.append(f'<a href="{href}" rel="noopener noreferrer nofollow" target="_blank">{href}</a>')
        position = end
    parts.append(str(escape(body[position:])))
    return Markup("<br>\n".join("".join(parts).splitlines()))
