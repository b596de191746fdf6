"""Refusals with codes: services say what went wrong as a code, views say it in the reader's words."""

from __future__ import annotations


class Refused(Exception):
    """An action refused for a reason the person can fix or should know; `code` names the reason.

    Views map codes to translated messages (never the exception's text, which is for logs and tests).
    """

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params
