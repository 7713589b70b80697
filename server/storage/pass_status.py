"""Pass status per person, its history, arrivals and dormitory scopes (SQL only here).

Shapes: statuses are ``none | black | green | hold`` (docs/architecture.md §3); times are Unix
seconds; check-in days are ``YYYY-MM-DD`` strings of the Asia/Shanghai calendar.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import aiosqlite

from server.storage.database import Database


class Status(StrEnum):
    """A person's pass status (docs/architecture.md §3; the rules are in :mod:`server.pass_status`)."""

    NONE = "none"
    BLACK = "black"
    GREEN = "green"
    HOLD = "hold"


class HoldKind(StrEnum):
    """Why a person is on hold (who may clear it depends on it; docs/architecture.md §3)."""

    ABNORMAL_CHECKIN = "abnormal_checkin"
    MISSED_CHECKIN = "missed_checkin"
    ADMIN = "admin"


class HoldBy(StrEnum):
    """Who placed a hold, by role, lowest first: only a role at least as high clears it
    (docs/security.md, separation of duties; the rule is in :mod:`server.pass_status`)."""

    SYSTEM = "system"
    """The abnormal check-in rule and the missed check-in job."""
    COUNSELLOR = "counsellor"
    SCHOOL_ADMIN = "school_admin"


_COLUMNS = (
    "person_id, status, base, hold_kind, reason, last_checkin_day, last_checkin_abnormal,"
    " current_serial, current_text, current_until, updated_at, updated_by, hold_by_role, hold_by, abnormal_day"
)


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A person's pass status.

    Attributes:
        person_id: ``people.id``.
        status: none, black, green or hold.
        base: the status a hold returns to when cleared (black/green), else ``none``.
        hold_kind: why the person is on hold (abnormal_checkin, missed_checkin, admin), or None.
        reason: the reason shown to the person (hold, or why the status dropped).
        last_checkin_day: latest check-in day (``YYYY-MM-DD``) or None.
        last_checkin_abnormal: whether that check-in was abnormal.
        current_serial / current_text / current_until_s: the newest pass signed for the person
            (None when none is current).
        updated_at_s / updated_by: last change (Unix seconds, ``people.id`` or None = system).
        hold_by_role: who placed the current hold (system, counsellor, school_admin), or None
            when not on hold.
        hold_by: ``people.id`` of the staff member who placed it, or None (system).
        abnormal_day: the latest check-in day with an abnormal answer on record (``YYYY-MM-DD``,
            kept when that day's answers were edited back to normal), or None.
    """

    person_id: int
    status: Status = Status.NONE
    base: Status = Status.NONE
    hold_kind: HoldKind | None = None
    reason: str = ""
    last_checkin_day: str | None = None
    last_checkin_abnormal: bool = False
    current_serial: bytes | None = None
    current_text: str | None = None
    current_until_s: int | None = None
    updated_at_s: int = 0
    updated_by: int | None = None
    hold_by_role: HoldBy | None = None
    hold_by: int | None = None
    abnormal_day: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One status transition: when, from, to, what caused it, the reason and who did it
    (``actor_id``: ``people.id`` or None = system; ``actor_role``: ``system``, the person's own
    role or the staff member's, None for transitions stored before roles were recorded)."""

    id: int
    person_id: int
    at_s: int
    from_status: str
    to_status: str
    cause: str
    reason: str
    actor_id: int | None
    actor_role: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A person approved to return but not yet arrived (for a counsellor's list)."""

    person_id: int
    number: str
    name: str
    department: str | None
    class_name: str | None
    status: Status


def _row(r: sqlite3.Row) -> StatusRow:
    return StatusRow(
        person_id=int(r[0]), status=Status(r[1]), base=Status(r[2]),
        hold_kind=HoldKind(r[3]) if r[3] is not None else None, reason=r[4], last_checkin_day=r[5],
        last_checkin_abnormal=bool(r[6]), current_serial=bytes(r[7]) if r[7] is not None else None,
        current_text=r[8], current_until_s=r[9], updated_at_s=int(r[10]), updated_by=r[11],
        hold_by_role=HoldBy(r[12]) if r[12] is not None else None, hold_by=r[13], abnormal_day=r[14],
    )


class PassStatusStore:
    """Repository of pass statuses.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, person_id: int) -> StatusRow:
        """The person's status row (a default ``none`` row when there is none yet)."""
        r = await self.db.fetch_one(f"SELECT {_COLUMNS} FROM pass_status WHERE person_id = ?", (person_id,))
        return _row(r) if r is not None else StatusRow(person_id)

    @staticmethod
    async def get_in(conn: aiosqlite.Connection, person_id: int) -> StatusRow:
        """Like :meth:`get`, inside the caller's transaction (one round trip to the database
        thread: every check-in of a person with a pass reads this row)."""
        rows = await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM pass_status WHERE person_id = ?", (person_id,))
        r = next(iter(rows), None)
        return _row(r) if r is not None else StatusRow(person_id)

    @staticmethod
    async def put(conn: aiosqlite.Connection, row: StatusRow) -> None:
        """Insert or replace the person's row inside the caller's transaction."""
        await conn.execute(
            f"INSERT INTO pass_status ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (person_id) DO UPDATE SET status = excluded.status, base = excluded.base,"
            " hold_kind = excluded.hold_kind, reason = excluded.reason,"
            " last_checkin_day = excluded.last_checkin_day,"
            " last_checkin_abnormal = excluded.last_checkin_abnormal,"
            " current_serial = excluded.current_serial, current_text = excluded.current_text,"
            " current_until = excluded.current_until, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by, hold_by_role = excluded.hold_by_role,"
            " hold_by = excluded.hold_by, abnormal_day = excluded.abnormal_day",
            (row.person_id, row.status, row.base, row.hold_kind, row.reason, row.last_checkin_day,
             int(row.last_checkin_abnormal), row.current_serial, row.current_text, row.current_until_s,
             row.updated_at_s, row.updated_by, row.hold_by_role, row.hold_by, row.abnormal_day),
        )

    @staticmethod
    async def add_history(
        conn: aiosqlite.Connection, *, person_id: int, at_s: int, from_status: str, to_status: str,
        cause: str, reason: str, actor_id: int | None, actor_role: str | None = None,
    ) -> None:
        """Append one transition inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO pass_status_history (person_id, at, from_status, to_status, cause, reason, actor_id,"
            " actor_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, at_s, from_status, to_status, cause, reason, actor_id, actor_role),
        )

    @staticmethod
    async def role_of_in(conn: aiosqlite.Connection, person_id: int) -> str | None:
        """The role of ``people.id`` (for the history's ``actor_role``), or None when unknown."""
        async with conn.execute("SELECT role FROM people WHERE id = ?", (person_id,)) as cur:
            r = await cur.fetchone()
        return str(r[0]) if r is not None else None

    async def history(self, person_id: int, limit: int = 50) -> list[HistoryRow]:
        """The person's transitions, newest first."""
        rows = await self.db.fetch_all(
            "SELECT id, person_id, at, from_status, to_status, cause, reason, actor_id, actor_role"
            " FROM pass_status_history WHERE person_id = ? ORDER BY id DESC LIMIT ?",
            (person_id, limit),
        )
        return [HistoryRow(*r) for r in rows]

    @staticmethod
    async def add_arrival(
        conn: aiosqlite.Connection, *, person_id: int, counsellor_id: int, at_s: int, method: str,
        serial: bytes | None,
    ) -> None:
        """Record an arrival confirmation inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO arrivals (person_id, counsellor_id, at, method, serial) VALUES (?, ?, ?, ?, ?)",
            (person_id, counsellor_id, at_s, method, serial),
        )

    async def arrivals_of(self, person_id: int) -> list[tuple[int, int, str]]:
        """``(at_s, counsellor_id, method)`` of the person's arrival confirmations, oldest first."""
        rows = await self.db.fetch_all(
            "SELECT at, counsellor_id, method FROM arrivals WHERE person_id = ? ORDER BY id", (person_id,)
        )
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    async def pending_arrivals(self, departments: Sequence[str] | None, limit: int = 500) -> list[Pending]:
        """People approved but not arrived (black, or on hold from black) in ``departments``
        (None = every department), ordered by number."""
        sql = (
            "SELECT p.id, p.number, p.name, p.department, p.class_name, s.status FROM pass_status s"
            " JOIN people p ON p.id = s.person_id"
            " WHERE (s.status = 'black' OR (s.status = 'hold' AND s.base = 'black'))"
        )
        params: list[object] = []
        if departments is not None:
            if not departments:
                return []
            sql += f" AND p.department IN ({','.join('?' * len(departments))})"
            params.extend(departments)
        sql += " ORDER BY p.number LIMIT ?"
        params.append(limit)
        rows = await self.db.fetch_all(sql, params)
        return [Pending(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def missing_checkin(self, day: str, limit: int = 10000) -> list[int]:
        """Person ids with a black or green status whose latest check-in is not on ``day``."""
        rows = await self.db.fetch_all(
            "SELECT person_id FROM pass_status WHERE status IN ('black', 'green')"
            " AND (last_checkin_day IS NULL OR last_checkin_day < ?) ORDER BY person_id LIMIT ?",
            (day, limit),
        )
        return [int(r[0]) for r in rows]

    async def counts(self) -> dict[str, int]:
        """``{status: number of people}`` over every status row."""
        rows = await self.db.fetch_all("SELECT status, COUNT(*) FROM pass_status GROUP BY status")
        return {str(r[0]): int(r[1]) for r in rows}

    # -- dormitory scopes ------------------------------------------------------------------------

    async def dormitory_of(self, person_id: int) -> str | None:
        """The building group name of the person's dormitory, or None."""
        r = await self.db.fetch_one("SELECT group_name FROM dormitory_residents WHERE person_id = ?", (person_id,))
        return str(r[0]) if r is not None else None

    async def set_dormitory(self, person_id: int, group_name: str | None) -> None:
        """Set (or with None remove) the person's dormitory group."""
        async with self.db.transaction() as conn:
            if group_name is None:
                await conn.execute("DELETE FROM dormitory_residents WHERE person_id = ?", (person_id,))
            else:
                await conn.execute(
                    "INSERT INTO dormitory_residents (person_id, group_name) VALUES (?, ?)"
                    " ON CONFLICT (person_id) DO UPDATE SET group_name = excluded.group_name",
                    (person_id, group_name),
                )
