"""Building occupancy: how many people are inside each building with exit nodes now, the day
hour by hour, and capacities (issue 19; docs/tracing.md).

"Inside" is an open stay (:mod:`server.presence.stays`): an accepted entry with no later exit at
that building, no older than the cut-off ``[presence] open_stay_h``. It is computed from the
scans stored, so it is as fresh as the building's nodes' last sync: each building reports the
time of its newest scan and the oldest last contact among its nodes (a node offline for an hour
means the figure may miss an hour of that door).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.config import PresenceConfig
from server.presence.errors import NotPermitted, PeriodError, UnknownBuilding
from server.presence.overlaps import by_person, inside_counts, last_scan_entries
from server.presence.tracing import rules_of
from server.storage.audit import AuditLog
from server.storage.database import Database
from server.storage.people import Person
from server.storage.presence import BuildingInfo, PresenceStore
from shared.campus_time import checkin_day, day_start
from shared.clock import Clock, to_unix

CAPACITY_ROLES: tuple[str, ...] = ("school_admin",)
"""Roles that set building capacities."""
MAX_CAPACITY = 1_000_000


@dataclass(frozen=True, slots=True)
class BuildingOccupancy:
    """One building now.

    Attributes:
        code, name: the building.
        inside: people inside now (open stays).
        capacity: the configured limit, or None.
        newest_scan_ms: time of the newest scan stored for this building (Unix ms; None: none).
        oldest_node_seen_s: oldest last contact among its enabled nodes (Unix seconds; None when
            one never synced): the figure can miss scans made since then.
    """

    code: str
    name: str
    inside: int
    capacity: int | None
    newest_scan_ms: int | None
    oldest_node_seen_s: int | None

    @property
    def over_capacity(self) -> bool:
        """More people inside than the capacity allows."""
        return self.capacity is not None and self.inside > self.capacity


class Occupancy:
    """The occupancy service.

    Args:
        db: the open database.
        clock: time source.
        config: ``[presence]``.
    """

    def __init__(self, db: Database, clock: Clock, config: PresenceConfig) -> None:
        self.db = db
        self.clock = clock
        self.rules = rules_of(config)
        self.store = PresenceStore(db)

    async def tracked_buildings(self) -> list[BuildingInfo]:
        """Buildings with exit nodes (only there can occupancy be known)."""
        return [b for b in await self.store.buildings() if b.has_exit]

    async def now(self) -> tuple[int, list[BuildingOccupancy]]:
        """``(now_ms, buildings)``: people inside each building with exit nodes, by code (each
        building's scans of the last ``open_stay_h`` read once)."""
        now_ms, out, _hours = await self._read(None)
        return now_ms, out

    async def today(self) -> tuple[int, list[BuildingOccupancy], dict[str, list[int]]]:
        """``(now_ms, buildings, hours)``: :meth:`now` and today's chart, ``{building: [people
        inside at 00:00, 01:00, ... local]}`` for the full hours of today (Asia/Shanghai) up to
        now, from one read of each building's scans (since ``open_stay_h`` before midnight)."""
        return await self._read(checkin_day(self.clock.now()))

    async def _read(self, day: date | None) -> tuple[int, list[BuildingOccupancy], dict[str, list[int]]]:
        now_ms = to_unix(self.clock.now()) * 1000
        lo_ms = now_ms - self.rules.open_stay_ms
        marks: list[int] = []
        if day is not None:
            start_ms = to_unix(day_start(day)) * 1000
            marks = [start_ms + h * 3_600_000 for h in range(24) if start_ms + h * 3_600_000 <= now_ms]
            lo_ms = min(lo_ms, start_ms - self.rules.open_stay_ms)
        buildings = await self.tracked_buildings()
        newest = await self.store.newest_scan_ms([b.code for b in buildings])
        out, hours = [], {}
        for b in buildings:
            rows = await self.store.building_scans(b.code, lo_ms, now_ms)
            inside = last_scan_entries(rows, now_ms - self.rules.open_stay_ms)
            out.append(BuildingOccupancy(b.code, b.name, inside, b.capacity, newest.get(b.code), b.oldest_node_seen_s))
            if day is not None:
                subj, at, is_exit = by_person(rows)
                hours[b.code] = inside_counts(subj, at, is_exit, marks, rules=self.rules, now_ms=now_ms)
        return now_ms, out, hours

    async def set_capacity(self, actor: Person, code: str, capacity: int | None, address: str = "") -> None:
        """Set (None: clear) a building's capacity, audited (``building_capacity``).

        Raises:
            NotPermitted: the actor is not a school admin.
            PeriodError: capacity outside 1–1,000,000.
            UnknownBuilding: no such building.
        """
        if actor.role not in CAPACITY_ROLES or not actor.is_active:
            raise NotPermitted(f"role {actor.role} may not set building capacities; school admins only")
        if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
            raise PeriodError(f"capacity {capacity}; expected 1–{MAX_CAPACITY} people, or none")
        async with self.db.transaction() as conn:
            if not await PresenceStore.set_capacity(conn, code, capacity):
                raise UnknownBuilding(f"no building has the code {code!r}")
            await AuditLog.add(conn, at_s=to_unix(self.clock.now()), actor_id=actor.id, actor_number=actor.number,
                               action="building_capacity", detail={"building": code, "capacity": capacity},
                               address=address)
