"""The audit log: one event for every look at or change of patient data, in a keyed hash chain.

The package is cut along its seams:

- `writing`: `record`, the one call every service makes, in the caller's transaction, lock-free;
- `chain`: the key, the canonical form, the seal and the link, and the sequencer that links waiting events
  outside the request path (its module docstring gives the order rule);
- `verify` and `retention`: checking the chain, and purging its oldest part behind a checkpoint;
- `partitions`: on PostgreSQL, the table's monthly partitions, made ahead by the worker, dropped by retention;
- `search`, `screen` and `viewed`: the admin's search and CSV export, and "Who has viewed my record".

The names below are the package's public surface: `from portal.services import audit; audit.record(...)`.
"""

from __future__ import annotations

from portal.services.audit.chain import (
    AuditKeyMissing,
    chain_key,
    engine_key,
    sequence_pending,
    use_chain_key,
    utc_iso,
)
from portal.services.audit.partitions import ensure_partitions
from portal.services.audit.retention import (
    LEGAL_MINIMUM_MONTHS,
    Purge,
    RetentionTooShort,
    purge,
    retain,
    retention_cutoff,
    retention_start,
)
from portal.services.audit.screen import (
    EXPORT_LIMIT,
    Download,
    Filters,
    Screen,
    screen_export,
    screen_search,
)
from portal.services.audit.search import (
    CSV_COLUMNS,
    AuditPage,
    AuditRow,
    csv_cell,
    export_csv,
    export_csv_in_chunks,
    search,
)
from portal.services.audit.verify import Verification, verify
from portal.services.audit.viewed import Viewing, ViewingPage, who_viewed, who_viewed_page
from portal.services.audit.writing import ACCESS_ACTIONS, ACTIONS, OUTCOMES, append, record

__all__ = [
    "ACCESS_ACTIONS",
    "ACTIONS",
    "CSV_COLUMNS",
    "EXPORT_LIMIT",
    "LEGAL_MINIMUM_MONTHS",
    "OUTCOMES",
    "AuditKeyMissing",
    "AuditPage",
    "AuditRow",
    "Download",
    "Filters",
    "Purge",
    "RetentionTooShort",
    "Screen",
    "Verification",
    "Viewing",
    "ViewingPage",
    "append",
    "chain_key",
    "csv_cell",
    "engine_key",
    "ensure_partitions",
    "export_csv",
    "export_csv_in_chunks",
    "purge",
    "record",
    "retain",
    "retention_cutoff",
    "retention_start",
    "screen_export",
    "screen_search",
    "search",
    "sequence_pending",
    "use_chain_key",
    "utc_iso",
    "verify",
    "who_viewed",
    "who_viewed_page",
]
