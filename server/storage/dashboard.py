"""Dashboard queries: check-in progress, who has not checked in, reminders, campus figures and
export rows (SQL only here; issue 9, docs/dashboards.md).

"Expected to check in" means every person whose role is in :data:`EXPECTED_ROLES` (students
and staff), counted in their roster department. Days are ``YYYY-MM-DD`` in Asia/Shanghai,
computed by the caller with :func:`shared.campus_time.checkin_day`. Departments are given as a
sequence of codes, or None for every department (admins); an empty sequence matches nothing.

A reminder counts once per person and day whichever path queued it: rows in
``checkin_reminders`` (this module's service) and outbox messages with the shared id
``checkin_reminder:<person>:<day>`` (the workflow's reminder route uses it too).

Figures of closed days (before today; a check-in can only be written for the current day) are
computed once and kept in ``checkin_day_stats``, so the 14-day campus view reads a few hundred
rows instead of every check-in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import aiosqlite

from server.storage.database import Database

EXPECTED_ROLES: tuple[str, ...] = ("student", "staff")
"""Roles that check in daily (the check-in routes are open to these)."""

_ROLES_SQL = f"p.role IN ({','.join(repr(r) for r in EXPECTED_ROLES)})"

REMINDER_PURPOSE = "checkin_reminder"
_OUTBOX_ID = f"'{REMINDER_PURPOSE}:' || CAST(p.id AS TEXT) || ':' || ?"
"""SQL of a person's reminder outbox id for a day (one ``?``): ``checkin_reminder:<id>:<day>``,
the id every reminder path uses, so a reminder queued by any of them counts."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Check-in progress of one department and class on one day.

    Attributes:
        department: department code ("" when the roster gives none).
        class_name: class label ("" when none).
        expected: people expected to check in.
        done: of them, those who checked in.
        abnormal: of those, check-ins with an abnormal answer on record (even when edited since).
    """

    department: str
    class_name: str
    expected: int
    done: int
    abnormal: int

    @property
    def missing(self) -> int:
        """People who have not checked in."""
        return self.expected - self.done


@dataclass(frozen=True, slots=True)
class MissingPerson:
    """Someone expected to check in on a day who has not.

    Attributes:
        person_id: ``people.id``.
        number / name / department / class_name / phone: from the roster (phone may be None).
        reminded_at_s: when they were reminded that day (Unix seconds), or None.
        reminded_kind: ``manual`` or ``auto`` when reminded.
    """

    person_id: int
    number: str
    name: str
    department: str | None
    class_name: str | None
    phone: str | None
    reminded_at_s: int | None
    reminded_kind: str | None


@dataclass(frozen=True, slots=True)
class ReminderTarget:
    """A person a reminder was asked for, with what decides whether one is sent."""

    person_id: int
    number: str
    name: str
    department: str | None
    role: str
    phone: str | None
    checked_in: bool
    reminded: bool


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder sent: whom, when (Unix seconds), how (``manual``/``auto``), by whom (name,
    "" for the automatic job), and whether the person has checked in since."""

    person_id: int
    number: str
    name: str
    department: str | None
    class_name: str | None
    at_s: int
    kind: str
    actor_name: str
    checked_in: bool


@dataclass(frozen=True, slots=True)
class DayStat:
    """Check-in figures of one department on one day: expected, done, abnormal."""

    day: date
    department: str
    expected: int
    done: int
    abnormal: int


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An application in a light approval list: id, applicant, department, planned date, version."""

    id: int
    number: str
    name: str
    class_name: str | None
    department: str
    planned_return_date: date
    version: int


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _dept_clause(departments: Sequence[str] | None, column: str = "p.department") -> tuple[str, list[Any]] | None:
    """``(sql, params)`` restricting to ``departments``; ``("", [])`` for all; None when nothing can match."""
    if departments is None:
        return "", []
    if not departments:
        return None
    sql, params = _in(column, departments)
    return " AND " + sql, params


def _missing_filter(roles: Sequence[str], search: str | None) -> tuple[str, list[Any]]:
    """SQL (`` AND ...``) and parameters keeping ``roles`` and, with ``search``, people whose
    number, name or class contains it (LIKE wildcards in it are taken literally)."""
    sql, params = _in("p.role", roles)
    out, out_params = " AND " + sql, list(params)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        out += (" AND (p.number LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\'"
                " OR COALESCE(p.class_name, '') LIKE ? ESCAPE '\\')")
        out_params += [pattern, pattern, pattern]
    return out, out_params


class DashboardStore:
    """Read queries of the dashboards and the reminder records.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- today's progress and the not-yet list ---------------------------------------------------

    async def progress(self, departments: Sequence[str] | None, day: date,
                       roles: Sequence[str] = EXPECTED_ROLES) -> list[Progress]:
        """Progress of ``day`` per department and class, ordered by department, class; only
        people with one of ``roles`` (a counsellor's figures are of students)."""
        clause = _dept_clause(departments)
        if clause is None:
            return []
        role_sql, role_params = _in("p.role", roles)
        rows = await self.db.fetch_all(
            "SELECT COALESCE(p.department, ''), COALESCE(p.class_name, ''), COUNT(*), COUNT(c.id),"
            " COALESCE(SUM(c.abnormal_on_record), 0) FROM people p"
            " LEFT JOIN checkins c ON c.person_id = p.id AND c.day = ?"
            f" WHERE {_ROLES_SQL} AND {role_sql}{clause[0]} GROUP BY 1, 2 ORDER BY 1, 2",
            [day.isoformat(), *role_params, *clause[1]],
        )
        return [Progress(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]

    async def missing(self, departments: Sequence[str] | None, day: date, *, limit: int = 500,
                      offset: int = 0, roles: Sequence[str] = EXPECTED_ROLES,
                      search: str | None = None) -> list[MissingPerson]:
        """People expected on ``day`` without a check-in that day, by department, class, number,
        with that day's reminder if any; only ``roles``, and with ``search`` only those whose
        number, name or class contains it."""
        clause = _dept_clause(departments)
        if clause is None:
            return []
        extra, extra_params = _missing_filter(roles, search)
        rows = await self.db.fetch_all(
            "SELECT p.id, p.number, p.name, p.department, p.class_name, p.phone, COALESCE(r.at, o.created_at),"
            " COALESCE(r.kind, CASE WHEN o.id IS NULL THEN NULL ELSE 'manual' END) FROM people p"
            " LEFT JOIN checkin_reminders r ON r.person_id = p.id AND r.day = ?"
            f" LEFT JOIN sms_outbox o ON o.id = {_OUTBOX_ID}"
            f" WHERE {_ROLES_SQL}{extra}{clause[0]}"
            " AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.person_id = p.id AND c.day = ?)"
            " ORDER BY p.department, p.class_name, p.number LIMIT ? OFFSET ?",
            [day.isoformat(), day.isoformat(), *extra_params, *clause[1], day.isoformat(), limit, offset],
        )
        return [MissingPerson(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def missing_ids(self, departments: Sequence[str] | None, day: date, *,
                          roles: Sequence[str] = EXPECTED_ROLES, search: str | None = None) -> list[int]:
        """Ids of everyone expected on ``day`` without a check-in that day (only ``roles``;
        ``search`` as in :meth:`missing`), by id."""
        clause = _dept_clause(departments)
        if clause is None:
            return []
        extra, extra_params = _missing_filter(roles, search)
        rows = await self.db.fetch_all(
            f"SELECT p.id FROM people p WHERE {_ROLES_SQL}{extra}{clause[0]}"
            " AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.person_id = p.id AND c.day = ?) ORDER BY p.id",
            [*extra_params, *clause[1], day.isoformat()],
        )
        return [int(r[0]) for r in rows]

    async def reminder_targets(self, person_ids: Sequence[int], day: date) -> list[ReminderTarget]:
        """The people of ``person_ids`` that exist, with whether they checked in or were
        reminded on ``day`` (order of the ids; unknown ids are left out)."""
        found: dict[int, ReminderTarget] = {}
        ids = list(dict.fromkeys(person_ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = await self.db.fetch_all(
                "SELECT p.id, p.number, p.name, p.department, p.role, p.phone,"
                " EXISTS (SELECT 1 FROM checkins c WHERE c.person_id = p.id AND c.day = ?),"
                " EXISTS (SELECT 1 FROM checkin_reminders r WHERE r.person_id = p.id AND r.day = ?)"
                f" OR EXISTS (SELECT 1 FROM sms_outbox o WHERE o.id = {_OUTBOX_ID})"
                f" FROM people p WHERE p.id IN ({','.join('?' * len(part))})",
                [day.isoformat(), day.isoformat(), day.isoformat(), *part],
            )
            for r in rows:
                found[int(r[0])] = ReminderTarget(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]))
        return [found[i] for i in ids if i in found]

    # -- reminders -----------------------------------------------------------------------------

    @staticmethod
    async def add_reminder(conn: aiosqlite.Connection, *, person_id: int, day: date, at_s: int, kind: str,
                           actor_id: int | None, sms_id: str | None) -> bool:
        """Record a reminder inside the caller's transaction; False when the person was already
        reminded that day (nothing is changed then: one reminder per person per day)."""
        cur = await conn.execute(
            "INSERT INTO checkin_reminders (person_id, day, at, kind, actor_id, sms_id) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id, day) DO NOTHING",
            (person_id, day.isoformat(), at_s, kind, actor_id, sms_id),
        )
        return cur.rowcount == 1

    async def reminders(self, departments: Sequence[str] | None, day: date, *, limit: int = 2000) -> list[Reminder]:
        """Reminders of ``day`` to people of ``departments``, newest first."""
        clause = _dept_clause(departments)
        if clause is None:
            return []
        d = day.isoformat()
        rows = await self.db.fetch_all(
            "SELECT p.id, p.number, p.name, p.department, p.class_name, r.at, r.kind, COALESCE(a.name, ''),"
            " EXISTS (SELECT 1 FROM checkins c WHERE c.person_id = p.id AND c.day = r.day)"
            " FROM checkin_reminders r JOIN people p ON p.id = r.person_id"
            " LEFT JOIN people a ON a.id = r.actor_id"
            f" WHERE r.day = ?{clause[0]}"
            " UNION ALL"
            " SELECT p.id, p.number, p.name, p.department, p.class_name, o.created_at, 'manual', '',"
            " EXISTS (SELECT 1 FROM checkins c WHERE c.person_id = p.id AND c.day = ?)"
            " FROM sms_outbox o JOIN people p ON p.id = o.person_id"
            f" WHERE o.purpose = 'checkin_reminder' AND o.id = {_OUTBOX_ID}{clause[0]}"
            " AND NOT EXISTS (SELECT 1 FROM checkin_reminders r WHERE r.person_id = p.id AND r.day = ?)"
            " ORDER BY 6 DESC, 2 LIMIT ?",
            [d, *clause[1], d, d, *clause[1], d, limit],
        )
        return [Reminder(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], bool(r[8])) for r in rows]

    async def auto_run_of(self, day: date) -> tuple[int, int] | None:
        """``(at_s, reminded)`` of the automatic reminder's run for ``day``, or None."""
        row = await self.db.fetch_one("SELECT at, reminded FROM reminder_runs WHERE day = ?", (day.isoformat(),))
        return (int(row[0]), int(row[1])) if row is not None else None

    @staticmethod
    async def record_auto_run(conn: aiosqlite.Connection, day: date, at_s: int, reminded: int) -> None:
        """Record that the automatic reminder of ``day`` ran (at ``at_s``, reaching ``reminded``
        people) inside the caller's transaction; a second record of the same day is ignored."""
        await conn.execute(
            "INSERT INTO reminder_runs (day, at, reminded) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING",
            (day.isoformat(), at_s, reminded),
        )

    # -- daily figures -------------------------------------------------------------------------

    async def expected_by_department(self, departments: Sequence[str] | None) -> dict[str, int]:
        """``{department: people expected to check in}`` (current roster)."""
        clause = _dept_clause(departments)
        if clause is None:
            return {}
        rows = await self.db.fetch_all(
            f"SELECT COALESCE(p.department, ''), COUNT(*) FROM people p WHERE {_ROLES_SQL}{clause[0]} GROUP BY 1",
            clause[1],
        )
        return {r[0]: int(r[1]) for r in rows}

    async def _live_days(self, departments: Sequence[str] | None, first: date, last: date) -> list[DayStat]:
        clause = _dept_clause(departments)
        if clause is None:
            return []
        expected = await self.expected_by_department(departments)
        rows = await self.db.fetch_all(
            "SELECT c.day, COALESCE(p.department, ''), COUNT(*), SUM(c.abnormal_on_record) FROM checkins c"
            " JOIN people p ON p.id = c.person_id"
            f" WHERE c.day BETWEEN ? AND ? AND {_ROLES_SQL}{clause[0]} GROUP BY 1, 2",
            [first.isoformat(), last.isoformat(), *clause[1]],
        )
        done = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}
        out = []
        day = first
        while day <= last:
            for dept in sorted(set(expected) | {d for (x, d) in done if x == day.isoformat()}):
                n, ab = done.get((day.isoformat(), dept), (0, 0))
                out.append(DayStat(day, dept, expected.get(dept, 0), n, ab))
            day += timedelta(days=1)
        return out

    async def _close_days(self, days: Sequence[date], now_s: int) -> None:
        """Compute and keep the figures of closed ``days`` (every department)."""
        if not days:
            return
        stats = await self._live_days(None, min(days), max(days))
        wanted = {d.isoformat() for d in days}
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO checkin_day_stats (day, department, expected, done, abnormal) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (day, department) DO NOTHING",
                [(s.day.isoformat(), s.department, s.expected, s.done, s.abnormal) for s in stats
                 if s.day.isoformat() in wanted],
            )
            await conn.executemany(
                "INSERT INTO checkin_stat_days (day, computed_at) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
                [(d, now_s) for d in sorted(wanted)],
            )

    async def daily(self, departments: Sequence[str] | None, first: date, last: date, *, today: date,
                    now_s: int) -> list[DayStat]:
        """Figures per day and department from ``first`` to ``last`` (inclusive), by day then
        department. Closed days (before ``today``) come from the kept figures (computed on
        first use, as the roster stood then); ``today`` is counted live; later days are empty.

        Args:
            departments: department codes, or None for all.
            first / last: the day range.
            today: the current check-in day.
            now_s: the current time (Unix seconds), recorded with newly kept figures.
        """
        clause = _dept_clause(departments, "department")
        if clause is None or last < first:
            return []
        closed_last = min(last, today - timedelta(days=1))
        out: list[DayStat] = []
        if first <= closed_last:
            rows = await self.db.fetch_all("SELECT day FROM checkin_stat_days WHERE day BETWEEN ? AND ?",
                                           (first.isoformat(), closed_last.isoformat()))
            have = {r[0] for r in rows}
            todo = [first + timedelta(days=i) for i in range((closed_last - first).days + 1)]
            await self._close_days([d for d in todo if d.isoformat() not in have], now_s)
            rows = await self.db.fetch_all(
                "SELECT day, department, expected, done, abnormal FROM checkin_day_stats"
                f" WHERE day BETWEEN ? AND ?{clause[0]} ORDER BY day, department",
                [first.isoformat(), closed_last.isoformat(), *clause[1]],
            )
            out.extend(DayStat(date.fromisoformat(r[0]), r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows)
        if first <= today <= last:
            out.extend(await self._live_days(departments, today, today))
        return out

    # -- campus figures ------------------------------------------------------------------------

    async def applications_by_state(self, departments: Sequence[str] | None) -> dict[str, int]:
        """``{state: number of applications}`` (every version counted once)."""
        clause = _dept_clause(departments, "department")
        if clause is None:
            return {}
        rows = await self.db.fetch_all(
            f"SELECT state, COUNT(*) FROM return_applications WHERE 1 = 1{clause[0]} GROUP BY state", clause[1])
        return {r[0]: int(r[1]) for r in rows}

    async def arrivals_per_hour(self, departments: Sequence[str] | None, first_s: int, last_s: int) -> dict[int, int]:
        """``{hour (Unix seconds of the UTC hour start): arrivals}`` with ``first_s <= at < last_s``."""
        clause = _dept_clause(departments)
        if clause is None:
            return {}
        rows = await self.db.fetch_all(
            "SELECT (a.at / 3600) * 3600, COUNT(*) FROM arrivals a JOIN people p ON p.id = a.person_id"
            f" WHERE a.at >= ? AND a.at < ?{clause[0]} GROUP BY 1",
            [first_s, last_s, *clause[1]],
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def scans_per_building_hour(self, first_ms: int, last_ms: int) -> dict[tuple[str, int], tuple[int, int]]:
        """``{(building, hour start in Unix seconds): (scans, accepted)}`` of door scans with
        ``first_ms <= at_ms < last_ms`` (scan time on the server's clock, milliseconds)."""
        rows = await self.db.fetch_all(
            "SELECT building, (at_ms / 3600000) * 3600, COUNT(*), SUM(CASE WHEN verdict = 'accept' THEN 1 ELSE 0 END)"
            " FROM scans WHERE at_ms >= ? AND at_ms < ? GROUP BY 1, 2",
            (first_ms, last_ms),
        )
        return {(r[0], int(r[1])): (int(r[2]), int(r[3] or 0)) for r in rows}

    async def buildings(self) -> dict[str, str]:
        """``{building code: name}``."""
        rows = await self.db.fetch_all("SELECT code, name FROM buildings ORDER BY code")
        return {r[0]: r[1] for r in rows}

    async def queue_rows(self, departments: Sequence[str] | None, state: str, *, planned_by: date | None = None,
                         limit: int = 200) -> tuple[list[QueueRow], int]:
        """A light approval list (no itinerary): applications in ``state`` of ``departments``
        planned on or before ``planned_by`` (any date when None), oldest first, at most
        ``limit``; and how many match in all."""
        clause = _dept_clause(departments, "a.department")
        if clause is None:
            return [], 0
        where = f"a.state = ?{clause[0]}"
        params: list[Any] = [state, *clause[1]]
        if planned_by is not None:
            where += " AND a.planned_return_date <= ?"
            params.append(planned_by.isoformat())
        rows = await self.db.fetch_all(
            "SELECT a.id, p.number, p.name, p.class_name, a.department, a.planned_return_date, a.version"
            f" FROM return_applications a JOIN people p ON p.id = a.person_id WHERE {where}"
            " ORDER BY a.created_at, a.id LIMIT ?", [*params, limit])
        count = await self.db.fetch_one(f"SELECT COUNT(*) FROM return_applications a WHERE {where}", params)
        return ([QueueRow(int(r[0]), r[1], r[2], r[3], r[4], date.fromisoformat(r[5]), int(r[6])) for r in rows],
                int(count[0]) if count else 0)

    # -- export rows ---------------------------------------------------------------------------

    async def applications_between(self, departments: Sequence[str] | None, first: date,
                                   last: date, *, limit: int = 100_000) -> list[dict[str, Any]]:
        """Applications whose planned return date is from ``first`` to ``last`` (inclusive), with
        the applicant's number, name, department and class, by planned date then number."""
        clause = _dept_clause(departments, "a.department")
        if clause is None:
            return []
        rows = await self.db.fetch_all(
            "SELECT a.id, p.number, p.name, a.department, p.class_name, a.version, a.state, a.planned_return_date,"
            " a.departure_region_code, a.created_at, a.dept_decided_at, a.school_decided_at, a.arrived_at,"
            " a.decision_reason FROM return_applications a JOIN people p ON p.id = a.person_id"
            f" WHERE a.planned_return_date BETWEEN ? AND ?{clause[0]}"
            " ORDER BY a.planned_return_date, p.number, a.id LIMIT ?",
            [first.isoformat(), last.isoformat(), *clause[1], limit],
        )
        return [dict(r) for r in rows]

    async def arrivals_between(self, departments: Sequence[str] | None, first_s: int, last_s: int,
                               *, limit: int = 100_000) -> list[dict[str, Any]]:
        """Arrival confirmations with ``first_s <= at < last_s``: the person (number, name,
        department, class, phone), when, how, and the confirming counsellor's name; by time."""
        clause = _dept_clause(departments)
        if clause is None:
            return []
        rows = await self.db.fetch_all(
            "SELECT p.number, p.name, p.department, p.class_name, p.phone, a.at, a.method,"
            " COALESCE(c.name, '') AS counsellor FROM arrivals a JOIN people p ON p.id = a.person_id"
            " LEFT JOIN people c ON c.id = a.counsellor_id"
            f" WHERE a.at >= ? AND a.at < ?{clause[0]} ORDER BY a.at, p.number LIMIT ?",
            [first_s, last_s, *clause[1], limit],
        )
        return [dict(r) for r in rows]

    # -- bulk loading (benchmarks and demonstration data) ----------------------------------------

    @staticmethod
    async def load_checkins(conn: aiosqlite.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert historical check-ins in one ``executemany`` inside the caller's transaction
        (existing ``(person_id, day)`` rows are kept). Each row: ``(person_id, day 'YYYY-MM-DD',
        location_kind, region_code, temperature_c, symptoms JSON, case_contact_14d 0/1,
        risk_area_14d 0/1, case_status, abnormal 0/1, submitted_at_s)``. Live check-ins go
        through the workflow (:class:`server.workflow.checkins.CheckinService`), never here."""
        await conn.executemany(
            "INSERT INTO checkins (person_id, day, location_kind, region_code, temperature_c, symptoms,"
            " case_contact_14d, risk_area_14d, case_status, remarks, abnormal, same_as_yesterday, submitted_at,"
            " updated_at, revisions, abnormal_on_record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0, ?, ?, 1, ?)"
            " ON CONFLICT (person_id, day) DO NOTHING",
            [(*r, r[-1], r[-2]) for r in rows],
        )
