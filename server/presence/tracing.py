"""Co-presence tracing: the stays of one person over a period and, for each stay, the people
whose stays at that building overlapped it (issue 19; docs/tracing.md).

Only school admins may run it, each run needs a typed reason, and each run writes exactly one
audit entry (``tracing_query``: subject, period, threshold, reason, how many stays and
contacts) before any result is returned: no result without a record (personal-information law:
a stated purpose, the minimum necessary, and a record of access). The period never reaches
back beyond the scans kept (``[presence] scan_retention_days``).

Cost: one indexed read of the person's scans (their stays rebuilt by
:func:`server.presence.stays.build_stays`), then one statement per building they were in, in
which the database sums everyone else's time inside against each of the person's stays there
from the scans' links (:meth:`server.storage.presence.PresenceStore.overlaps`, covering index
only) and returns the contacts only; the people found are looked up once at the end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from server.config import PresenceConfig
from server.presence.errors import NotPermitted, PeriodError, UnknownPerson
from server.presence.stays import MINUTE_MS, Stay, StayRules, build_stays, clip, scan_window
from server.storage.audit import AuditLog
from server.storage.database import Database
from server.storage.people import People, Person
from server.storage.presence import PersonRef, PresenceStore
from shared.clock import Clock, to_unix

TRACING_ROLES: tuple[str, ...] = ("school_admin",)
"""Roles allowed to run a co-presence query."""
MAX_REASON_CHARS = 500
MIN_REASON_CHARS = 4
MAX_OVERLAP_MIN = 24 * 60


def rules_of(config: PresenceConfig) -> StayRules:
    """The stay rules configured in ``[presence]``."""
    return StayRules(default_stay_ms=config.default_stay_min * MINUTE_MS,
                     open_stay_ms=config.open_stay_h * 60 * MINUTE_MS)


@dataclass(slots=True)  # not frozen: a query builds tens of thousands; a frozen __init__ costs twice as much
class StayContact:
    """Someone whose stays overlapped one stay of the person queried, by ``overlap_ms``."""

    person: PersonRef
    overlap_ms: int


@dataclass(frozen=True, slots=True)
class TracedStay:
    """One stay of the person queried (clipped to the period) with its contacts, longest
    overlap first, and how many overlapping passes belong to no person (visitors)."""

    stay: Stay
    contacts: list[StayContact]
    unidentified: int


@dataclass(slots=True)  # not frozen: see StayContact
class Contact:
    """One contact over the whole period: total overlap (milliseconds) and over how many of the
    queried person's stays."""

    person: PersonRef
    overlap_ms: int
    stays: int


@dataclass(frozen=True, slots=True)
class TracingResult:
    """The answer to one query.

    Attributes:
        subject: the person queried.
        from_ms, to_ms: the period actually searched (Unix ms; ``from_ms`` raised to the
            retention horizon when it reached further back).
        min_overlap_ms: the threshold applied per stay.
        stays: the person's stays in time order.
        contacts: everyone found, most total overlap first (then by department and number).
        clamped: ``from_ms`` was raised to the retention horizon.
    """

    subject: PersonRef
    from_ms: int
    to_ms: int
    min_overlap_ms: int
    stays: list[TracedStay]
    contacts: list[Contact]
    clamped: bool


class CoPresence:
    """The co-presence query service.

    Args:
        db: the open database.
        clock: time source (the present ends open stays and bounds the period).
        config: ``[presence]``.
    """

    def __init__(self, db: Database, clock: Clock, config: PresenceConfig) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.rules = rules_of(config)
        self.store = PresenceStore(db)

    async def query(
        self, actor: Person, number: str, *, from_ms: int | None, to_ms: int | None, min_overlap_min: int | None,
        reason: str, address: str = "",
    ) -> TracingResult:
        """Run one co-presence query for ``actor`` and audit it.

        Args:
            actor: who asks (must hold a role in :data:`TRACING_ROLES`).
            number: student/staff number of the person queried.
            from_ms, to_ms: the period (Unix ms; default the last ``tracing_days`` days to now).
            min_overlap_min: least overlap with one stay to count as a contact (minutes, 1–1440;
                default ``[presence] min_overlap_min``).
            reason: why (4–500 characters, stored in the audit entry).
            address: the client address for the audit entry.

        Raises:
            NotPermitted: the actor's role may not trace (nothing is read; no audit entry).
            PeriodError: the reason, the threshold or the period is unusable (``invalid_field``).
            UnknownPerson: no person has that number (the attempt is audited).
        """
        if actor.role not in TRACING_ROLES or not actor.is_active:
            raise NotPermitted(f"role {actor.role} may not run co-presence queries; school admins only")
        reason = reason.strip()
        if not MIN_REASON_CHARS <= len(reason) <= MAX_REASON_CHARS:
            raise PeriodError(f"reason has {len(reason)} characters; expected {MIN_REASON_CHARS}–{MAX_REASON_CHARS}"
                              " (why this query is needed)")
        threshold_min = self.config.min_overlap_min if min_overlap_min is None else min_overlap_min
        if not 1 <= threshold_min <= MAX_OVERLAP_MIN:
            raise PeriodError(f"min_overlap_min {threshold_min}; expected 1–{MAX_OVERLAP_MIN} minutes")
        now_ms = to_unix(self.clock.now()) * 1000
        horizon_ms = now_ms - self.config.scan_retention_days * 86_400_000
        end = now_ms if to_ms is None else min(to_ms, now_ms)
        start = end - self.config.tracing_days * 86_400_000 if from_ms is None else from_ms
        if start >= end:
            raise PeriodError("from is not before to (or to is in the future and from after now)")
        clamped = start < horizon_ms
        start = max(start, horizon_ms)
        if start >= end:
            raise PeriodError(f"the period ends before the oldest scan kept ({self.config.scan_retention_days} days)")

        person = await People(self.db).by_number(number)
        if person is None:
            await self._audit(actor, address, None, {"number": number, "from_ms": start, "to_ms": end,
                                                     "min_overlap_min": threshold_min, "reason": reason,
                                                     "found": False})
            raise UnknownPerson(f"no person has the number {number!r}")
        subject = PersonRef(person.id, person.number, person.name, person.department)
        result = await self._trace(subject, person.subject, start, end, threshold_min * MINUTE_MS, now_ms, clamped)
        await self._audit(actor, address, person.id, {
            "number": number, "from_ms": start, "to_ms": end, "min_overlap_min": threshold_min, "reason": reason,
            "found": True, "stays": len(result.stays), "contacts": len(result.contacts)})
        return result

    async def _audit(self, actor: Person, address: str, target: int | None, detail: dict[str, object]) -> None:
        async with self.db.transaction() as conn:
            await AuditLog.add(conn, at_s=to_unix(self.clock.now()), actor_id=actor.id, actor_number=actor.number,
                               action="tracing_query", target_person_id=target, detail=dict(detail),
                               address=address)

    async def _trace(self, subject: PersonRef, subject_id: bytes, start: int, end: int, threshold_ms: int,
                     now_ms: int, clamped: bool) -> TracingResult:
        rules = self.rules
        exits = await self.store.exit_buildings()
        own = await self.store.subject_scans(subject_id, start - rules.open_stay_ms, end + rules.open_stay_ms)
        by_building: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for building, at_ms, direction in own:
            by_building[building].append((at_ms, direction))
        own_stays: list[Stay] = []
        for building, scans in by_building.items():
            for stay in build_stays(building, scans, has_exit=building in exits, rules=rules, now_ms=now_ms):
                clipped = clip(stay, start, end)
                if clipped is not None:
                    own_stays.append(clipped)
        own_stays.sort(key=lambda s: (s.start_ms, s.building))

        # Per building, one statement: the database sums everyone's time inside against each of
        # the person's stays there from the scans' links, and returns the contacts only.
        rows: list[tuple[int, int, int]] = []  # (stay index, person id or -1, overlap ms)
        for building in sorted({s.building for s in own_stays}):
            has_exit = building in exits
            stays_here = [(i, s.start_ms, s.end_ms, *scan_window(s.start_ms, s.end_ms, has_exit, rules))
                          for i, s in enumerate(own_stays) if s.building == building]
            rows += await self.store.overlaps(building, has_exit, stays_here, me=subject_id, now_ms=now_ms,
                                              cut_ms=rules.open_stay_ms, default_ms=rules.default_stay_ms,
                                              threshold_ms=threshold_ms)
        columns = [np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)] if rows else [
            np.zeros(0, dtype=np.int64)] * 3
        ids, who = np.unique(columns[1], return_inverse=True)  # everyone found -> a dense number
        # One lookup of everyone found (a contact is usually found in many stays).
        people = await self.store.people_by_ids(ids[ids >= 0].tolist())
        refs = [people.get(i) for i in ids.tolist()]
        parts = [(columns[0], who.reshape(-1).astype(np.int64), columns[2])]
        stays, contacts = _rank(own_stays, parts, refs)
        return TracingResult(subject, start, end, threshold_ms, stays, contacts, clamped)


def _rank(own_stays: list[Stay], parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
          refs: list[PersonRef | None]) -> tuple[list[TracedStay], list[Contact]]:
    """The answer from the overlaps found: each stay's contacts (longest overlap first, then by
    number) and passes of nobody counted, and every contact's total over all stays (most first,
    then by department and number). ``parts`` are ``(stay index, found number, overlap ms)``
    arrays; ``refs[found number]`` is that person, or None for a pass of nobody."""
    empty = np.zeros(0, dtype=np.int64)
    stay_at = np.concatenate([p[0] for p in parts]) if parts else empty
    who = np.concatenate([p[1] for p in parts]) if parts else empty
    ms = np.concatenate([p[2] for p in parts]) if parts else empty
    known = np.fromiter((r is not None for r in refs), dtype=bool, count=len(refs))
    # ranks of the sort keys (numbers are unique; nobody's passes sort anywhere, they are dropped)
    number_rank = np.unique(np.array([r.number if r else "" for r in refs], dtype=str), return_inverse=True)[1]
    dept_rank = np.unique(np.array([(r.department or "") if r else "" for r in refs], dtype=str),
                          return_inverse=True)[1]
    order = np.lexsort((number_rank[who], -ms, stay_at)) if len(who) else empty
    stay_at, who, ms = stay_at[order], who[order], ms[order]
    person = known[who]
    unidentified = np.bincount(stay_at[~person], minlength=len(own_stays))
    stay_at, who, ms = stay_at[person], who[person], ms[person]
    bounds = np.searchsorted(stay_at, np.arange(len(own_stays) + 1)).tolist()
    every = list(map(StayContact, map(refs.__getitem__, who.tolist()), ms.tolist()))  # type: ignore[arg-type]  # known: not None
    traced = [TracedStay(stay, every[bounds[i]:bounds[i + 1]], int(unidentified[i])) for i, stay in enumerate(own_stays)]
    total = np.bincount(who, weights=ms, minlength=len(refs)).astype(np.int64)  # exact: sums far below 2**53
    shared = np.bincount(who, minlength=len(refs))
    present = np.nonzero(shared)[0]
    ranked = present[np.lexsort((number_rank[present], dept_rank[present], -total[present]))]
    contacts = [Contact(refs[o], int(total[o]), int(shared[o])) for o in ranked.tolist()]  # type: ignore[arg-type]
    return traced, contacts
