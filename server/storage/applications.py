"""Return-to-campus applications and their transitions (SQL only here).

The state machine itself (which transitions are legal, who may make them) lives in
:mod:`server.workflow.applications`; this module stores rows and changes a row's state only
from an expected state (``UPDATE ... WHERE id = ? AND state = ?``), so two reviewers acting at
once cannot both succeed. A partial unique index keeps at most one active application
(``submitted``, ``dept_approved``, ``approved``) per person.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import aiosqlite

from server.storage.database import Database


class AppState(StrEnum):
    """A return application's state (docs/architecture.md §3; the legal transitions are
    :data:`server.workflow.applications.TRANSITIONS`)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    DEPT_APPROVED = "dept_approved"
    APPROVED = "approved"
    ARRIVED = "arrived"
    DEPT_REJECTED = "dept_rejected"
    SCHOOL_REJECTED = "school_rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    REVOKED = "revoked"


ACTIVE_STATES: tuple[AppState, ...] = (AppState.SUBMITTED, AppState.DEPT_APPROVED, AppState.APPROVED)
"""At most one application per person is in one of these states."""
"""States that count as the person's one active application."""


@dataclass(frozen=True, slots=True)
class ItineraryLeg:
    """One leg of the journey back.

    Attributes:
        mode: ``rail`` | ``air`` | ``coach`` | ``car`` | ``other``.
        service_no: train/flight/coach number ("" for car).
        from_region_code / to_region_code: GB/T 2260 codes.
        depart_at / arrive_at: ISO 8601 local times with offset (``2026-03-05T08:30:00+08:00``).
    """

    mode: str
    service_no: str
    from_region_code: str
    to_region_code: str
    depart_at: str
    arrive_at: str


@dataclass(frozen=True, slots=True)
class NewApplication:
    """What submitting (or amending) an application stores."""

    person_id: int
    department: str
    planned_return_date: date
    departure_region_code: str
    itinerary: tuple[ItineraryLeg, ...]
    reason: str
    confirmations_version: str
    confirmations: dict[str, str]
    checkin_id: int | None
    expires_at_s: int
    version: int = 1
    previous_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReturnApplication:
    """One stored application (times in Unix seconds; people by ``people.id``).

    ``confirmations`` maps each confirmation key to the exact text confirmed (version
    ``confirmations_version``). ``decision_reason`` is the last rejection or revocation reason.
    """

    id: int
    person_id: int
    department: str
    version: int
    previous_id: int | None
    state: AppState
    planned_return_date: date
    departure_region_code: str
    itinerary: tuple[ItineraryLeg, ...]
    reason: str
    confirmations_version: str
    confirmations: dict[str, str]
    checkin_id: int | None
    created_at_s: int
    updated_at_s: int
    dept_decided_by: int | None
    dept_decided_at_s: int | None
    school_decided_by: int | None
    school_decided_at_s: int | None
    decision_reason: str
    arrived_by: int | None
    arrived_at_s: int | None
    expires_at_s: int

    @property
    def active(self) -> bool:
        """True in ``submitted``, ``dept_approved`` or ``approved``."""
        return self.state in ACTIVE_STATES


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded state change: who (id, role, name), when (Unix seconds), why."""

    id: int
    application_id: int
    from_state: str | None
    to_state: str
    actor_id: int | None
    actor_role: str
    actor_name: str
    at_s: int
    reason: str


@dataclass(frozen=True, slots=True)
class QueueItem:
    """An application in a reviewer's list, with the applicant's number, name and class."""

    application: ReturnApplication
    number: str
    name: str
    class_name: str | None = field(default=None)


_COLS = ("id, person_id, department, version, previous_id, state, planned_return_date, departure_region_code,"
         " itinerary, reason, confirmations_version, confirmations, checkin_id, created_at, updated_at,"
         " dept_decided_by, dept_decided_at, school_decided_by, school_decided_at, decision_reason,"
         " arrived_by, arrived_at, expires_at")
_DECISION_COLUMNS = frozenset({"dept_decided_by", "dept_decided_at", "school_decided_by", "school_decided_at",
                               "decision_reason", "arrived_by", "arrived_at"})


def _application(r: sqlite3.Row) -> ReturnApplication:
    legs = tuple(ItineraryLeg(**leg) for leg in json.loads(r["itinerary"]))
    return ReturnApplication(
        id=int(r["id"]), person_id=int(r["person_id"]), department=r["department"], version=int(r["version"]),
        previous_id=r["previous_id"], state=AppState(r["state"]), planned_return_date=date.fromisoformat(r["planned_return_date"]),
        departure_region_code=r["departure_region_code"], itinerary=legs, reason=r["reason"],
        confirmations_version=r["confirmations_version"], confirmations=json.loads(r["confirmations"]),
        checkin_id=r["checkin_id"], created_at_s=int(r["created_at"]), updated_at_s=int(r["updated_at"]),
        dept_decided_by=r["dept_decided_by"], dept_decided_at_s=r["dept_decided_at"],
        school_decided_by=r["school_decided_by"], school_decided_at_s=r["school_decided_at"],
        decision_reason=r["decision_reason"], arrived_by=r["arrived_by"], arrived_at_s=r["arrived_at"],
        expires_at_s=int(r["expires_at"]),
    )


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in _COLS.split(","))


class Applications:
    """Repository of return applications and their transitions.

    Args:
        db: the open database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, application_id: int) -> ReturnApplication | None:
        """The application with this id, or None."""
        row = await self.db.fetch_one(f"SELECT {_COLS} FROM return_applications WHERE id = ?", (application_id,))
        return _application(row) if row is not None else None

    async def active_of(self, person_id: int) -> ReturnApplication | None:
        """The person's active application (at most one), or None."""
        row = await self.db.fetch_one(
            f"SELECT {_COLS} FROM return_applications WHERE person_id = ?"
            f" AND state IN ({','.join('?' * len(ACTIVE_STATES))})",
            (person_id, *ACTIVE_STATES),
        )
        return _application(row) if row is not None else None

    async def of_person(self, person_id: int, *, limit: int = 50) -> list[ReturnApplication]:
        """Every application of the person (all versions), newest first."""
        rows = await self.db.fetch_all(
            f"SELECT {_COLS} FROM return_applications WHERE person_id = ? ORDER BY id DESC LIMIT ?",
            (person_id, limit),
        )
        return [_application(r) for r in rows]

    async def transitions(self, application_id: int) -> list[Transition]:
        """The recorded transitions of an application, oldest first, with the actor's name."""
        rows = await self.db.fetch_all(
            "SELECT t.id, t.application_id, t.from_state, t.to_state, t.actor_id, t.actor_role,"
            " COALESCE(p.name, ''), t.at, t.reason FROM application_transitions t"
            " LEFT JOIN people p ON p.id = t.actor_id WHERE t.application_id = ? ORDER BY t.id",
            (application_id,),
        )
        return [Transition(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8]) for r in rows]

    async def queue(self, departments: Sequence[str] | None, states: Sequence[str], *,
                    limit: int = 200, offset: int = 0) -> list[QueueItem]:
        """Applications in ``states`` of people in ``departments`` (None: every department),
        oldest first (first come, first served)."""
        if departments is not None and not departments:
            return []
        if not states:
            return []
        where = [f"a.state IN ({','.join('?' * len(states))})"]
        params: list[Any] = list(states)
        if departments is not None:
            where.append(f"a.department IN ({','.join('?' * len(departments))})")
            params.extend(departments)
        rows = await self.db.fetch_all(
            f"SELECT {_prefixed('a')}, p.number AS p_number, p.name AS p_name, p.class_name AS p_class"
            f" FROM return_applications a JOIN people p ON p.id = a.person_id WHERE {' AND '.join(where)}"
            " ORDER BY a.created_at, a.id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [QueueItem(_application(r), r["p_number"], r["p_name"], r["p_class"]) for r in rows]

    async def due_for_expiry(self, now_s: int, *, limit: int = 500) -> list[ReturnApplication]:
        """Active applications whose ``expires_at`` is at or before ``now_s``."""
        rows = await self.db.fetch_all(
            f"SELECT {_COLS} FROM return_applications WHERE state IN ({','.join('?' * len(ACTIVE_STATES))})"
            " AND expires_at <= ? ORDER BY expires_at, id LIMIT ?",
            (*ACTIVE_STATES, now_s, limit),
        )
        return [_application(r) for r in rows]

    # -- writes (inside the caller's transaction) ------------------------------------------------

    @staticmethod
    async def active_id(conn: aiosqlite.Connection, person_id: int) -> int | None:
        """Id of the person's active application read inside the transaction, or None."""
        async with conn.execute(
            f"SELECT id FROM return_applications WHERE person_id = ?"
            f" AND state IN ({','.join('?' * len(ACTIVE_STATES))})",
            (person_id, *ACTIVE_STATES),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None else None

    @staticmethod
    async def insert(conn: aiosqlite.Connection, new: NewApplication, *, state: str, now_s: int) -> int:
        """Store a new application in ``state``; returns its id.

        Raises:
            sqlite3.IntegrityError: the person already has an active application (the caller
                checks first inside the same transaction, so this only guards the invariant).
        """
        itinerary = json.dumps([{
            "mode": leg.mode, "service_no": leg.service_no, "from_region_code": leg.from_region_code,
            "to_region_code": leg.to_region_code, "depart_at": leg.depart_at, "arrive_at": leg.arrive_at,
        } for leg in new.itinerary], ensure_ascii=False)
        cur = await conn.execute(
            "INSERT INTO return_applications (person_id, department, version, previous_id, state,"
            " planned_return_date, departure_region_code, itinerary, reason, confirmations_version, confirmations,"
            " checkin_id, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (new.person_id, new.department, new.version, new.previous_id, state, new.planned_return_date.isoformat(),
             new.departure_region_code, itinerary, new.reason, new.confirmations_version,
             json.dumps(new.confirmations, ensure_ascii=False, sort_keys=True), new.checkin_id, now_s, now_s,
             new.expires_at_s),
        )
        row = await cur.fetchone()
        assert row is not None  # RETURNING yields the inserted row
        return int(row[0])

    @staticmethod
    async def move(conn: aiosqlite.Connection, application_id: int, from_state: str, to_state: str, *,
                   now_s: int, **decision: Any) -> bool:
        """Change the state from ``from_state`` to ``to_state`` and set decision columns
        (``dept_decided_by``, ``dept_decided_at``, ``school_decided_by``, ``school_decided_at``,
        ``decision_reason``, ``arrived_by``, ``arrived_at``).

        Returns:
            False when the row is no longer in ``from_state`` (someone else acted first).

        Raises:
            ValueError: an unknown decision column.
        """
        unknown = set(decision) - _DECISION_COLUMNS
        if unknown:
            raise ValueError(f"unknown application columns {sorted(unknown)}")
        sets = ["state = ?", "updated_at = ?", *(f"{name} = ?" for name in decision)]
        cur = await conn.execute(
            f"UPDATE return_applications SET {', '.join(sets)} WHERE id = ? AND state = ?",
            (to_state, now_s, *decision.values(), application_id, from_state),
        )
        return cur.rowcount == 1

    @staticmethod
    async def add_transition(conn: aiosqlite.Connection, application_id: int, from_state: str | None,
                             to_state: str, *, actor_id: int | None, actor_role: str, now_s: int,
                             reason: str = "") -> None:
        """Record a transition (who, when, why) inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO application_transitions (application_id, from_state, to_state, actor_id, actor_role, at,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (application_id, from_state, to_state, actor_id, actor_role, now_s, reason),
        )
