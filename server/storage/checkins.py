"""Daily health check-ins (SQL only here).

One row per person per check-in day (``UNIQUE (person_id, day)``); a resubmission the same day
updates that row through ``INSERT ... ON CONFLICT DO UPDATE`` and counts a revision, so a double
tap or a retry after a timeout never makes two rows. The answers an edit replaces are not lost:
a trigger of the schema (migration ``0220_hold_rules.sql``) copies them to ``checkin_revisions``
in the same statement (:meth:`Checkins.replaced` reads them), and ``abnormal_on_record`` stays 1
once any answer of the day was abnormal. Days are ``YYYY-MM-DD`` in Asia/Shanghai (computed by
the caller with :func:`shared.campus_time.checkin_day`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import aiosqlite

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class CheckinAnswers:
    """The answers of one check-in (docs/architecture.md §2.2, the minimal fields).

    Attributes:
        location_kind: ``on_campus`` | ``same_city`` | ``other_province`` | ``abroad``.
        region_code: GB/T 2260 6-digit code, or None (on campus, abroad).
        temperature_c: body temperature in °C (34.0–42.5).
        symptoms: symptom codes; ``("none",)`` when none.
        case_contact_14d: contact with a confirmed/suspected case in the last 14 days.
        risk_area_14d: stay in a medium/high-risk area in the last 14 days.
        case_status: ``none`` | ``suspected`` | ``confirmed`` | ``asymptomatic``.
        remarks: free text (at most 500 characters).
    """

    location_kind: str
    region_code: str | None
    temperature_c: float
    symptoms: tuple[str, ...]
    case_contact_14d: bool
    risk_area_14d: bool
    case_status: str
    remarks: str = ""


@dataclass(frozen=True, slots=True)
class Checkin:
    """One stored check-in.

    Attributes:
        id: row id.
        person_id: ``people.id``.
        day: the Asia/Shanghai check-in day.
        answers: what was answered.
        abnormal: the latest answers are abnormal (computed by the workflow when stored).
        same_as_yesterday: submitted with the one-tap "no change since yesterday".
        submitted_at_s / updated_at_s: first and last submission (Unix seconds).
        revisions: number of submissions that day (1 for the first).
        abnormal_on_record: some answer of the day was abnormal, even if edited since (an
            abnormal check-in stays on record; docs/workflow.md).
    """

    id: int
    person_id: int
    day: date
    answers: CheckinAnswers
    abnormal: bool
    same_as_yesterday: bool
    submitted_at_s: int
    updated_at_s: int
    revisions: int
    abnormal_on_record: bool = False


@dataclass(frozen=True, slots=True)
class ReplacedAnswers:
    """Answers a same-day edit replaced (kept in ``checkin_revisions``).

    Attributes:
        day: the check-in day.
        revision: which submission of the day it was (1 for the first).
        answers: what was answered then.
        abnormal: those answers were abnormal.
        same_as_yesterday: submitted with the one tap.
        submitted_at_s: when it was submitted (Unix seconds).
    """

    day: date
    revision: int
    answers: CheckinAnswers
    abnormal: bool
    same_as_yesterday: bool
    submitted_at_s: int


@dataclass(frozen=True, slots=True)
class AbnormalCheckin:
    """An abnormal check-in with the person's number, name and department (counsellor list)."""

    checkin: Checkin
    number: str
    name: str
    department: str | None


@dataclass(frozen=True, slots=True)
class MissingPerson:
    """Someone who has not checked in yet: id, number, name, department, phone (or None)."""

    id: int
    number: str
    name: str
    department: str | None
    phone: str | None


_COLS = ("id, person_id, day, location_kind, region_code, temperature_c, symptoms, case_contact_14d,"
         " risk_area_14d, case_status, remarks, abnormal, same_as_yesterday, submitted_at, updated_at, revisions,"
         " abnormal_on_record")


def _answers(r: sqlite3.Row) -> CheckinAnswers:
    return CheckinAnswers(
        location_kind=r["location_kind"], region_code=r["region_code"], temperature_c=float(r["temperature_c"]),
        symptoms=tuple(json.loads(r["symptoms"])), case_contact_14d=bool(r["case_contact_14d"]),
        risk_area_14d=bool(r["risk_area_14d"]), case_status=r["case_status"], remarks=r["remarks"],
    )


def _checkin(r: sqlite3.Row) -> Checkin:
    return Checkin(int(r["id"]), int(r["person_id"]), date.fromisoformat(r["day"]), _answers(r), bool(r["abnormal"]),
                   bool(r["same_as_yesterday"]), int(r["submitted_at"]), int(r["updated_at"]), int(r["revisions"]),
                   bool(r["abnormal_on_record"]))


class Checkins:
    """Repository of check-ins.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def for_day(self, person_id: int, day: date) -> Checkin | None:
        """The check-in of ``person_id`` on ``day``, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLS} FROM checkins WHERE person_id = ? AND day = ?",
                                      (person_id, day.isoformat()))
        return _checkin(row) if row is not None else None

    async def latest_day(self, person_id: int) -> date | None:
        """The day of the person's latest stored check-in, or None."""
        row = await self.db.fetch_one("SELECT MAX(day) FROM checkins WHERE person_id = ?", (person_id,))
        return date.fromisoformat(row[0]) if row is not None and row[0] is not None else None

    async def get(self, checkin_id: int) -> Checkin | None:
        """The check-in with this id, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLS} FROM checkins WHERE id = ?", (checkin_id,))
        return _checkin(row) if row is not None else None

    async def history(self, person_id: int, first: date, last: date, *, limit: int = 366) -> list[Checkin]:
        """Check-ins of ``person_id`` from ``first`` to ``last`` (inclusive days), newest first."""
        rows = await self.db.fetch_all(
            f"SELECT {_COLS} FROM checkins WHERE person_id = ? AND day BETWEEN ? AND ? ORDER BY day DESC LIMIT ?",
            (person_id, first.isoformat(), last.isoformat(), limit),
        )
        return [_checkin(r) for r in rows]

    async def replaced(self, person_id: int, first: date, last: date, *, limit: int = 1000) -> list[ReplacedAnswers]:
        """Answers of ``person_id`` that same-day edits replaced, days ``first`` to ``last``
        (inclusive), newest day first, then latest revision first."""
        rows = await self.db.fetch_all(
            "SELECT day, revision, location_kind, region_code, temperature_c, symptoms, case_contact_14d,"
            " risk_area_14d, case_status, remarks, abnormal, same_as_yesterday, submitted_at FROM checkin_revisions"
            " WHERE person_id = ? AND day BETWEEN ? AND ? ORDER BY day DESC, revision DESC LIMIT ?",
            (person_id, first.isoformat(), last.isoformat(), limit),
        )
        return [ReplacedAnswers(date.fromisoformat(r["day"]), int(r["revision"]), _answers(r), bool(r["abnormal"]),
                                bool(r["same_as_yesterday"]), int(r["submitted_at"])) for r in rows]

    async def abnormal_in_departments(self, departments: Sequence[str] | None, day: date,
                                      *, limit: int = 500) -> list[AbnormalCheckin]:
        """Check-ins of ``day`` with an abnormal answer on record (even when edited back to
        normal since) of people in ``departments`` (None: all), by number."""
        where, params = "c.day = ? AND c.abnormal_on_record = 1", [day.isoformat()]
        if departments is not None:
            if not departments:
                return []
            where += f" AND p.department IN ({','.join('?' * len(departments))})"
            params.extend(departments)
        cols = ", ".join("c." + c.strip() for c in _COLS.split(","))
        rows = await self.db.fetch_all(
            f"SELECT {cols}, p.number AS p_number, p.name AS p_name, p.department AS p_department"
            f" FROM checkins c JOIN people p ON p.id = c.person_id WHERE {where} ORDER BY p.number LIMIT ?",
            [*params, limit],
        )
        return [AbnormalCheckin(_checkin(r), r["p_number"], r["p_name"], r["p_department"]) for r in rows]

    async def missing_in_departments(self, departments: Sequence[str] | None, day: date,
                                     *, limit: int = 2000) -> list[MissingPerson]:
        """Students and staff of ``departments`` (None: all) with no check-in on ``day``, by number."""
        where, params = "p.role IN ('student', 'staff') AND c.id IS NULL", [day.isoformat()]
        if departments is not None:
            if not departments:
                return []
            where += f" AND p.department IN ({','.join('?' * len(departments))})"
            params.extend(departments)
        rows = await self.db.fetch_all(
            "SELECT p.id, p.number, p.name, p.department, p.phone FROM people p"
            " LEFT JOIN checkins c ON c.person_id = p.id AND c.day = ?"
            f" WHERE {where} ORDER BY p.number LIMIT ?",
            [*params, limit],
        )
        return [MissingPerson(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    async def delete_before(self, day: date) -> int:
        """Delete check-ins of days before ``day`` (retention), with the answers their edits
        replaced; applications keep their other fields but lose the link to a deleted check-in.
        Returns the number of check-ins deleted."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM checkin_revisions WHERE day < ?", (day.isoformat(),))
            await conn.execute(
                "UPDATE return_applications SET checkin_id = NULL"
                " WHERE checkin_id IN (SELECT id FROM checkins WHERE day < ?)", (day.isoformat(),))
            cur = await conn.execute("DELETE FROM checkins WHERE day < ?", (day.isoformat(),))
            return cur.rowcount

    @staticmethod
    async def upsert(conn: aiosqlite.Connection, *, person_id: int, day: date, answers: CheckinAnswers,
                     abnormal: bool, same_as_yesterday: bool, now_s: int) -> tuple[Checkin, bool]:
        """Store the check-in of ``person_id`` for ``day`` inside the caller's transaction.

        A second submission the same day replaces the answers and counts a revision; the
        replaced answers go to ``checkin_revisions`` (the schema's trigger, same statement) and
        ``abnormal_on_record`` never goes back from 1 to 0.

        Returns:
            ``(checkin, created)``: the stored row and whether this was the day's first submission.
        """
        a = answers
        # One round trip to the database thread (execute + fetch in one call).
        rows = await conn.execute_fetchall(
            "INSERT INTO checkins (person_id, day, location_kind, region_code, temperature_c, symptoms,"
            " case_contact_14d, risk_area_14d, case_status, remarks, abnormal, same_as_yesterday,"
            " submitted_at, updated_at, revisions, abnormal_on_record)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
            " ON CONFLICT (person_id, day) DO UPDATE SET location_kind = excluded.location_kind,"
            " region_code = excluded.region_code, temperature_c = excluded.temperature_c,"
            " symptoms = excluded.symptoms, case_contact_14d = excluded.case_contact_14d,"
            " risk_area_14d = excluded.risk_area_14d, case_status = excluded.case_status,"
            " remarks = excluded.remarks, abnormal = excluded.abnormal,"
            " same_as_yesterday = excluded.same_as_yesterday, updated_at = excluded.updated_at,"
            " revisions = checkins.revisions + 1,"
            " abnormal_on_record = CASE WHEN excluded.abnormal_on_record = 1 THEN 1"
            " ELSE checkins.abnormal_on_record END"
            f" RETURNING {_COLS}",
            (person_id, day.isoformat(), a.location_kind, a.region_code, a.temperature_c,
             json.dumps(list(a.symptoms)), int(a.case_contact_14d), int(a.risk_area_14d), a.case_status,
             a.remarks, int(abnormal), int(same_as_yesterday), now_s, now_s, int(abnormal)),
        )
        stored = _checkin(next(iter(rows)))  # RETURNING always yields the row
        return stored, stored.revisions == 1
