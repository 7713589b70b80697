"""Pass status per person and pass issuance (docs/architecture.md §2.5–§2.7, §3).

Status: ``none`` (no approved return) → ``black`` (approved, not arrived) → ``green``
(arrival confirmed by a counsellor); ``hold`` (abnormal check-in, missed check-in, admin hold)
remembers the status it came from (``base``) and returns to it when cleared.

Who clears a hold (docs/passes.md, "Who clears a hold"; docs/security.md, separation of duties):

================== ================= ===========================================================
hold               placed by         cleared by
================== ================= ===========================================================
``missed_checkin`` system (the job)  the next normal check-in; a counsellor or school admin
``abnormal_checkin`` system (the     a counsellor or school admin; with ``[passes]
                   person's answer)  abnormal_hold_cleared_by = "counsellor_or_later_checkin"``
                                     also a normal check-in of a *later* day. Never an edit of
                                     the same day's answers: an abnormal answer stays on record
                                     (``abnormal_day``).
``admin``          counsellor        a counsellor or school admin
``admin``          school admin      a school admin only
================== ================= ===========================================================

The rule is "only a role at least as high as the one that placed it" (:data:`HOLD_RANK`); the
placing role is stored with the hold (``hold_by_role``, migration ``0220_hold_rules.sql``) and
every transition records its actor's role. A refused clear raises :class:`HoldClearRefused`.

The pure rules (``with_*``) compute the next row from the current one. :meth:`PassService.apply`
applies one inside the caller's transaction; the workflow calls it directly
(:meth:`PassService.checked_in`, :meth:`~PassService.approved`,
:meth:`~PassService.application_ended`, :meth:`~PassService.arrived`) next to its own writes,
so a change of a person's state commits whole or not at all. A person whose status is ``none``
is not written on a check-in (no pass to hold or issue), so the final approval reads today's
check-in itself to decide the first pass or an immediate hold.

Issuance: whenever the status or the day's check-in changes, a black or green person who has
a normal check-in today gets a freshly signed pass valid until the next day's check-in deadline
(``[passes] checkin_deadline``, Asia/Shanghai). A person without a check-in today gets no
fresh pass (the last one simply expires). Every status drop (hold, withdrawn, expired or
revoked application) first puts every unexpired pass serial of the person on the revocation
list, so a door that syncs refuses the old QR even before it expires.

Scope: the groups named in ``[passes] campus_groups`` (created when missing), plus, for a
dormitory resident (:meth:`PassStatusStore.set_dormitory`), their dormitory group; at most
three groups (the pass format's limit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import aiosqlite

from server import duties
from server.config import PassConfig
from server.datadir import DataDir
from server.errors import Category, Conflict, Forbidden
from server.passes import issue_pass
from server.storage.audit import AuditLog
from server.storage.buildings import Buildings
from server.storage.checkins import Checkin, Checkins
from server.storage.database import Database, StorageError
from server.storage.pass_status import HoldBy, HoldKind, PassStatusStore, Status, StatusRow
from server.storage.passes import Passes
from server.storage.people import People, Person
from shared.campus_time import checkin_day, local, next_checkin_deadline, parse_hhmm
from shared.clock import Clock, from_unix, to_unix
from shared.errors import CampusPassError
from shared.pass_format import MAX_SCOPES, PassStatus

log = logging.getLogger(__name__)


class PassStatusError(Conflict):
    """A status change that the current status does not allow (category conflict). Code
    ``bad_status`` (or ``not_on_hold``, ``already_arrived``, ``not_awaiting_arrival``,
    ``no_scope``); the message says what the status is."""

    code = "bad_status"


class HoldClearRefused(Forbidden):
    """The hold was placed by a higher role than the one trying to clear it (category
    forbidden). Code ``hold_needs_higher_role``; ``detail.placed_by`` names the placing role
    (``counsellor`` or ``school_admin``) and the message who can clear it."""

    code = "hold_needs_higher_role"


#: The rank of each placing role: a hold is cleared only by a role ranked at least as high, and
#: at least a counsellor (a system hold is cleared by staff, or by the check-in rules).
HOLD_RANK: dict[HoldBy, int] = {HoldBy.SYSTEM: 0, HoldBy.COUNSELLOR: 1, HoldBy.SCHOOL_ADMIN: 2}


def staff_hold_role(role: str) -> HoldBy:
    """The :class:`HoldBy` of a staff role that may place and clear holds.

    Raises:
        Forbidden: code ``forbidden``: the role may not hold or clear (docs/security.md,
            ``hold_and_clear``).
    """
    duties.require(role, "hold_and_clear", "put a pass on hold or clear a hold")
    return HoldBy(role)


@dataclass(frozen=True, slots=True)
class PassView:
    """What a person (or the API) sees about their pass.

    Attributes:
        status: none, black, green or hold.
        reason_code: why there is no pass to show, or ``""`` when a pass is shown. One of
            ``no_approved_return``, ``application_ended``, ``abnormal_checkin``, ``missed_checkin``,
            ``admin_hold``, ``checkin_needed``, ``pass_unavailable``.
        reason: the reason in words (an actor's text for holds and revocations), or ``""``.
        next_step_code: what the person should do (``next_<...>`` in the page catalogue; the
            keys of :data:`NEXT_STEPS` with that prefix): who clears a hold depends on who
            placed it and on ``[passes] abnormal_hold_cleared_by``.
        pass_text: the current pass (``CP1:...``) or None.
        valid_until: when the pass expires (aware UTC) or None.
        serial: the pass serial (hex) or None.
    """

    status: Status
    reason_code: str
    reason: str
    next_step_code: str
    pass_text: str | None
    valid_until: datetime | None
    serial: str | None


#: Default texts for the reason codes (the pages translate the codes; the API also returns these).
REASON_TEXTS = {
    "no_approved_return": "no approved return to campus",
    "application_ended": "the return application ended",
    "abnormal_checkin": "today's health check-in reported an abnormal answer",
    "missed_checkin": "no health check-in today before the deadline",
    "admin_hold": "on hold by the school",
    "checkin_needed": "no health check-in today yet",
    "pass_unavailable": "the pass cannot be issued right now",
}
NEXT_STEPS = {
    "no_approved_return": "do today's check-in, then apply to return to campus",
    "application_ended": "apply again when you plan to return; ask your counsellor if unsure",
    "abnormal_checkin": "contact your counsellor: the abnormal answer stays on record and editing today's "
                        "check-in does not lift the hold; only your counsellor (or the school) clears it",
    "abnormal_checkin_later": "contact your counsellor: the abnormal answer stays on record and editing today's "
                              "check-in does not lift the hold; your counsellor clears it, or a normal check-in "
                              "on a later day",
    "missed_checkin": "do today's health check-in; the pass comes back at once",
    "admin_hold": "contact your counsellor or the prevention office; your counsellor or the school clears the hold",
    "admin_hold_school": "contact the prevention office: the school placed this hold and only a school admin "
                         "clears it",
    "checkin_needed": "do today's health check-in to get today's pass",
    "pass_unavailable": "refresh in a minute; if it persists, tell the IT office",
}
#: How long the building group name → id map is reused (seconds).
GROUPS_TTL_S = 30.0

_HOLD_CODES: dict[str, str] = {"abnormal_checkin": "abnormal_checkin", "missed_checkin": "missed_checkin",
                               "admin": "admin_hold"}


def _drops(old: StatusRow, new: StatusRow) -> bool:
    return old.status in ("black", "green") and new.status in ("none", "hold") or (
        old.status == "hold" and new.status == "none")


def _released(row: StatusRow, status: Status, reason: str = "") -> StatusRow:
    """``row`` with ``status`` and nothing of a hold left."""
    return replace(row, status=status, hold_kind=None, hold_by_role=None, hold_by=None, reason=reason)


def with_checkin(row: StatusRow, day: str, abnormal: bool, *, later_day_clears: bool = False) -> StatusRow:
    """The row after a check-in on ``day`` (pure).

    An abnormal answer puts a black or green person on hold (placed by the system) and is kept
    on record (``abnormal_day``). A normal answer clears a missed check-in hold; it clears an
    abnormal check-in hold only when ``later_day_clears`` (``[passes] abnormal_hold_cleared_by
    = "counsellor_or_later_checkin"``) and ``day`` is later than the last abnormal day, never
    for an edit of the same day's answers. An admin hold stays either way.
    """
    row = replace(row, last_checkin_day=day, last_checkin_abnormal=abnormal)
    if abnormal:
        row = replace(row, abnormal_day=max(day, row.abnormal_day or day))
        if row.status in ("black", "green"):
            return replace(row, status=Status.HOLD, base=row.status, hold_kind=HoldKind.ABNORMAL_CHECKIN,
                           hold_by_role=HoldBy.SYSTEM, hold_by=None, reason=REASON_TEXTS["abnormal_checkin"])
        if row.status == "hold" and row.hold_kind == "missed_checkin":
            return replace(row, hold_kind=HoldKind.ABNORMAL_CHECKIN, reason=REASON_TEXTS["abnormal_checkin"])
        return row
    if row.status == "hold" and row.hold_kind == "missed_checkin":
        return _released(row, row.base)
    if (row.status == "hold" and row.hold_kind == "abnormal_checkin" and later_day_clears
            and day > (row.abnormal_day or day)):
        return _released(row, row.base)
    return row


def with_todays_checkin(row: StatusRow, checkin: Checkin | None) -> StatusRow:
    """``row`` with today's check-in (from the check-in table) as its latest check-in (pure):
    the row of a person whose status is ``none`` does not follow their check-ins, so approval
    reads today's check-in itself. Unchanged when ``checkin`` is None or older than the stored day."""
    if checkin is None:
        return row
    day = checkin.day.isoformat()
    if row.last_checkin_day is not None and row.last_checkin_day > day:
        return row
    # an abnormal answer of the day stays on record even when edited back to normal
    abnormal_day = day if checkin.abnormal_on_record else row.abnormal_day
    return replace(row, last_checkin_day=day, last_checkin_abnormal=checkin.abnormal, abnormal_day=abnormal_day)


def with_hold(row: StatusRow, kind: HoldKind, reason: str, by: HoldBy = HoldBy.SYSTEM,
              by_id: int | None = None) -> StatusRow:
    """The row after a hold placed by ``by`` (``people.id`` ``by_id``; pure). On a person
    already on hold, a staff hold makes it an admin hold, and the placing role becomes the
    higher of the two (a counsellor's hold on top of a school admin's stays the school admin's).

    Raises:
        PassStatusError: unless black, green or on hold.
    """
    if row.status in ("black", "green"):
        return replace(row, status=Status.HOLD, base=row.status, hold_kind=kind, hold_by_role=by, hold_by=by_id,
                       reason=reason)
    if row.status == "hold":
        current = row.hold_by_role or HoldBy.SYSTEM
        higher = HOLD_RANK[by] >= HOLD_RANK[current]
        return replace(row, hold_kind=kind if kind == HoldKind.ADMIN else row.hold_kind, reason=reason,
                       hold_by_role=by if higher else current, hold_by=by_id if higher else row.hold_by)
    raise PassStatusError(f"status is {row.status}; only a black or green pass can be put on hold")


def with_cleared(row: StatusRow, by: HoldBy) -> StatusRow:
    """The row after staff of role ``by`` clear the hold (pure): back to the status the hold
    came from.

    Raises:
        PassStatusError: code ``not_on_hold``.
        HoldClearRefused: the hold was placed by a higher role than ``by`` (or ``by`` is the
            system: staff clear holds).
    """
    if row.status != "hold":
        raise PassStatusError(f"status is {row.status}, not hold; nothing to clear", code="not_on_hold")
    placed = row.hold_by_role or HoldBy.SYSTEM
    needed = max(HOLD_RANK[placed], HOLD_RANK[HoldBy.COUNSELLOR])
    if HOLD_RANK[by] < needed:
        who = "a school admin" if placed == HoldBy.SCHOOL_ADMIN else "a counsellor or a school admin"
        raise HoldClearRefused(f"this hold was placed by {placed.replace('_', ' ')}; only {who} can clear it, "
                               f"not {by.replace('_', ' ')}", detail={"placed_by": str(placed)})
    return _released(row, row.base)


def with_approved(row: StatusRow, today: str) -> StatusRow:
    """The row after final approval of a return (pure): black (or still green); on hold at once
    when today's check-in has an abnormal answer on record (even if edited back to normal)."""
    if row.status == "green" or (row.status == "hold" and row.base == "green"):
        return row
    if row.status == "hold":
        return replace(row, base=Status.BLACK)
    row = replace(_released(row, Status.BLACK), base=Status.NONE)
    if row.abnormal_day == today or (row.last_checkin_day == today and row.last_checkin_abnormal):
        return replace(row, status=Status.HOLD, base=Status.BLACK, hold_kind=HoldKind.ABNORMAL_CHECKIN,
                       hold_by_role=HoldBy.SYSTEM, abnormal_day=today, reason=REASON_TEXTS["abnormal_checkin"])
    return row


def with_application_ended(row: StatusRow, kind: str, reason: str) -> StatusRow:
    """The row after the application was withdrawn, expired or revoked (pure): back to none.
    Withdrawal and expiry only happen before arrival, so a green person stays green for them;
    a revocation ends any status."""
    arrived = row.status == "green" or (row.status == "hold" and row.base == "green")
    if arrived and kind != "application_revoked":
        return row
    if row.status == "none":
        return row
    return replace(_released(row, Status.NONE, reason or kind.removeprefix("application_")), base=Status.NONE)


def with_arrived(row: StatusRow) -> StatusRow:
    """The row after an arrival confirmation (pure): black → green; a hold from black keeps
    holding but returns to green when cleared. Raises PassStatusError otherwise."""
    if row.status == "black":
        return replace(row, status=Status.GREEN, base=Status.NONE, reason="")
    if row.status == "hold" and row.base == "black":
        return replace(row, base=Status.GREEN)
    if row.status == "green" or (row.status == "hold" and row.base == "green"):
        raise PassStatusError("the arrival is already confirmed", code="already_arrived")
    raise PassStatusError("no approved return awaits arrival", code="not_awaiting_arrival")


class PassService:
    """Pass status, issuance and revocation for one server.

    Every change of a person's status goes through :meth:`apply`, which runs inside the
    caller's open transaction: the workflow (check-ins, applications, arrivals) calls it next
    to its own writes, so the workflow row, the status row, the revocations, the fresh signed
    pass, the history and the audit entry commit together or not at all (docs/architecture.md,
    "One unit of work"). Status changes of the pass alone (holds, clears, an admin's
    revocation, the missed check-in job) open one transaction each and call :meth:`apply`
    inside it.

    Args:
        db: the open database.
        datadir: for the current issuer key.
        config: ``[passes]``.
        clock: time source (``monotonic`` for the group cache; methods take ``now``).
    """

    def __init__(self, db: Database, datadir: DataDir, config: PassConfig, clock: Clock) -> None:
        self.db = db
        self.datadir = datadir
        self.config = config
        self.clock = clock
        self.store = PassStatusStore(db)
        self.passes = Passes(db)
        self.people = People(db)
        self.buildings = Buildings(db)
        self.checkins = Checkins(db)
        self.deadline = parse_hhmm(config.checkin_deadline)
        self._subjects: dict[int, bytes] = {}
        self._groups: tuple[float, dict[str, int]] | None = None

    # -- the core: one transition inside the caller's transaction ---------------------------

    async def apply(
        self,
        conn: aiosqlite.Connection,
        person_id: int,
        now: datetime,
        change: Callable[[StatusRow], StatusRow],
        *,
        cause: str,
        actor_id: int | None,
        reason: str = "",
        reissue: bool = False,
        skip_none: bool = False,
        actor_role: str | None = None,
    ) -> StatusRow:
        """Apply ``change`` to the person's status row inside ``conn`` (the caller's open
        transaction, which serialises every write): on a drop revoke every unexpired pass of the
        person, sign a fresh pass when eligible and the status changed (or ``reissue``), store the
        row and its history. Nothing is committed here: the caller's transaction commits it with
        the change that caused it, or rolls all of it back.

        With ``skip_none``, a person whose status is ``none`` is left alone (nothing is written)
        and the stored row is returned. The history records ``actor_role`` (default: ``system``
        without an actor, ``self`` when the actor is the person, else the actor's role). A pass
        that cannot be signed now (no issuer key, a key expiring before the pass would) is logged
        and the status still changes: the pass page signs one as soon as it can (:meth:`view`).

        Raises:
            PassStatusError: what ``change`` raises (``not_on_hold``, ``already_arrived``...), or
                ``no_scope`` (category unavailable) when a pass is due but no building group names
                its scope (a configuration ``server check-config`` refuses).
            CampusPassError: ``unknown_person``.
            StorageError: the database failed.
        """
        now_s = to_unix(now)
        old = await PassStatusStore.get_in(conn, person_id)
        if skip_none and old.status == "none":
            return old
        subject = await self.subject_of(person_id)
        new = replace(change(old), updated_at_s=now_s, updated_by=actor_id)
        if _drops(old, new):
            by = f"person:{actor_id}" if actor_id is not None else "system"
            await Passes.revoke_unexpired_of_subject_in(conn, subject, f"{cause}: {reason or new.reason}", by, now_s)
            new = replace(new, current_serial=None, current_text=None, current_until_s=None)
        if (reissue or old.status != new.status) and self.eligible(new, now):
            scope = await self.scope_for(person_id, conn)
            new = await self._sign(conn, person_id, subject, new, scope, now)
        await PassStatusStore.put(conn, new)
        if (old.status != new.status or old.base != new.base or old.hold_kind != new.hold_kind
                or old.hold_by_role != new.hold_by_role):
            if actor_role is None:
                actor_role = ("system" if actor_id is None else "self" if actor_id == person_id
                              else await PassStatusStore.role_of_in(conn, actor_id))
            await PassStatusStore.add_history(
                conn, person_id=person_id, at_s=now_s, from_status=old.status, to_status=new.status,
                cause=cause, reason=reason or new.reason, actor_id=actor_id, actor_role=actor_role)
        return new

    # -- what the workflow calls inside its transaction --------------------------------------

    async def checked_in(self, conn: aiosqlite.Connection, person_id: int, day: str, abnormal: bool,
                         now: datetime) -> StatusRow:
        """A check-in for ``day`` was stored in ``conn``: an abnormal answer holds a black or
        green person, a normal one clears a missed check-in hold (an abnormal check-in hold only
        on a later day, when configured: :func:`with_checkin`) and brings today's pass. A person
        whose status is ``none`` has no pass to hold or issue: nothing is written for them
        (approval reads today's check-in itself)."""
        today = checkin_day(now).isoformat()
        later = self.later_day_clears
        return await self.apply(conn, person_id, now, lambda r: with_checkin(r, day, abnormal, later_day_clears=later),
                                cause="checkin_submitted", actor_id=person_id, reissue=day == today,
                                skip_none=True)

    @property
    def later_day_clears(self) -> bool:
        """True when a later day's normal check-in clears an abnormal check-in hold
        (``[passes] abnormal_hold_cleared_by = "counsellor_or_later_checkin"``)."""
        return self.config.abnormal_hold_cleared_by == "counsellor_or_later_checkin"

    async def approved(self, conn: aiosqlite.Connection, person_id: int, actor_id: int | None,
                       now: datetime) -> StatusRow:
        """The school approved the person's return in ``conn``: black (a first pass when today's
        check-in is normal), or on hold at once when today's check-in was abnormal.

        Raises:
            PassStatusError: ``no_scope`` (a pass is due but ``[passes] campus_groups`` names no
                group and the person has no dormitory).
        """
        today = checkin_day(now)
        checkin = await self.checkins.for_day(person_id, today)
        return await self.apply(conn, person_id, now,
                                lambda r: with_approved(with_todays_checkin(r, checkin), today.isoformat()),
                                cause="application_approved", actor_id=actor_id)

    async def application_ended(self, conn: aiosqlite.Connection, person_id: int, kind: str, reason: str,
                                actor_id: int | None, now: datetime) -> StatusRow:
        """The person's application was withdrawn, expired or revoked in ``conn`` (``kind``:
        ``application_withdrawn`` | ``application_expired`` | ``application_revoked``): back to
        none, every unexpired pass revoked (an arrived person keeps green unless revoked)."""
        return await self.apply(conn, person_id, now, lambda r: with_application_ended(r, kind, reason),
                                cause=kind, actor_id=actor_id, reason=reason)

    async def arrived(self, conn: aiosqlite.Connection, person_id: int, counsellor_id: int, now: datetime, *,
                      method: str, serial: bytes | None = None) -> StatusRow:
        """A counsellor confirmed the arrival in ``conn``: black → green, a fresh green pass
        when checked in today, and the confirmation recorded (who, when, how).

        Raises:
            PassStatusError: ``already_arrived`` or ``not_awaiting_arrival``.
        """
        row = await self.apply(conn, person_id, now, with_arrived, cause="arrived", actor_id=counsellor_id)
        await PassStatusStore.add_arrival(conn, person_id=person_id, counsellor_id=counsellor_id,
                                          at_s=to_unix(now), method=method, serial=serial)
        return row

    # -- changes of the pass alone (one transaction each) -----------------------------------

    async def hold(self, person_id: int, reason: str, actor_id: int, now: datetime, *, actor_role: str,
                   audit: AuditNote | None = None) -> StatusRow:
        """Staff of ``actor_role`` put the person on an admin hold (revoking their unexpired
        passes); the placing role is stored with the hold (only a role at least as high clears
        it), with the audit entry ``audit`` (action ``pass_hold``) in the same transaction.

        Raises:
            Forbidden: ``actor_role`` may not place holds (only counsellors and school admins).
            PassStatusError: the person is neither black, green nor on hold.
        """
        by = staff_hold_role(actor_role)
        async with self.db.transaction() as conn:
            row = await self.apply(conn, person_id, now, lambda r: with_hold(r, HoldKind.ADMIN, reason, by, actor_id),
                                   cause="hold_admin", actor_id=actor_id, reason=reason, actor_role=actor_role)
            await _audit(conn, audit, "pass_hold", person_id, actor_id, now, reason)
        return row

    async def clear_hold(self, person_id: int, reason: str, actor_id: int, now: datetime, *, actor_role: str,
                         audit: AuditNote | None = None) -> StatusRow:
        """Staff of ``actor_role`` clear the hold (recorded with who, their role and why, audited
        as ``pass_hold_cleared``, all in one transaction); a fresh pass follows when the person
        has a normal check-in today. A hold placed by a school admin is cleared only by a school
        admin (:func:`with_cleared`).

        Raises:
            Forbidden: ``actor_role`` may not clear holds.
            HoldClearRefused: code ``hold_needs_higher_role``; nothing changes.
            PassStatusError: code ``not_on_hold``.
        """
        by = staff_hold_role(actor_role)
        async with self.db.transaction() as conn:
            row = await self.apply(conn, person_id, now, lambda r: with_cleared(r, by), cause="hold_cleared",
                                   actor_id=actor_id, reason=reason, actor_role=actor_role)
            await _audit(conn, audit, "pass_hold_cleared", person_id, actor_id, now, reason)
        return row

    async def revoke_passes(self, person_id: int, reason: str, actor_id: int, now: datetime, *,
                            actor_role: str = "school_admin", audit: AuditNote | None = None) -> StatusRow:
        """School admin: revoke every unexpired pass of the person and hold them (an admin hold
        placed by the school admin, so only a school admin clears it) so no new pass is issued
        until then. A person without a black/green status only has their passes revoked.
        Audited as ``pass_revoke``.

        Raises:
            Forbidden: ``actor_role`` is not a school admin.
            CampusPassError: ``unknown_person``.
        """
        duties.require(actor_role, "revoke", "revoke passes")
        subject = await self.subject_of(person_id)
        async with self.db.transaction() as conn:
            current = await PassStatusStore.get_in(conn, person_id)
            if current.status in ("black", "green", "hold"):
                row = await self.apply(conn, person_id, now,
                                       lambda r: with_hold(r, HoldKind.ADMIN, reason, HoldBy.SCHOOL_ADMIN, actor_id),
                                       cause="hold_admin", actor_id=actor_id, reason=reason, actor_role=actor_role)
            else:
                await Passes.revoke_unexpired_of_subject_in(conn, subject, f"admin_revoke: {reason}",
                                                            f"person:{actor_id}", to_unix(now))
                row = current
            await _audit(conn, audit, "pass_revoke", person_id, actor_id, now, reason)
        return row

    async def sweep_missed_checkins(self, now: datetime) -> int:
        """The daily job: after today's check-in deadline, put every black or green person
        without a check-in today on hold (``missed_checkin``), one transaction each.
        Idempotent; returns how many people it put on hold now. Before the deadline it does
        nothing."""
        if local(now).time() < self.deadline:
            return 0
        day = checkin_day(now).isoformat()
        reason = f"no health check-in on {day} by {self.config.checkin_deadline}"
        count = 0
        for person_id in await self.store.missing_checkin(day):
            try:
                async with self.db.transaction() as conn:
                    await self.apply(conn, person_id, now, lambda r: with_hold(r, HoldKind.MISSED_CHECKIN, reason)
                                     if r.status in ("black", "green") else r,
                                     cause="hold_missed_checkin", actor_id=None, reason=reason)
                count += 1
            except StorageError:
                raise
            except CampusPassError as exc:
                log.warning("missed check-in hold of person %d failed: %s", person_id, exc.message)
        return count

    # -- reading ---------------------------------------------------------------------------

    def eligible(self, row: StatusRow, now: datetime) -> bool:
        """True when ``row`` may get a fresh pass at ``now``: black or green with a normal
        check-in today (Asia/Shanghai)."""
        return (row.status in ("black", "green") and row.last_checkin_day == checkin_day(now).isoformat()
                and not row.last_checkin_abnormal)

    async def view(self, person: Person, now: datetime) -> PassView:
        """What the person sees now: the current pass, or why there is none and what to do.
        Issues a pass when the person is eligible but has none current (e.g. an earlier
        issuance found no issuer key), so a refresh repairs it."""
        row = await self.store.get(person.id)
        now_s = to_unix(now)
        if row.status in ("black", "green") and not (row.current_until_s and row.current_until_s > now_s):
            if not self.eligible(row, now):
                return self._no_pass(row, "checkin_needed")
            row = await self._issue(person, now)
            if not (row.current_until_s and row.current_until_s > now_s):
                return self._no_pass(row, "pass_unavailable")
        if row.status in ("black", "green") and row.current_text and row.current_until_s:
            serial = row.current_serial.hex() if row.current_serial else None
            return PassView(row.status, "", "", "", row.current_text, from_unix(row.current_until_s), serial)
        if row.status == "hold":
            return self._no_pass(row, _HOLD_CODES.get(row.hold_kind or "admin", "admin_hold"))
        return self._no_pass(row, "application_ended" if row.reason else "no_approved_return")

    def _no_pass(self, row: StatusRow, code: str) -> PassView:
        reason = row.reason if row.status in ("hold", "none") and row.reason else REASON_TEXTS[code]
        return PassView(row.status, code, reason, "next_" + self.next_step(row, code), None, None, None)

    def next_step(self, row: StatusRow, code: str) -> str:
        """The key of :data:`NEXT_STEPS` for a person without a pass for reason ``code``: for a
        hold it says who clears it (a school admin's hold: a school admin only; an abnormal
        check-in: a counsellor, or also a later day's normal check-in when configured)."""
        if code == "abnormal_checkin" and self.later_day_clears:
            return "abnormal_checkin_later"
        if code == "admin_hold" and row.hold_by_role == HoldBy.SCHOOL_ADMIN:
            return "admin_hold_school"
        return code

    async def _issue(self, person: Person, now: datetime) -> StatusRow:
        """Sign a pass for the person's current row when still eligible without a current pass
        (re-read inside the transaction, so two refreshes sign one pass)."""
        now_s = to_unix(now)
        async with self.db.transaction(person_id=person.id) as conn:
            row = await PassStatusStore.get_in(conn, person.id)
            if not self.eligible(row, now) or (row.current_until_s and row.current_until_s > now_s):
                return row
            scope = await self.scope_for(person.id, conn)
            row = await self._sign(conn, person.id, person.subject, row, scope, now)
            await PassStatusStore.put(conn, row)
        return row

    async def subject_of(self, person_id: int) -> bytes:
        """The person's pass subject (remembered: a subject id never changes).

        Raises:
            CampusPassError: code ``unknown_person``.
        """
        subject = self._subjects.get(person_id)
        if subject is None:
            person = await self.people.by_id(person_id)
            if person is None:
                raise CampusPassError(f"no person with id {person_id}", code="unknown_person")
            subject = self._subjects[person_id] = person.subject
        return subject

    async def _sign(self, conn: aiosqlite.Connection, person_id: int, subject: bytes, row: StatusRow,
                    scope: tuple[int, ...], now: datetime) -> StatusRow:
        """``row`` with a freshly signed pass recorded inside ``conn``; unchanged (logged) when
        no pass can be signed now (no issuer key, the key expires before the pass would)."""
        try:
            issued = await issue_pass(
                self.datadir, self.passes, subject=subject,
                status=PassStatus.GREEN if row.status == "green" else PassStatus.BLACK,
                scope=scope, valid_from=now, valid_until=next_checkin_deadline(now, self.deadline), now=now,
                issued_by="pass-status", person_id=person_id, conn=conn,
            )
        except StorageError:
            raise
        except CampusPassError as exc:
            log.error("no pass for person %d: %s", person_id, exc.message)
            return row
        return replace(row, current_serial=issued.fields.serial, current_text=issued.text,
                       current_until_s=issued.fields.valid_until_s)

    async def _group_ids(self, fresh: bool = False) -> dict[str, int]:
        """``{group name: id}``, re-read at most every :data:`GROUPS_TTL_S` seconds (a group's
        id never changes; new groups are seen within that time)."""
        t = self.clock.monotonic()
        if fresh or self._groups is None or t - self._groups[0] > GROUPS_TTL_S:
            self._groups = (t, {g.name: g.id for g in await self.buildings.groups()})
        return self._groups[1]

    async def scope_for(self, person_id: int, conn: aiosqlite.Connection | None = None) -> tuple[int, ...]:
        """Building group ids for the person's passes: ``[passes] campus_groups`` then the
        dormitory group when the person has one; at most 3. A group named but missing is
        created inside ``conn`` (the caller's transaction) when given.

        Raises:
            PassStatusError: ``no_scope`` when no group names the scope (the start-up check
                refuses an empty ``campus_groups``), or a named group is missing and there is no
                transaction to create it in.
        """
        names = list(dict.fromkeys(self.config.campus_groups))
        dorm = await self.store.dormitory_of(person_id)
        if dorm is not None and dorm not in names:
            names.append(dorm)
        known = await self._group_ids()
        ids = []
        for name in names[:MAX_SCOPES]:
            if name not in known:
                known = await self._group_ids(fresh=True)
            if name in known:
                ids.append(known[name])
            elif conn is not None:
                # created in the caller's transaction: not cached until it is committed and re-read
                ids.append(await Buildings.ensure_group_in(conn, name))
                self._groups = None
            else:
                raise PassStatusError(f"building group {name!r} of the pass scope does not exist", code="no_scope",
                                      category=Category.UNAVAILABLE)
        if not ids:
            raise PassStatusError("no pass can be issued: no building group names its scope; the IT office must "
                                  "set [passes] campus_groups", code="no_scope", category=Category.UNAVAILABLE)
        return tuple(ids)

    # -- background job ----------------------------------------------------------------------

    async def run_once(self, now: datetime) -> tuple[int, int]:
        """One round of the background job: the missed check-in holds, then dropping revocation
        entries whose passes have expired anyway. Returns ``(people put on hold, entries dropped)``."""
        held = await self.sweep_missed_checkins(now)
        purged = await self.passes.purge_expired_revocations(to_unix(now))
        return held, purged


@dataclass(frozen=True, slots=True)
class AuditNote:
    """Who to write in the audit log for a staff action: the actor's number and address."""

    actor_number: str
    address: str = ""


async def _audit(conn: aiosqlite.Connection, note: AuditNote | None, action: str, person_id: int,
                 actor_id: int | None, now: datetime, reason: str) -> None:
    if note is not None:
        await AuditLog.add(conn, at_s=to_unix(now), actor_id=actor_id, actor_number=note.actor_number,
                           action=action, target_person_id=person_id, detail={"reason": reason},
                           address=note.address)
