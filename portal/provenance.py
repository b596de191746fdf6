"""Where an action came from, as the audit log records it. A leaf module: anything may import it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provenance:
    """The route (or CLI command, or worker job) that acted, the client's address and the request id."""

    route: str | None = None
    client_address: str | None = None
    request_id: str | None = None


NOWHERE = Provenance()
