"""Pass status per person and pass issuance (ARCHITECTURE §2.5–§2.7, §3).

Status: ``none`` (no approved return) → ``black`` (approved, not arrived) → ``green``
(arrival confirmed by a counsellor); ``hold`` (abnormal check-in, missed check-in, admin hold)
remembers the status it came from (``base``) and returns to it when cleared. A normal check-in
clears a check-in hold; only a counsellor or an admin clears an admin hold.

The status is derived from :class:`server.events.PersonEvent` published by the check-in and
application workflow (:meth:`PassService.on_event`), from arrival confirmations
(:mod:`server.arrivals`), from admin actions and from the missed check-in job
(:meth:`PassService.sweep_missed_checkins`). The latest check-in day and whether it was
abnormal come from the ``checkin_submitted`` events; a person whose status is ``none`` is not
written on a check-in (no pass to hold or issue), so the final approval reads today's check-in
(:func:`server.workflow.checkins.todays_checkin`) to decide the first pass or an immediate hold.

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

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import aiosqlite

from server.config import PassConfig
from server.datadir import DataDir
from server.events import PersonEvent, PersonEvents
from server.passes import issue_pass
from server.storage.buildings import Buildings
from server.storage.checkins import Checkin
from server.storage.database import Database, StorageError
from server.storage.pass_status import HoldKind, PassStatusStore, Status, StatusRow
from server.storage.passes import Passes
from server.storage.people import People, Person
from server.web.errors import ApiError
from server.workflow.checkins import todays_checkin
from shared.campus_time import checkin_day, local, next_checkin_deadline, parse_hhmm
from shared.clock import Clock, from_unix, to_unix
from shared.errors import CampusPassError
from shared.pass_format import MAX_SCOPES, PassStatus

log = logging.getLogger(__name__)


class PassStatusError(ApiError):
    """409: a status change that the current status does not allow. Code ``bad_status``
    (or ``not_on_hold``, ``already_arrived``, ``not_awaiting_arrival``); the message says what
    the status is."""

    code = "bad_status"
    status = 409


class ArrivalRecorder(Protocol):
    """How the return-application workflow is told about an arrival: move the person's
    approved application to ``arrived`` (ARCHITECTURE §3), recording who and when, inside the
    transaction that turns the person green (so both commit or neither does).

    ``await recorder.mark_arrived(conn, person_id, actor=counsellor, at=now)``; raises a
    CampusPassError when the person has no approved application (nothing is stored then).
    """

    async def mark_arrived(self, conn: aiosqlite.Connection, person_id: int, *, actor: Person,
                           at: datetime) -> None: ...


class NoApplicationRecorder:
    """An :class:`ArrivalRecorder` for a pass service used without the application workflow
    (tests of the pass service alone): the arrival is kept only in the pass status and the
    ``arrivals`` table; other modules learn of it from the ``arrived`` event."""

    async def mark_arrived(self, conn: aiosqlite.Connection, person_id: int, *, actor: Person,
                           at: datetime) -> None:
        """Accept the arrival without touching any application."""
        log.debug("arrival of person %d by %d at %s (no application workflow attached)", person_id, actor.id, at)


@dataclass(frozen=True, slots=True)
class PassView:
    """What a person (or the API) sees about their pass.

    Attributes:
        status: none, black, green or hold.
        reason_code: why there is no pass to show, or ``""`` when a pass is shown. One of
            ``no_approved_return``, ``application_ended``, ``abnormal_checkin``, ``missed_checkin``,
            ``admin_hold``, ``checkin_needed``, ``pass_unavailable``.
        reason: the reason in words (an actor's text for holds and revocations), or ``""``.
        next_step_code: what the person should do (``next_<code>`` in the page catalogue).
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
    "abnormal_checkin": "contact your counsellor; a normal check-in or your counsellor clears the hold",
    "missed_checkin": "do today's health check-in; the pass comes back at once",
    "admin_hold": "contact your counsellor or the prevention office",
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


def with_checkin(row: StatusRow, day: str, abnormal: bool) -> StatusRow:
    """The row after a check-in on ``day`` (pure): an abnormal answer puts a black or green
    person on hold; a normal one clears a check-in hold (an admin hold stays)."""
    row = replace(row, last_checkin_day=day, last_checkin_abnormal=abnormal)
    if abnormal:
        if row.status in ("black", "green"):
            return replace(row, status="hold", base=row.status, hold_kind="abnormal_checkin",
                           reason=REASON_TEXTS["abnormal_checkin"])
        if row.status == "hold" and row.hold_kind == "missed_checkin":
            return replace(row, hold_kind="abnormal_checkin", reason=REASON_TEXTS["abnormal_checkin"])
        return row
    if row.status == "hold" and row.hold_kind in ("abnormal_checkin", "missed_checkin"):
        return replace(row, status=row.base, hold_kind=None, reason="")
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
    return replace(row, last_checkin_day=day, last_checkin_abnormal=checkin.abnormal)


def with_hold(row: StatusRow, kind: HoldKind, reason: str) -> StatusRow:
    """The row after a hold (pure). Raises PassStatusError unless black, green or on hold."""
    if row.status in ("black", "green"):
        return replace(row, status="hold", base=row.status, hold_kind=kind, reason=reason)
    if row.status == "hold":
        return replace(row, hold_kind=kind if kind == "admin" else row.hold_kind, reason=reason)
    raise PassStatusError(f"status is {row.status}; only a black or green pass can be put on hold")


def with_cleared(row: StatusRow) -> StatusRow:
    """The row after a counsellor/admin clears a hold (pure). Raises PassStatusError unless on hold."""
    if row.status != "hold":
        raise PassStatusError(f"status is {row.status}, not hold; nothing to clear", code="not_on_hold")
    return replace(row, status=row.base, hold_kind=None, reason="")


def with_approved(row: StatusRow, today: str) -> StatusRow:
    """The row after final approval of a return (pure): black (or still green); on hold at once
    when today's check-in was abnormal."""
    if row.status == "green" or (row.status == "hold" and row.base == "green"):
        return row
    if row.status == "hold":
        return replace(row, base="black")
    row = replace(row, status="black", base="none", hold_kind=None, reason="")
    if row.last_checkin_day == today and row.last_checkin_abnormal:
        return with_checkin(row, today, True)
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
    return replace(row, status="none", base="none", hold_kind=None, reason=reason or kind.removeprefix("application_"))


def with_arrived(row: StatusRow) -> StatusRow:
    """The row after an arrival confirmation (pure): black → green; a hold from black keeps
    holding but returns to green when cleared. Raises PassStatusError otherwise."""
    if row.status == "black":
        return replace(row, status="green", base="none", reason="")
    if row.status == "hold" and row.base == "black":
        return replace(row, base="green")
    if row.status == "green" or (row.status == "hold" and row.base == "green"):
        raise PassStatusError("the arrival is already confirmed", code="already_arrived")
    raise PassStatusError("no approved return awaits arrival", code="not_awaiting_arrival")


class PassService:
    """Pass status, issuance and revocation for one server.

    Args:
        db: the open database.
        datadir: for the current issuer key.
        config: ``[passes]``.
        clock: time source (used by the background job only; methods take ``now``).
        events: the hub to publish ``arrived`` / ``hold_set`` / ``hold_cleared`` on (optional).
        recorder: tells the application workflow about arrivals (default: none attached).
    """

    def __init__(
        self,
        db: Database,
        datadir: DataDir,
        config: PassConfig,
        clock: Clock,
        events: PersonEvents | None = None,
        recorder: ArrivalRecorder | None = None,
    ) -> None:
        self.db = db
        self.datadir = datadir
        self.config = config
        self.clock = clock
        self.events = events
        self.recorder: ArrivalRecorder = recorder or NoApplicationRecorder()
        self.store = PassStatusStore(db)
        self.passes = Passes(db)
        self.people = People(db)
        self.buildings = Buildings(db)
        self.deadline = parse_hhmm(config.checkin_deadline)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._subjects: dict[int, bytes] = {}
        self._groups: tuple[float, dict[str, int]] | None = None

    def _lock(self, person_id: int) -> asyncio.Lock:
        lock = self._locks.get(person_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[person_id] = lock
        return lock

    # -- the core: one transition -----------------------------------------------------------

    async def _change(
        self,
        person_id: int,
        now: datetime,
        change: Callable[[StatusRow], StatusRow],
        *,
        cause: str,
        actor_id: int | None,
        reason: str = "",
        reissue: bool = False,
        before_commit: Callable[[aiosqlite.Connection, StatusRow], Awaitable[None]] | None = None,
        skip_none: bool = False,
    ) -> StatusRow:
        """Apply ``change`` to the person's row under the person's lock: revoke every unexpired
        pass on a drop, then in one transaction sign a fresh pass when eligible and the status
        changed (or ``reissue``), store the row, its history and ``before_commit``'s writes.
        Raises what ``change`` or ``before_commit`` raise (nothing is stored then); a pass that
        cannot be signed (no issuer key) is logged and the status still changes. With
        ``skip_none``, a person whose status is ``none`` is left alone (nothing is read beyond
        the row, nothing is written) and the stored row is returned."""
        async with self._lock(person_id):
            now_s = to_unix(now)
            old = await self.store.get(person_id)
            if skip_none and old.status == "none":
                return old
            subject = await self._subject(person_id)
            new = replace(change(old), updated_at_s=now_s, updated_by=actor_id)
            if _drops(old, new):
                by = f"person:{actor_id}" if actor_id is not None else "system"
                await self.passes.revoke_unexpired_of_subject(subject, f"{cause}: {reason or new.reason}",
                                                              by, now_s)
                new = replace(new, current_serial=None, current_text=None, current_until_s=None)
            wants_pass = (reissue or old.status != new.status) and self.eligible(new, now)
            scope = await self.scope_for(person_id) if wants_pass else ()
            async with self.db.transaction() as conn:
                if wants_pass:
                    new = await self._sign(conn, person_id, subject, new, scope, now)
                await PassStatusStore.put(conn, new)
                if old.status != new.status or old.base != new.base or old.hold_kind != new.hold_kind:
                    await PassStatusStore.add_history(
                        conn, person_id=person_id, at_s=now_s, from_status=old.status, to_status=new.status,
                        cause=cause, reason=reason or new.reason, actor_id=actor_id)
                if before_commit is not None:
                    await before_commit(conn, new)
            return new

    def eligible(self, row: StatusRow, now: datetime) -> bool:
        """True when ``row`` may get a fresh pass at ``now``: black or green with a normal
        check-in today (Asia/Shanghai)."""
        return (row.status in ("black", "green") and row.last_checkin_day == checkin_day(now).isoformat()
                and not row.last_checkin_abnormal)

    async def _subject(self, person_id: int) -> bytes:
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

    async def _issue(self, person: Person, now: datetime) -> StatusRow:
        """Sign a pass for the person's current row when eligible (the caller holds the lock)."""
        row = await self.store.get(person.id)
        if not self.eligible(row, now):
            return row
        scope = await self.scope_for(person.id)
        async with self.db.transaction() as conn:
            row = await self._sign(conn, person.id, person.subject, row, scope, now)
            await PassStatusStore.put(conn, row)
        return row

    async def _group_ids(self, fresh: bool = False) -> dict[str, int]:
        """``{group name: id}``, re-read at most every :data:`GROUPS_TTL_S` seconds (a group's
        id never changes; new groups are seen within that time or at once when created here)."""
        t = self.clock.monotonic()
        if fresh or self._groups is None or t - self._groups[0] > GROUPS_TTL_S:
            self._groups = (t, {g.name: g.id for g in await self.buildings.groups()})
        return self._groups[1]

    async def scope_for(self, person_id: int) -> tuple[int, ...]:
        """Building group ids for the person's passes: ``[passes] campus_groups`` (created
        when missing) then the dormitory group when the person has one; at most 3."""
        names = list(dict.fromkeys(self.config.campus_groups))
        dorm = await self.store.dormitory_of(person_id)
        if dorm is not None and dorm not in names:
            names.append(dorm)
        known = await self._group_ids()
        ids = []
        for name in names[:MAX_SCOPES]:
            if name not in known:
                known = await self._group_ids(fresh=True)
            if name not in known:
                await self.buildings.ensure_group(name)
                known = await self._group_ids(fresh=True)
            ids.append(known[name])
        if not ids:
            raise PassStatusError("no building group for the pass scope; set [passes] campus_groups",
                                  code="no_scope")
        return tuple(ids)

    # -- event subscriber --------------------------------------------------------------------

    async def on_event(self, event: PersonEvent) -> None:
        """Derive the status from a workflow event (subscribed on the app's events hub).
        Idempotent: a repeated event changes nothing more."""
        today = checkin_day(event.at).isoformat()
        kind = event.kind
        if kind == "checkin_submitted":
            day = str(event.detail.get("day") or today)
            abnormal = bool(event.detail.get("abnormal", False))
            # A person without an approved return ("none") has no pass to hold or issue: the
            # check-in is not copied into their row (approval reads today's check-in itself).
            await self._change(event.person_id, event.at, lambda r: with_checkin(r, day, abnormal),
                               cause=kind, actor_id=event.actor_id, reissue=day == today, skip_none=True)
        elif kind == "application_approved":
            checkin = await todays_checkin(self.db, event.person_id, event.at)
            await self._change(event.person_id, event.at,
                               lambda r: with_approved(with_todays_checkin(r, checkin), today),
                               cause=kind, actor_id=event.actor_id)
        elif kind in ("application_withdrawn", "application_expired", "application_revoked"):
            reason = str(event.detail.get("reason", ""))
            await self._change(event.person_id, event.at, lambda r: with_application_ended(r, kind, reason),
                               cause=kind, actor_id=event.actor_id, reason=reason)
        elif kind == "arrived":
            def arrive(r: StatusRow) -> StatusRow:
                try:
                    return with_arrived(r)
                except PassStatusError:
                    return r
            await self._change(event.person_id, event.at, arrive, cause=kind, actor_id=event.actor_id)

    # -- actions ---------------------------------------------------------------------------

    async def hold(self, person_id: int, reason: str, actor_id: int | None, now: datetime,
                   kind: HoldKind = "admin") -> StatusRow:
        """Put the person on hold (revoking their unexpired passes).

        Raises:
            PassStatusError: the person is neither black, green nor on hold.
        """
        row = await self._change(person_id, now, lambda r: with_hold(r, kind, reason),
                                 cause=f"hold_{kind}", actor_id=actor_id, reason=reason)
        await self._publish(PersonEvent("hold_set", person_id, now, actor_id, {"reason": reason}))
        return row

    async def clear_hold(self, person_id: int, reason: str, actor_id: int, now: datetime) -> StatusRow:
        """A counsellor or admin clears the hold (recorded with who and why); a fresh pass
        follows when the person has a normal check-in today.

        Raises:
            PassStatusError: code ``not_on_hold``.
        """
        row = await self._change(person_id, now, with_cleared, cause="hold_cleared", actor_id=actor_id,
                                 reason=reason)
        await self._publish(PersonEvent("hold_cleared", person_id, now, actor_id, {"reason": reason}))
        return row

    async def revoke_passes(self, person_id: int, reason: str, actor_id: int, now: datetime) -> StatusRow:
        """School admin: revoke every unexpired pass of the person and hold them (admin hold)
        so no new pass is issued until a counsellor or admin clears it. A person without a
        black/green status only has their passes revoked."""
        person = await self.people.by_id(person_id)
        if person is None:
            raise CampusPassError(f"no person with id {person_id}", code="unknown_person")
        current = await self.store.get(person_id)
        if current.status in ("black", "green", "hold"):
            return await self.hold(person_id, reason, actor_id, now, kind="admin")
        await self.passes.revoke_unexpired_of_subject(person.subject, f"admin_revoke: {reason}",
                                                      f"person:{actor_id}", to_unix(now))
        return current

    async def confirm_arrival(self, person_id: int, counsellor_id: int, now: datetime, *, method: str,
                              serial: bytes | None = None) -> StatusRow:
        """Record an arrival confirmed by a counsellor: black → green and a fresh green pass
        (when checked in today). The workflow's application moves to ``arrived``
        (:class:`ArrivalRecorder`) in the same transaction as the status change.

        Raises:
            PassStatusError: ``already_arrived`` or ``not_awaiting_arrival``.
            CampusPassError: from the recorder (e.g. no approved application).
        """
        counsellor = await self.people.by_id(counsellor_id)
        if counsellor is None:
            raise CampusPassError(f"no person with id {counsellor_id}", code="unknown_person")

        async def record(conn: aiosqlite.Connection, _row: StatusRow) -> None:
            await self.recorder.mark_arrived(conn, person_id, actor=counsellor, at=now)
            await PassStatusStore.add_arrival(conn, person_id=person_id, counsellor_id=counsellor_id,
                                              at_s=to_unix(now), method=method, serial=serial)

        row = await self._change(person_id, now, with_arrived, cause="arrived", actor_id=counsellor_id,
                                 before_commit=record)
        await self._publish(PersonEvent("arrived", person_id, now, counsellor_id, {"method": method}))
        return row

    async def sweep_missed_checkins(self, now: datetime) -> int:
        """The daily job: after today's check-in deadline, put every black or green person
        without a check-in today on hold (``missed_checkin``). Idempotent; returns how many
        people it put on hold now. Before the deadline it does nothing."""
        if local(now).time() < self.deadline:
            return 0
        day = checkin_day(now).isoformat()
        reason = f"no health check-in on {day} by {self.config.checkin_deadline}"
        count = 0
        for person_id in await self.store.missing_checkin(day):
            try:
                await self._change(person_id, now, lambda r: with_hold(r, "missed_checkin", reason)
                                   if r.status in ("black", "green") else r,
                                   cause="hold_missed_checkin", actor_id=None, reason=reason)
                count += 1
            except CampusPassError as exc:
                log.warning("missed check-in hold of person %d failed: %s", person_id, exc.message)
        return count

    async def view(self, person: Person, now: datetime) -> PassView:
        """What the person sees now: the current pass, or why there is none and what to do.
        Issues a pass when the person is eligible but has none current (e.g. an earlier
        issuance failed), so a refresh repairs it."""
        row = await self.store.get(person.id)
        now_s = to_unix(now)
        if row.status in ("black", "green") and not (row.current_until_s and row.current_until_s > now_s):
            if not self.eligible(row, now):
                return self._no_pass(row, "checkin_needed")
            async with self._lock(person.id):
                row = await self._issue(person, now)
            if not (row.current_until_s and row.current_until_s > now_s):
                return self._no_pass(row, "pass_unavailable")
        if row.status in ("black", "green") and row.current_text and row.current_until_s:
            serial = row.current_serial.hex() if row.current_serial else None
            return PassView(row.status, "", "", "", row.current_text, from_unix(row.current_until_s), serial)
        if row.status == "hold":
            return self._no_pass(row, _HOLD_CODES.get(row.hold_kind or "admin", "admin_hold"))
        return self._no_pass(row, "application_ended" if row.reason else "no_approved_return")

    @staticmethod
    def _no_pass(row: StatusRow, code: str) -> PassView:
        reason = row.reason if row.status in ("hold", "none") and row.reason else REASON_TEXTS[code]
        return PassView(row.status, code, reason, f"next_{code}", None, None, None)

    async def _publish(self, event: PersonEvent) -> None:
        if self.events is not None:
            await self.events.publish(event)

    # -- background job ----------------------------------------------------------------------

    async def run_once(self, now: datetime) -> tuple[int, int]:
        """One round of the background job: the missed check-in holds, then dropping revocation
        entries whose passes have expired anyway. Returns ``(people put on hold, entries dropped)``."""
        held = await self.sweep_missed_checkins(now)
        purged = await self.passes.purge_expired_revocations(to_unix(now))
        return held, purged

    async def run_sweeper(self) -> None:
        """Run :meth:`run_once` every ``[passes] sweep_interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(max(1, self.config.sweep_interval_s))
            try:
                held, purged = await self.run_once(self.clock.now())
                if held or purged:
                    log.info("pass job: %d people on hold for a missed check-in, %d revocations expired",
                             held, purged)
            except CampusPassError as exc:
                log.warning("pass job failed: %s", exc.message)


@contextlib.asynccontextmanager
async def running_sweeper(service: PassService, enabled: bool = True) -> AsyncIterator[None]:
    """Run the missed check-in job in the background for the duration of the block."""
    task = asyncio.create_task(service.run_sweeper(), name="missed-checkin-sweeper") if enabled else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
