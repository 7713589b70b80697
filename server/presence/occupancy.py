"""Building occupancy: how many people are inside each building with exit nodes now, the day
hour by hour, and capacities (issue 19; docs/tracing.md).

"Inside" is an open stay (:mod:`server.presence.stays`): an accepted entry with no later exit at
that building, no older than the cut-off ``[presence] open_stay_h``. It is computed from the
scans stored, so it is as fresh as the building's nodes' last sync: each building reports the
time of its newest scan and the oldest last contact among its nodes (a node offline for an hour
means the figure may miss an hour of that door).

The scans come from :class:`server.presence.scan_cache.BuildingScanCache` (the process's copy,
checked against the database at each request), and the chart's past hours, once decided by
settled scans alone, are kept in its memo: a request reads only the last few minutes' scans and
recomputes the people inside now and the hours still open to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from server.config import PresenceConfig
from server.presence.errors import NotPermitted, PeriodError, UnknownBuilding
from server.presence.overlaps import inside_counts, open_count
from server.presence.scan_cache import BuildingScanCache, BuildingScans
from server.presence.stays import StayRules
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
        scans: the process's kept scans (the app's, shared by its requests); default: a new one.
    """

    def __init__(self, db: Database, clock: Clock, config: PresenceConfig,
                 scans: BuildingScanCache | None = None) -> None:
        self.db = db
        self.clock = clock
        self.rules = rules_of(config)
        self.store = PresenceStore(db)
        self.scans = scans if scans is not None else BuildingScanCache(db)

    async def tracked_buildings(self) -> list[BuildingInfo]:
        """Buildings with exit nodes (only there can occupancy be known)."""
        return [b for b in await self.store.buildings() if b.has_exit]

    async def now(self) -> tuple[int, list[BuildingOccupancy]]:
        """``(now_ms, buildings)``: people inside each building with exit nodes, by code."""
        now_ms, out, _hours = await self._read(False)
        return now_ms, out

    async def today(self) -> tuple[int, list[BuildingOccupancy], dict[str, list[int]]]:
        """``(now_ms, buildings, hours)``: :meth:`now` and today's chart, ``{building: [people
        inside at 00:00, 01:00, ... local]}`` for the full hours of today (Asia/Shanghai) up to
        now."""
        return await self._read(True)

    async def _read(self, chart: bool) -> tuple[int, list[BuildingOccupancy], dict[str, list[int]]]:
        now = self.clock.now()
        now_ms = to_unix(now) * 1000
        start_ms = to_unix(day_start(checkin_day(now))) * 1000
        marks = [start_ms + h * 3_600_000 for h in range(24) if start_ms + h * 3_600_000 <= now_ms] if chart else []
        buildings = await self.tracked_buildings()
        codes = [b.code for b in buildings]
        newest = await self.store.newest_scan_ms(codes)
        # one window for the API and the page: the chart's needs (since the cut-off before
        # midnight) cover the people inside now (since the cut-off before now)
        scans = await self.scans.read(codes, start_ms - self.rules.open_stay_ms, now_ms)
        out, hours = [], {}
        for b in buildings:
            inside, counts = inside_now_and_at(scans[b.code], marks, rules=self.rules, now_ms=now_ms)
            out.append(BuildingOccupancy(b.code, b.name, inside, b.capacity, newest.get(b.code), b.oldest_node_seen_s))
            if chart:
                hours[b.code] = counts
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


def inside_now_and_at(scans: BuildingScans, marks_ms: list[int], *, rules: StayRules,
                      now_ms: int) -> tuple[int, list[int]]:
    """``(people inside at now_ms, [people inside at each of marks_ms])`` of one building with
    exit nodes, from its scans since at least the cut-off before the earliest mark.

    A mark's count depends only on the scans from the cut-off before it to ``default_stay``
    after it (docs/tracing.md), so once that range is settled the count is kept in the scans'
    memo and never recomputed; the others (the last hour or two) and the people inside now are
    computed from the scans since the cut-off before the earliest of them."""
    def settled(mark: int) -> bool:
        return mark + rules.default_stay_ms <= scans.settled_ms and mark < now_ms

    todo = [m for m in marks_ms if not (settled(m) and m in scans.memo)]
    person, at, is_exit = scans.since(min([now_ms, *todo]) - rules.open_stay_ms)
    # by person, in time order within each; a person's entry and exit at the same millisecond
    # count entry first (the order the building index reads them in), whatever order the
    # database answered in
    order = np.lexsort((is_exit, at, person))
    person, at, is_exit = person[order], at[order], is_exit[order]
    got = dict(zip(todo, inside_counts(person, at, is_exit, todo, rules=rules, now_ms=now_ms), strict=True)) if todo else {}
    for mark in todo:
        if settled(mark):
            scans.memo[mark] = got[mark]
    inside = open_count(person, at, is_exit, rules=rules, now_ms=now_ms)
    return inside, [got[m] if m in got else scans.memo[m] for m in marks_ms]
