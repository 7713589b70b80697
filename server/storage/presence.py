"""Reads behind stays, co-presence tracing and occupancy, building capacities, and scan
retention (SQL only here; issue 19, docs/tracing.md).

Every read takes accepted scans only and orders them by :data:`SCAN_TIME`, the scan time the
server orders the scan log by. The building reads go through the covering index
``scans_building_presence`` (building, time, verdict, direction, subject): one range per
building, never the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from server.storage.database import Database

SCAN_TIME = "at_ms"
"""The scans column (Unix milliseconds) stays are built on: the time the scan log is ordered by."""

_CHUNK = 500
_WHOLE_READ_SHARE = 10  # read everyone when the subjects asked for are at least 1/10 of the people


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

    async def people_of_subjects(self, subjects: Sequence[bytes]) -> dict[bytes, PersonRef]:
        """``{subject: person}`` for the subjects that belong to a person (visitors' passes and
        unknown subjects are left out). Looked up by index in chunks, or, when they are a tenth
        of everyone or more (a contact list of a busy fortnight), picked from one read of
        everyone: a sequential read costs a fraction of a lookup per person."""
        unique = sorted(set(subjects))
        if len(unique) > _CHUNK:
            row = await self.db.fetch_one("SELECT COUNT(*) FROM people")
            if row is not None and len(unique) * _WHOLE_READ_SHARE >= int(row[0]):
                wanted = set(unique)
                rows = await self.db.fetch_tuples("SELECT subject, id, number, name, department FROM people")
                return {bytes(r[0]): PersonRef(int(r[1]), r[2], r[3], r[4]) for r in rows if r[0] in wanted}
        out: dict[bytes, PersonRef] = {}
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i:i + _CHUNK]
            rows = await self.db.fetch_tuples(
                f"SELECT subject, id, number, name, department FROM people WHERE subject IN ({','.join('?' * len(chunk))})",
                chunk)
            for r in rows:
                out[bytes(r[0])] = PersonRef(int(r[1]), r[2], r[3], r[4])
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
        return conn.total_changes - before
