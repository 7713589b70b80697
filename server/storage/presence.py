"""Reads behind stays, co-presence tracing and occupancy, building capacities, and scan
retention (SQL only here; issue 19, docs/tracing.md).

Every read takes accepted scans only and orders them by :data:`SCAN_TIME`, the scan time the
server orders the scan log by. The building reads go through the covering index
``scans_building_presence`` (building, time, verdict, direction, subject, link): one range per
building, never the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from server.storage.database import Database
from server.storage.links import LINK_HORIZON_MS, link_batch

SCAN_TIME = "at_ms"
"""The scans column (Unix milliseconds) stays are built on: the time the scan log is ordered by."""

_CHUNK = 500
_WHOLE_READ_SHARE = 10  # read everyone when the subjects asked for are at least 1/10 of the people


RELINK_SQL = (
    "UPDATE scans SET prev_at = l.prev_at, prev_entry = l.prev_entry FROM ("
    " SELECT id, at_ms, CASE WHEN at_ms - LAG(at_ms) OVER w <= {h} THEN LAG(at_ms) OVER w END AS prev_at,"
    " CASE WHEN at_ms - LAG(at_ms) OVER w <= {h} THEN CASE LAG(direction) OVER w WHEN 'entry' THEN 1 ELSE 0 END END"
    " AS prev_entry FROM scans WHERE verdict = 'accept' AND subject IS NOT NULL AND at_ms >= ?{where}"
    " WINDOW w AS (PARTITION BY subject, building ORDER BY at_ms, direction, id)) l"
    " WHERE scans.id = l.id AND l.at_ms >= ?"
    " AND (scans.prev_at IS DISTINCT FROM l.prev_at OR scans.prev_entry IS DISTINCT FROM l.prev_entry)"
)
"""Recompute the links (:mod:`server.storage.links`) of the accepted scans from the second
parameter's time on (reading from the first, a horizon earlier); ``{where}`` narrows to one
building's subjects."""

LINKED_COLUMNS = "prev_at, prev_entry"


def _least(backend: str) -> tuple[str, str]:
    return ("LEAST", "GREATEST") if backend == "postgresql" else ("MIN", "MAX")


def _time_inside_sql(backend: str, has_exit: bool, cut_ms: int, default_ms: int) -> str:
    """The milliseconds of stay ``o`` (columns ``s``, ``e``) that the time inside contributed by
    scan ``x`` covers; ``?`` is the present (one parameter per ``?``).

    Each scan's contribution depends on the scan and its link only (see
    :func:`server.presence.overlaps.pieces`, whose pieces these sums reproduce): an entry adds
    ``[t, min(t + cut-off, now))`` (entry-only building: the default stay); a scan after an
    entry within the cut-off (entry-only: the default stay) takes back ``[t, min(prev + cut-off,
    now))``, the part of that entry's time after it; an exit that closes nothing adds ``[max(t -
    default, end of the previous piece), t)``. Summed per person, that is exactly the overlap with
    their pieces."""
    least, greatest = _least(backend)
    cut, dflt = int(cut_ms), int(default_ms)  # the configured rules: a few distinct statements

    def cover(a: str, b: str) -> str:
        return f"{greatest}(0, {least}({b}, o.e) - {greatest}({a}, o.s))"

    if not has_exit:
        return (f"{cover('x.at_ms', f'{least}(x.at_ms + {dflt}, ?)')}"
                f" - CASE WHEN x.at_ms - x.prev_at < {dflt}"
                f" THEN {cover('x.at_ms', f'{least}(x.prev_at + {dflt}, ?)')} ELSE 0 END")
    closes = f"COALESCE(x.prev_entry, 0) = 1 AND x.at_ms - x.prev_at <= {cut}"
    inferred = (f"{greatest}(x.at_ms - {dflt}, COALESCE(CASE WHEN x.prev_entry = 1 THEN x.prev_at + {cut}"
                f" ELSE x.prev_at END, x.at_ms - {dflt}))")
    return (f"CASE WHEN x.direction = 'entry' THEN {cover('x.at_ms', f'{least}(x.at_ms + {cut}, ?)')} ELSE 0 END"
            f" - CASE WHEN {closes} THEN {cover('x.at_ms', f'{least}(x.prev_at + {cut}, ?)')} ELSE 0 END"
            f" + CASE WHEN x.direction = 'exit' AND NOT ({closes}) THEN {cover(inferred, 'x.at_ms')} ELSE 0 END")


_OVERLAP_SQL: dict[tuple[str, bool, int, int, int], tuple[str, int]] = {}


def overlap_sql(backend: str, has_exit: bool, stays: int, cut_ms: int, default_ms: int) -> tuple[str, int]:
    """The statement of :meth:`PresenceStore.overlaps` for ``stays`` stays and how many times its
    expression takes the present (cached). Parameters in order: each stay's ``(index, start,
    end, lo, hi)``, the present that many times, the building, the present, the subject left out,
    the threshold."""
    key = (backend, has_exit, stays, cut_ms, default_ms)
    out = _OVERLAP_SQL.get(key)
    if out is None:
        values = ", ".join(["(?, ?, ?, ?, ?)"] * stays)
        inside = _time_inside_sql(backend, has_exit, cut_ms, default_ms)
        out = _OVERLAP_SQL[key] = (
            f"WITH o (idx, s, e, lo, hi) AS (VALUES {values})"
            f" SELECT g.idx, COALESCE(p.id, -1), g.ms FROM (SELECT o.idx AS idx, x.subject AS subject,"
            f" CAST(SUM({inside}) AS BIGINT) AS ms"
            f" FROM o JOIN scans x ON x.building = ? AND x.at_ms BETWEEN o.lo AND o.hi"
            f" AND x.verdict = 'accept' AND x.subject IS NOT NULL"
            f" WHERE x.at_ms <= ? AND x.subject <> ? GROUP BY o.idx, x.subject) g"
            f" LEFT JOIN people p ON p.subject = g.subject WHERE g.ms >= ?", inside.count("?"))
    return out


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    """A building as occupancy shows it: code, name, capacity (None: no limit set), whether it
    has exit nodes, and the oldest ``last_seen_at`` of its nodes (Unix seconds; None when a node
    never synced or there is none)."""

    code: str
    name: str
    capacity: int | None
    has_exit: bool
    nodes: int
    oldest_node_seen_s: int | None


@dataclass(frozen=True, slots=True)
class PersonRef:
    """Who a pass subject belongs to: row id, number, name, department."""

    id: int
    number: str
    name: str
    department: str | None


class PresenceStore:
    """Repository of the presence reads.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def buildings(self) -> list[BuildingInfo]:
        """Every building with its capacity and its nodes' direction and sync state, by code."""
        rows = await self.db.fetch_all(
            "SELECT b.code, b.name, b.capacity,"
            " COALESCE(MAX(CASE WHEN n.direction = 'exit' THEN 1 ELSE 0 END), 0), COUNT(n.id),"
            " MIN(COALESCE(n.last_seen_at, -1))"
            " FROM buildings b LEFT JOIN nodes n ON n.building = b.code AND n.enabled = 1"
            " GROUP BY b.code, b.name, b.capacity ORDER BY b.code")
        return [BuildingInfo(r[0], r[1], r[2], bool(r[3]), int(r[4]),
                             None if r[5] is None or int(r[5]) < 0 else int(r[5])) for r in rows]

    async def exit_buildings(self) -> set[str]:
        """Codes of buildings with at least one exit node (enabled or not: its old scans count)."""
        rows = await self.db.fetch_all("SELECT DISTINCT building FROM nodes WHERE direction = 'exit'")
        return {r[0] for r in rows}

    async def subject_scans(self, subject: bytes, lo_ms: int, hi_ms: int) -> list[tuple[str, int, str]]:
        """Accepted scans of one pass subject in ``[lo_ms, hi_ms]``: ``(building, at_ms, direction)``
        in time order."""
        rows = await self.db.fetch_all(
            f"SELECT building, {SCAN_TIME}, direction FROM scans WHERE subject = ? AND {SCAN_TIME} BETWEEN ? AND ?"
            f" AND verdict = 'accept' ORDER BY {SCAN_TIME}, id", (subject, lo_ms, hi_ms))
        return [(r[0], int(r[1]), r[2]) for r in rows]

    async def building_scans(self, building: str, lo_ms: int, hi_ms: int) -> Sequence[Sequence[Any]]:
        """Accepted scans with a pass subject at one building in ``[lo_ms, hi_ms]``: rows of
        ``(subject bytes, at_ms int, direction str)`` in time order (index only; tens of
        thousands for a dormitory over two weeks)."""
        return await self.db.fetch_tuples(
            f"SELECT subject, {SCAN_TIME}, direction FROM scans WHERE building = ? AND {SCAN_TIME} BETWEEN ? AND ?"
            f" AND verdict = 'accept' AND subject IS NOT NULL ORDER BY {SCAN_TIME}", (building, lo_ms, hi_ms))

    async def overlaps(
        self, building: str, has_exit: bool, stays: Sequence[tuple[int, int, int, int, int]], *, me: bytes,
        now_ms: int, cut_ms: int, default_ms: int, threshold_ms: int,
    ) -> list[tuple[int, int, int]]:
        """How long everyone else was inside ``building`` during each of ``stays``, summed by the
        database from the scans' links (:mod:`server.storage.links`; one statement, the covering
        index ``scans_building_presence`` only), those of at least ``threshold_ms`` only.

        Args:
            building, has_exit: the building and whether it has exit nodes (the stay rules).
            stays: ``(index, start_ms, end_ms, lo_ms, hi_ms)``: a stay of the person queried and
                the scans that can reach into it (:func:`server.presence.stays.scan_window`).
            me: the pass subject of the person queried (left out).
            now_ms: the present (later scans are ignored; open stays end here).
            cut_ms, default_ms: the cut-off and the default stay.
            threshold_ms: the least overlap returned.

        Returns:
            ``(index, person id, overlap_ms)`` rows in any order; the person id is -1 for a pass
            that belongs to no person (a visitor).
        """
        if not stays:
            return []
        sql, nows = overlap_sql(self.db.backend, has_exit, len(stays), cut_ms, default_ms)
        params: list[Any] = [v for stay in stays for v in stay]
        params += [now_ms] * nows
        params += [building, now_ms, me, threshold_ms]
        return await self.db.fetch_tuples(sql, params)

    async def people_by_ids(self, ids: Sequence[int]) -> dict[int, PersonRef]:
        """``{id: person}`` for these person ids: looked up by index in chunks or, when they are
        a tenth of everyone or more (the contacts of a busy fortnight), picked from one read of
        everyone (a sequential read costs a fraction of a lookup per person)."""
        unique = sorted(set(ids))
        if len(unique) > _CHUNK:
            row = await self.db.fetch_one("SELECT COUNT(*) FROM people")
            if row is not None and len(unique) * _WHOLE_READ_SHARE >= int(row[0]):
                wanted = set(unique)
                rows = await self.db.fetch_tuples("SELECT id, number, name, department FROM people")
                return {r[0]: PersonRef(*r) for r in rows if r[0] in wanted}
        out: dict[int, PersonRef] = {}
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i:i + _CHUNK]
            rows = await self.db.fetch_tuples(
                f"SELECT id, number, name, department FROM people WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            out.update((r[0], PersonRef(*r)) for r in rows)
        return out

    @staticmethod
    async def link_new_scans(conn: aiosqlite.Connection, building: str, accepted: Sequence[tuple[str, bytes, int, str]]
                             ) -> dict[str, tuple[int | None, int | None]]:
        """Inside an upload's transaction, before its scans are inserted: the links of the
        batch's accepted scans ``(scan_id, subject, at_ms, direction)`` at ``building``
        (insertion order) that are not stored yet, from the stored scans of the same subjects
        there within :data:`LINK_HORIZON_MS`; the stored scans that a late scan now precedes get
        their links corrected here. Returns ``{scan_id: (prev_at, prev_entry)}`` of the new ones."""
        if not accepted:
            return {}
        lo = min(f[2] for f in accepted) - LINK_HORIZON_MS
        hi = max(f[2] for f in accepted) + LINK_HORIZON_MS
        unique = sorted({f[1] for f in accepted})
        stored: list[tuple[bytes, int, str, int, int | None, int | None]] = []
        held: set[str] = set()
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i:i + _CHUNK]
            # By the (subject, at_ms) index: a few scans a person. ``building || ''`` keeps both
            # planners off the building index, which would read every scan of the building in the
            # two days around the batch.
            async with conn.execute(
                f"SELECT subject, at_ms, direction, id, prev_at, prev_entry, scan_id FROM scans WHERE subject IN"
                f" ({','.join('?' * len(chunk))}) AND building || '' = ? AND at_ms BETWEEN ? AND ?"
                " AND verdict = 'accept'",
                (*chunk, building, lo, hi),
            ) as cur:
                for r in await cur.fetchall():
                    stored.append((bytes(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5]))
                    held.add(r[6])
        fresh = [(f[0], f[1], f[2], f[3]) for f in accepted if f[0] not in held]  # a retried record is stored
        links, updates = link_batch(stored, fresh)
        if updates:
            await conn.executemany("UPDATE scans SET prev_at = ?, prev_entry = ? WHERE id = ?", updates)
        return links  # type: ignore[return-value]  # keys are the scan ids given

    @staticmethod
    async def relink(conn: aiosqlite.Connection, since_ms: int, *, building: str | None = None,
                     subjects: Sequence[bytes] = ()) -> None:
        """Recompute the links of the accepted scans from ``since_ms`` on, inside the caller's
        transaction (all of them, or one building's for ``subjects``): after a bulk load that
        bypassed sync ingest, and when an upload's new scans were not all stored."""
        h = LINK_HORIZON_MS
        if building is None:
            await conn.execute(RELINK_SQL.format(h=h, where=""), (since_ms - h, since_ms))
            return
        for i in range(0, len(subjects), _CHUNK):
            chunk = list(subjects[i:i + _CHUNK])
            await conn.execute(
                RELINK_SQL.format(h=h, where=f" AND building = ? AND subject IN ({','.join('?' * len(chunk))})"),
                (since_ms - h, building, *chunk, since_ms))

    async def count_building_scans(self, buildings: Sequence[str], lo_ms: int, hi_ms: int) -> dict[str, int]:
        """``{building: how many scans :meth:`building_scans` would return in [lo_ms, hi_ms]}``
        (buildings without any left out): one statement, an index-only count, no rows read."""
        out: dict[str, int] = {}
        for i in range(0, len(buildings), _CHUNK):
            chunk = list(buildings[i:i + _CHUNK])
            rows = await self.db.fetch_all(
                f"SELECT building, COUNT(*) FROM scans WHERE building IN ({','.join('?' * len(chunk))})"
                f" AND {SCAN_TIME} BETWEEN ? AND ? AND verdict = 'accept' AND subject IS NOT NULL GROUP BY building",
                [*chunk, lo_ms, hi_ms])
            out.update((r[0], int(r[1])) for r in rows)
        return out

    async def buildings_scans(self, buildings: Sequence[str], lo_ms: int, hi_ms: int) -> Sequence[Sequence[Any]]:
        """:meth:`building_scans` of several buildings in one statement: rows of ``(building,
        subject, at_ms, direction)`` by building, then in time order. Meant for short periods
        (a few minutes)."""
        out: list[Sequence[Any]] = []
        for i in range(0, len(buildings), _CHUNK):
            chunk = list(buildings[i:i + _CHUNK])
            out += await self.db.fetch_tuples(
                f"SELECT building, subject, {SCAN_TIME}, direction FROM scans"
                f" WHERE building IN ({','.join('?' * len(chunk))}) AND {SCAN_TIME} BETWEEN ? AND ?"
                f" AND verdict = 'accept' AND subject IS NOT NULL ORDER BY building, {SCAN_TIME}",
                [*chunk, lo_ms, hi_ms])
        return out

    async def newest_scan_ms(self, buildings: Sequence[str]) -> dict[str, int]:
        """``{building: time of its newest stored scan}`` (buildings without scans left out)."""
        out: dict[str, int] = {}
        for i in range(0, len(buildings), _CHUNK):  # one statement; each MAX is one index probe
            chunk = list(buildings[i:i + _CHUNK])
            rows = await self.db.fetch_all(
                f"SELECT b.code, (SELECT MAX(s.{SCAN_TIME}) FROM scans s WHERE s.building = b.code) FROM buildings b"
                f" WHERE b.code IN ({','.join('?' * len(chunk))})", chunk)
            out.update((r[0], int(r[1])) for r in rows if r[1] is not None)
        return out

    async def department_names(self) -> dict[str, str]:
        """``{code: name}`` of every department."""
        return {r[0]: r[1] for r in await self.db.fetch_all("SELECT code, name FROM departments")}

    @staticmethod
    async def set_capacity(conn: aiosqlite.Connection, building: str, capacity: int | None) -> bool:
        """Set (or clear, with None) a building's capacity inside the caller's transaction;
        False when there is no such building."""
        before = conn.total_changes
        await conn.execute("UPDATE buildings SET capacity = ? WHERE code = ?", (capacity, building))
        return conn.total_changes > before

    @staticmethod
    async def delete_scans_before(conn: aiosqlite.Connection, before_ms: int, limit: int) -> int:
        """Delete at most ``limit`` scans older than ``before_ms`` inside the caller's
        transaction; returns how many went."""
        before = conn.total_changes
        await conn.execute(
            f"DELETE FROM scans WHERE id IN (SELECT id FROM scans WHERE {SCAN_TIME} < ? LIMIT ?)", (before_ms, limit))
        deleted = conn.total_changes - before
        if deleted:  # the scans kept that pointed back to a deleted one have no previous scan now
            await conn.execute(
                f"UPDATE scans SET prev_at = NULL, prev_entry = NULL WHERE {SCAN_TIME} >= ? AND {SCAN_TIME} <= ?"
                " AND prev_at < ?", (before_ms, before_ms + LINK_HORIZON_MS, before_ms))
        return deleted
