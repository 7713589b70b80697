"""Read-only figures for the ``/metrics`` scrape (SQL only here).

Each scrape reads a handful of small aggregates over indexed columns (check-ins by day, return
applications and pass statuses by state, the SMS outbox by status, one row per node), so a
scrape every 15-30 s costs a few milliseconds even on a campus-sized database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class NodeGauge:
    """One enrolled node as the metrics show it.

    Attributes:
        id, name, building: the node.
        enabled: false once an admin disabled it.
        last_seen_at_s: last authenticated request (Unix seconds; None: never).
        clock_skew_s: server − node clock at its last sync (seconds; None: none yet).
        queue_depth: scans not yet acknowledged, from its last heartbeat (None: none yet).
        oldest_unsynced_at_s: decision time of the oldest of them (Unix seconds; None: none).
    """

    id: str
    name: str
    building: str
    enabled: bool
    last_seen_at_s: int | None
    clock_skew_s: float | None
    queue_depth: int | None
    oldest_unsynced_at_s: int | None


@dataclass(frozen=True, slots=True)
class Gauges:
    """Everything one scrape reads from the database.

    Attributes:
        checkins_today: ``{"normal"|"abnormal": count}`` of today's check-ins (abnormal: an
            abnormal answer on record, even when edited since).
        applications: ``{state: count}`` of return applications.
        passes: ``{status: count}`` of pass statuses (none/black/green/hold).
        outbox: ``{status: count}`` of SMS outbox rows.
        outbox_oldest_pending_at_s: creation time of the oldest pending message (None: none).
        nodes: every enrolled node.
        recent_scans: ``{(verdict, reason): count}`` of scans decided since ``recent_since_ms``.
    """

    checkins_today: dict[str, int] = field(default_factory=dict)
    applications: dict[str, int] = field(default_factory=dict)
    passes: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    outbox_oldest_pending_at_s: int | None = None
    nodes: list[NodeGauge] = field(default_factory=list)
    recent_scans: dict[tuple[str, str], int] = field(default_factory=dict)


class GaugeQueries:
    """The scrape's queries.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, today: str, recent_since_ms: int) -> Gauges:
        """All figures; ``today`` is the check-in day (``YYYY-MM-DD``, Asia/Shanghai), scans
        decided at or after ``recent_since_ms`` (node time, Unix ms) are counted by reason."""
        db = self.db
        checkins = {("abnormal" if r[0] else "normal"): int(r[1]) for r in await db.fetch_all(
            "SELECT abnormal_on_record, COUNT(*) FROM checkins WHERE day = ? GROUP BY abnormal_on_record", (today,))}
        applications = {r[0]: int(r[1]) for r in await db.fetch_all(
            "SELECT state, COUNT(*) FROM return_applications GROUP BY state")}
        passes = {r[0]: int(r[1]) for r in await db.fetch_all(
            "SELECT status, COUNT(*) FROM pass_status GROUP BY status")}
        outbox = {r[0]: int(r[1]) for r in await db.fetch_all(
            "SELECT status, COUNT(*) FROM sms_outbox GROUP BY status")}
        oldest = await db.fetch_one("SELECT MIN(created_at) FROM sms_outbox WHERE status IN ('pending', 'sending')")
        nodes = [NodeGauge(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7]) for r in await db.fetch_all(
            "SELECT id, name, building, enabled, last_seen_at, clock_skew_s, queue_depth, oldest_unsynced_at "
            "FROM nodes ORDER BY id")]
        recent = {(r[0], r[1]): int(r[2]) for r in await db.fetch_all(
            "SELECT verdict, reason, COUNT(*) FROM scans WHERE at_ms >= ? GROUP BY verdict, reason",
            (recent_since_ms,))}
        return Gauges(checkins, applications, passes, outbox,
                      int(oldest[0]) if oldest is not None and oldest[0] is not None else None, nodes, recent)

    async def ping(self) -> None:
        """One trivial read: raises ``sqlite3.Error`` (or StorageError) when the database is unusable."""
        await self.db.fetch_one("SELECT COUNT(*) FROM settings")
