"""Scan retention on the server: scans older than ``[presence] scan_retention_days`` are deleted
and each run that deleted any is reported in the audit log by count (issue 19; docs/tracing.md).

Deletion runs in batches of :data:`BATCH`, one short transaction each, so sync uploads on the
single write path never wait behind one long delete.
"""

from __future__ import annotations

import logging

from server.config import PresenceConfig
from server.storage.audit import AuditLog
from server.storage.database import Database
from server.storage.presence import PresenceStore
from shared.clock import Clock, to_unix

log = logging.getLogger(__name__)

BATCH = 20_000
"""Scans deleted per transaction."""


async def purge_old_scans(db: Database, clock: Clock, config: PresenceConfig, *, batch: int = BATCH) -> int:
    """Delete every scan older than the retention period; returns how many.

    One audit entry (``scan_retention``, actor ``system``, detail: count and the cut-off in Unix
    ms) is written with the last batch when anything was deleted.

    Raises:
        StorageError: the database cannot be written (batches already committed stay deleted;
            the next run continues).
    """
    now_s = to_unix(clock.now())
    before_ms = (now_s - config.scan_retention_days * 86_400) * 1000
    total = 0
    while True:
        async with db.transaction() as conn:
            n = await PresenceStore.delete_scans_before(conn, before_ms, batch)
            total += n
            if n < batch and total:
                await AuditLog.add(conn, at_s=now_s, actor_id=None, actor_number="system", action="scan_retention",
                                   detail={"deleted": total, "before_ms": before_ms,
                                           "retention_days": config.scan_retention_days})
        if n < batch:
            break
    if total:
        log.info("scan retention: deleted %d scans older than %d days", total, config.scan_retention_days)
    return total
