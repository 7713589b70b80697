"""Scan retention: scans older than the retention period are deleted and reported by count in
the audit log; tracing never reaches back beyond what is kept."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.presence.retention import purge_old_scans
from server.storage.audit import AuditLog
from server.storage.scans import ScanLog
from server.web import state

from .conftest import login_as


async def test_old_scans_are_deleted_in_batches_and_counted_in_the_audit_log(client: TestClient, campus) -> None:  # type: ignore[no-untyped-def]
    c = campus()
    await c.build({"SP": "CS", "SA": "CS"})
    for day in (2, 3, 4):
        c.scan("can-in", "SP", day, "12:00")
        c.scan("can-in", "SA", day, "12:10")
    c.advance_to(4, "13:00")
    await c.upload("can-in")
    app = c.app
    db, config = app[state.SERVICES].db, app[state.CONFIG].presence
    assert await purge_old_scans(db, app[state.CLOCK], config) == 0
    assert await AuditLog(db).recent(action="scan_retention") == []
    # 28 days after day 3's lunch (plus an hour): days 2 and 3 go, day 4 stays
    c.clock.advance(28 * 86400 - 23 * 3600 + 3600)
    assert await purge_old_scans(db, app[state.CLOCK], config, batch=3) == 4
    assert await ScanLog(db).count() == 2
    entries = await AuditLog(db).recent(action="scan_retention")
    assert len(entries) == 1 and entries[0].detail["deleted"] == 4 and entries[0].actor_number == "system"

    await login_as(client, "ADM", "school_admin")
    r = await client.post("/api/v1/tracing/queries", json={
        "number": "SP", "reason": "old case", "from": "2026-03-01", "min_overlap_min": 5})
    out = await r.json()
    assert r.status == 200 and out["clamped_to_retention"] is True
    assert [(x["number"], x["overlap_min"]) for x in out["contacts"]] == [("SA", 50.0)]
    assert len(out["stays"]) == 1
