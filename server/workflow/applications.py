"""Return-to-campus applications (docs/architecture.md §2.3–§2.4, §3): submission, the two-stage
approval state machine, withdrawal, amendment, expiry, arrival and the decision SMS.

States and legal transitions (:data:`TRANSITIONS`; anything else is refused with HTTP 409 and a
code from :func:`illegal_code`)::

    submitted     --dept_approve   (counsellor of the applicant's department)--> dept_approved
    submitted     --dept_reject    (counsellor of the department, reason)------> dept_rejected
    dept_approved --school_approve (school admin)-------------------------------> approved  (+ SMS)
    dept_approved --school_reject  (school admin, reason)-----------------------> school_rejected (+ SMS)
    approved      --arrive         (counsellor / school admin, issue-5 scan)----> arrived
    submitted | dept_approved | approved --withdraw (applicant)----------------> withdrawn
    submitted | dept_approved | approved --expire   (system job)---------------> expired
    submitted | dept_approved | approved | arrived --revoke (school admin, reason)--> revoked
    dept_rejected | school_rejected --amend (applicant)--> a NEW application, version + 1, submitted

``draft`` exists in the schema for clients that keep drafts server-side; the API submits
directly. Every transition is stored with actor, role, time and reason. A transition that changes the
person's pass status (approval, withdrawal, expiry, revocation, arrival) applies that change
(:class:`server.pass_status.PassService`) inside the same transaction as the application row,
its transition record, the audit entry and the SMS outbox row: whole or not at all. An approval
whose pass status cannot be applied is refused and nothing of it is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import aiosqlite

from server.config import ServerConfig
from server.errors import Conflict, DomainError, Forbidden, InvalidField, NotFound
from server.pass_status import PassService
from server.scope import OutOfScope, in_scope, visible_departments
from server.sms_templates import PURPOSE_FIELDS
from server.storage import Database
from server.storage.applications import (
    ACTIVE_STATES,
    Applications,
    AppState,
    ItineraryLeg,
    NewApplication,
    QueueItem,
    ReturnApplication,
    Transition,
)
from server.storage.audit import AuditLog
from server.storage.people import People, Person
from server.storage.sms import SmsOutboxStore
from server.workflow.checkins import FieldError, InvalidAnswers, todays_checkin
from server.workflow.regions import region_problem
from shared.campus_time import CAMPUS_TZ, checkin_day, day_start
from shared.clock import Clock, from_unix, to_unix

log = logging.getLogger(__name__)

CONFIRMATION_KEYS = ("no_risk_area", "no_case_contact", "no_symptoms", "not_quarantined")
MODES = ("rail", "air", "coach", "car", "other")
MAX_LEGS = 10
MAX_REASON = 500
APPLICANT_ROLES = ("student", "staff")

S = AppState
TRANSITIONS: dict[tuple[str, str], AppState] = {
    (S.DRAFT, "submit"): S.SUBMITTED,
    (S.SUBMITTED, "dept_approve"): S.DEPT_APPROVED,
    (S.SUBMITTED, "dept_reject"): S.DEPT_REJECTED,
    (S.DEPT_APPROVED, "school_approve"): S.APPROVED,
    (S.DEPT_APPROVED, "school_reject"): S.SCHOOL_REJECTED,
    (S.APPROVED, "arrive"): S.ARRIVED,
    **{(s, "withdraw"): S.WITHDRAWN for s in ACTIVE_STATES},
    **{(s, "expire"): S.EXPIRED for s in ACTIVE_STATES},
    **{(s, "revoke"): S.REVOKED for s in (*ACTIVE_STATES, S.ARRIVED)},
}
"""``(state, action) → new state``: the only legal transitions."""

ENDING_STATES = (AppState.WITHDRAWN, AppState.EXPIRED, AppState.REVOKED)
"""States that end the person's return: the pass status goes back to none (passes revoked)."""


def illegal_code(state: str, action: str) -> str:
    """The error code for ``action`` on an application in ``state`` when it is not legal.

    ``dept_stage_pending`` (school stage before the department stage), ``already_decided``
    (the stage was decided: approving twice, rejecting after approval), ``already_arrived``
    (withdrawing after arrival), ``not_active`` (withdrawn, expired, rejected, revoked),
    ``not_rejected`` (amending what was not rejected), ``not_approved`` (arrival before
    approval); otherwise ``illegal_transition``.
    """
    if action in ("school_approve", "school_reject") and state == "submitted":
        return "dept_stage_pending"
    if action in ("dept_approve", "dept_reject", "school_approve", "school_reject") and state in (
            "dept_approved", "approved", "arrived", "dept_rejected", "school_rejected"):
        return "already_decided"
    if action in ("withdraw", "expire") and state == "arrived":
        return "already_arrived"
    if action == "amend":
        return "not_rejected"
    if action == "arrive":
        return "already_arrived" if state == "arrived" else "not_approved"
    if state in ("withdrawn", "expired", "revoked", "dept_rejected", "school_rejected"):
        return "not_active"
    return "illegal_transition"


class IllegalTransition(Conflict):
    """409: the action is not legal in the application's current state (code from
    :func:`illegal_code`; ``detail`` gives ``state`` and ``action``)."""

    def __init__(self, application: ReturnApplication, action: str) -> None:
        super().__init__(f"cannot {action.replace('_', ' ')} application {application.id}: it is {application.state}",
                         code=illegal_code(application.state, action),
                         detail={"state": application.state, "action": action})


@dataclass(frozen=True, slots=True)
class ApplicationInput:
    """A submission as sent (JSON field names of the API contract).

    ``itinerary`` items are mappings with ``mode``, ``service_no``, ``from_region_code``,
    ``to_region_code``, ``depart_at``, ``arrive_at``; ``confirmations`` maps the four
    :data:`CONFIRMATION_KEYS` to booleans.
    """

    planned_return_date: str
    departure_region_code: str
    itinerary: Sequence[Mapping[str, Any]]
    reason: str
    confirmations: Mapping[str, Any]


def _local_datetime(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
        value = value.replace(tzinfo=CAMPUS_TZ) if value.tzinfo is None else value
        return value.astimezone(CAMPUS_TZ)
    except (ValueError, OverflowError):  # not ISO 8601, or out of range once moved to +08:00
        return None


def validate_application(data: ApplicationInput, today: date, horizon_days: int) -> tuple[date, tuple[ItineraryLeg, ...]]:
    """Check the fields of a submission (confirmations are checked separately).

    Rules: ``planned_return_date`` is ``YYYY-MM-DD`` from ``today`` to ``today + horizon_days``;
    ``departure_region_code`` and each leg's region codes are GB/T 2260 codes
    (:mod:`server.workflow.regions`); 1–10 legs, ``mode`` in :data:`MODES`, ``service_no`` required
    except for ``car``, ``depart_at``/``arrive_at`` ISO 8601 (no offset means Asia/Shanghai) and
    arrival not before departure; ``reason`` 1–500 characters.

    Returns:
        ``(planned date, legs)`` with times normalised to ``+08:00``.

    Raises:
        InvalidAnswers: 422 ``invalid_field`` listing every failing field.
    """
    errors: list[FieldError] = []
    planned: date | None = None
    try:
        planned = date.fromisoformat(data.planned_return_date)
        if len(data.planned_return_date) != 10:
            raise ValueError(data.planned_return_date)
    except ValueError:
        errors.append(FieldError("planned_return_date", "bad_date",
                                 f"planned_return_date {data.planned_return_date!r} is not YYYY-MM-DD"))
    if planned is not None and not today <= planned <= today + timedelta(days=horizon_days):
        errors.append(FieldError("planned_return_date", "planned_date_out_of_range",
                                 f"planned_return_date {planned.isoformat()} is not between {today.isoformat()}"
                                 f" and {(today + timedelta(days=horizon_days)).isoformat()}"))
    problem = region_problem(data.departure_region_code)
    if problem:
        errors.append(FieldError("departure_region_code", problem,
                                 f"departure_region_code {data.departure_region_code!r} is not a GB/T 2260 code"))
    legs: list[ItineraryLeg] = []
    if not 1 <= len(data.itinerary) <= MAX_LEGS:
        errors.append(FieldError("itinerary", "required", f"itinerary has {len(data.itinerary)} legs; expected 1–{MAX_LEGS}"))
    for i, leg in enumerate(data.itinerary[:MAX_LEGS]):
        where = f"itinerary[{i}]"
        mode, service = leg.get("mode"), leg.get("service_no") or ""
        if mode not in MODES:
            errors.append(FieldError(f"{where}.mode", "bad_choice", f"mode {mode!r} is not one of {list(MODES)}"))
        if not isinstance(service, str) or len(service) > 20 or (mode not in ("car", None) and not service.strip()):
            errors.append(FieldError(f"{where}.service_no", "required",
                                     f"service_no {service!r}: the train, flight or coach number (at most 20 characters)"))
        for key in ("from_region_code", "to_region_code"):
            p = region_problem(leg.get(key))
            if p:
                errors.append(FieldError(f"{where}.{key}", p, f"{key} {leg.get(key)!r} is not a GB/T 2260 code"))
        depart, arrive = _local_datetime(leg.get("depart_at")), _local_datetime(leg.get("arrive_at"))
        for key, value in (("depart_at", depart), ("arrive_at", arrive)):
            if leg.get(key) in (None, ""):
                errors.append(FieldError(f"{where}.{key}", "required", f"{key} is required (local date and time)"))
            elif value is None:
                errors.append(FieldError(f"{where}.{key}", "bad_datetime",
                                         f"{key} {leg.get(key)!r} is not an ISO 8601 date and time"))
        if depart is not None and arrive is not None:
            if arrive < depart:
                errors.append(FieldError(f"{where}.arrive_at", "arrives_before_departure",
                                         f"arrive_at {leg.get('arrive_at')} is before depart_at {leg.get('depart_at')}"))
            if isinstance(mode, str) and isinstance(service, str):
                legs.append(ItineraryLeg(mode, service.strip(), str(leg.get("from_region_code")),
                                         str(leg.get("to_region_code")), depart.astimezone(CAMPUS_TZ).isoformat(),
                                         arrive.astimezone(CAMPUS_TZ).isoformat()))
    reason = data.reason.strip()
    if not reason or len(reason) > MAX_REASON:
        errors.append(FieldError("reason", "required" if not reason else "too_long",
                                 f"reason must be 1–{MAX_REASON} characters (got {len(reason)})"))
    if errors:
        raise InvalidAnswers(errors)
    assert planned is not None
    return planned, tuple(legs)


def expiry_at(planned: date, grace_days: int) -> datetime:
    """When an application for ``planned`` expires: the end of ``planned + grace_days``
    (00:00 Asia/Shanghai of the following day), aware."""
    return day_start(planned + timedelta(days=grace_days + 1))


async def active_application(db: Database, person_id: int) -> ReturnApplication | None:
    """The person's active application (``submitted``, ``dept_approved`` or ``approved``), or
    None (for the pass service: ``.state``, ``.planned_return_date``, ``.department``, ``.id``)."""
    return await Applications(db).active_of(person_id)


async def mark_arrived(db: Database, application_id: int, *, actor_id: int, actor_role: str, at: datetime,
                       conn: aiosqlite.Connection | None = None) -> ReturnApplication:
    """Move an application ``approved → arrived`` (arrival confirmed by a counsellor's scan).

    Runs inside ``conn`` when given (the caller's transaction, e.g. together with the pass
    status change: :meth:`server.arrivals.Arrivals.confirm`), else in its own transaction.
    Records the transition (actor, time) and sets ``arrived_by``/``arrived_at``. Department
    scope is the caller's check.

    Args:
        db: the open database.
        application_id: the application.
        actor_id / actor_role: who confirmed (``people.id``, role name).
        at: when (aware).

    Returns:
        The application after the change (state ``arrived``; read on the same connection, so
        also inside the caller's uncommitted transaction).

    Raises:
        NotFound: no such application.
        IllegalTransition: 409 ``not_approved`` / ``already_arrived`` / ``not_active``.
    """
    now_s = to_unix(at)

    async def move(c: aiosqlite.Connection) -> None:
        current = await Applications(db).get(application_id)
        if current is None:
            raise NotFound(f"no return application {application_id}")
        if (current.state, "arrive") not in TRANSITIONS or not await Applications.move(
                c, application_id, current.state, "arrived", now_s=now_s, arrived_by=actor_id, arrived_at=now_s):
            raise IllegalTransition(current, "arrive")
        await Applications.add_transition(c, application_id, current.state, "arrived", actor_id=actor_id,
                                          actor_role=actor_role, now_s=now_s)

    if conn is not None:
        await move(conn)
    else:
        async with db.transaction() as own:
            await move(own)
    result = await Applications(db).get(application_id)
    assert result is not None
    return result


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One item of a batch approval: the id, the new state or the refusal's code and message."""

    id: int
    ok: bool
    state: str | None = None
    code: str | None = None
    message: str | None = None


class ReturnApplications:
    """The return-application workflow.

    Args:
        db: the open database.
        clock: time source.
        config: server configuration (``[workflow]``, ``[sms]`` sender name).
        passes: the pass service, whose status follows each transition inside its transaction.
        sms_wake: called after a commit that enqueued an SMS (the sender's ``wake``).
    """

    def __init__(self, db: Database, clock: Clock, config: ServerConfig, passes: PassService,
                 sms_wake: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.passes = passes
        self.sms_wake = sms_wake
        self.store = Applications(db)

    # -- reading ---------------------------------------------------------------------------------

    async def get_for(self, viewer: Person, application_id: int) -> ReturnApplication:
        """The application if ``viewer`` may see it (own, counsellor of its department, admin).

        Raises:
            NotFound: no such application, or not visible (the same answer).
        """
        app = await self.store.get(application_id)
        if app is None or not _may_see(viewer, app):
            raise NotFound(f"no return application {application_id} among yours")
        return app

    async def mine(self, person_id: int) -> list[ReturnApplication]:
        """Every application of the person (newest first, all versions)."""
        return await self.store.of_person(person_id)

    async def transitions(self, application_id: int) -> list[Transition]:
        """Recorded transitions, oldest first."""
        return await self.store.transitions(application_id)

    async def queue(self, reviewer: Person, *, stage: str | None, status: str | None,
                    limit: int = 200, offset: int = 0) -> list[QueueItem]:
        """The reviewer's list. ``stage``: ``dept`` (awaiting the department: ``submitted``) or
        ``school`` (awaiting the school: ``dept_approved``); default the reviewer's own stage.
        ``status`` (a state name) overrides the stage filter. Counsellors see only their
        departments.

        Raises:
            InvalidField: ``invalid_field`` for an unknown stage or status.
        """
        states: tuple[str, ...]
        if status:
            if status not in {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()):
                raise InvalidField(f"status {status!r} is not an application state")
            states = (status,)
        else:
            stage = stage or ("dept" if reviewer.role == "counsellor" else "school")
            if stage not in ("dept", "school"):
                raise InvalidField(f"stage {stage!r} is not dept or school")
            states = ("submitted",) if stage == "dept" else ("dept_approved",)
        departments = visible_departments(reviewer)
        return await self.store.queue(departments, states, limit=limit, offset=offset)

    # -- the applicant ---------------------------------------------------------------------------

    def _confirmations(self, given: Mapping[str, Any]) -> dict[str, str]:
        texts = self.config.workflow.confirmations
        missing = [k for k in CONFIRMATION_KEYS if given.get(k) is not True]
        unknown = sorted(set(given) - set(CONFIRMATION_KEYS))
        if unknown:
            raise InvalidAnswers([FieldError("confirmations", "bad_choice",
                                             f"unknown confirmations {unknown}; expected {list(CONFIRMATION_KEYS)}")])
        if missing:
            phone = self.config.workflow.prevention_office_phone
            raise InvalidField(
                f"the application cannot be submitted without all four confirmations (missing: {', '.join(missing)});"
                f" call the prevention office at {phone}",
                code="confirmation_required",
                detail={"missing": missing, "prevention_office_phone": phone, "confirmations_version": texts.version})
        return {k: str(getattr(texts, k)) for k in CONFIRMATION_KEYS}

    async def _new(self, person: Person, data: ApplicationInput, *, previous: ReturnApplication | None) -> ReturnApplication:
        if person.role not in APPLICANT_ROLES:
            raise Forbidden(f"role {person.role} does not apply to return", code="forbidden")
        now = self.clock.now()
        today = checkin_day(now)
        checkin = await todays_checkin(self.db, person.id, now)
        if checkin is None:
            raise Conflict(f"do today's health check-in ({today.isoformat()}) before applying", code="checkin_required")
        confirmations = self._confirmations(data.confirmations)
        planned, legs = validate_application(data, today, self.config.workflow.application_horizon_days)
        if not person.department:
            raise Conflict("your account has no department in the roster; ask the IT office", code="no_department")
        wf = self.config.workflow
        new = NewApplication(
            person_id=person.id, department=person.department, planned_return_date=planned,
            departure_region_code=data.departure_region_code, itinerary=legs, reason=data.reason.strip(),
            confirmations_version=wf.confirmations.version, confirmations=confirmations, checkin_id=checkin.id,
            expires_at_s=to_unix(expiry_at(planned, wf.expiry_grace_days)),
            version=previous.version + 1 if previous else 1, previous_id=previous.id if previous else None,
        )
        now_s = to_unix(now)
        async with self.db.transaction() as conn:
            if previous is not None:
                async with conn.execute("SELECT state FROM return_applications WHERE id = ?", (previous.id,)) as cur:
                    row = await cur.fetchone()
                async with conn.execute("SELECT 1 FROM return_applications WHERE previous_id = ?", (previous.id,)) as cur:
                    amended = await cur.fetchone()
                if row is None or row[0] not in ("dept_rejected", "school_rejected") or amended is not None:
                    raise IllegalTransition(previous, "amend") if amended is None else Conflict(
                        f"application {previous.id} was already amended", code="already_amended")
            active = await Applications.active_id(conn, person.id)
            if active is not None:
                raise Conflict(f"you already have an active return application ({active}); withdraw it first",
                               code="active_application_exists", detail={"application_id": active})
            app_id = await Applications.insert(conn, new, state="submitted", now_s=now_s)
            await Applications.add_transition(conn, app_id, None, "submitted", actor_id=person.id,
                                              actor_role=person.role, now_s=now_s,
                                              reason=f"amends {previous.id}" if previous else "")
        app = await self.store.get(app_id)
        assert app is not None
        return app

    async def submit(self, person: Person, data: ApplicationInput) -> ReturnApplication:
        """Submit a new application (state ``submitted``).

        Raises:
            Forbidden: the person is not a student or staff member.
            Conflict: 409 ``checkin_required`` (no check-in today), ``active_application_exists``,
                ``no_department``.
            InvalidField: ``confirmation_required`` (detail: ``missing``, ``prevention_office_phone``).
            InvalidAnswers: 422 ``invalid_field`` with every failing field.
        """
        return await self._new(person, data, previous=None)

    async def amend(self, person: Person, application_id: int, data: ApplicationInput) -> ReturnApplication:
        """Resubmit a rejected application as a new version (the rejected one is kept).

        Raises:
            NotFound: not the person's application.
            IllegalTransition: 409 ``not_rejected``; Conflict 409 ``already_amended``; and every
                error of :meth:`submit`.
        """
        previous = await self.store.get(application_id)
        if previous is None or previous.person_id != person.id:
            raise NotFound(f"no return application {application_id} among yours")
        if previous.state not in ("dept_rejected", "school_rejected"):
            raise IllegalTransition(previous, "amend")
        return await self._new(person, data, previous=previous)

    async def withdraw(self, person: Person, application_id: int, reason: str = "") -> ReturnApplication:
        """Withdraw one's own application (until arrival).

        Raises:
            NotFound: not the person's application.
            IllegalTransition: 409 ``already_arrived`` / ``not_active``.
        """
        app = await self.store.get(application_id)
        if app is None or app.person_id != person.id:
            raise NotFound(f"no return application {application_id} among yours")
        return await self._apply(app, "withdraw", person.id, person.role, reason.strip()[:MAX_REASON])

    # -- reviewers -------------------------------------------------------------------------------

    async def approve(self, reviewer: Person, application_id: int) -> ReturnApplication:
        """Approve the reviewer's stage: a counsellor of the applicant's department approves
        ``submitted → dept_approved``; a school admin approves ``dept_approved → approved``
        (then the applicant gets the approval SMS, exactly once).

        Raises:
            NotFound: no such application (school admin).
            Forbidden: 403 ``department_scope`` (a counsellor, for an application of another
                department or none: the two answers are identical), ``forbidden`` (not a reviewer).
            IllegalTransition: 409 ``already_decided``, ``dept_stage_pending``, ``not_active``.
        """
        app, action = await self._for_review(reviewer, application_id, "approve")
        return await self._apply(app, action, reviewer.id, reviewer.role, "", audit_as=reviewer.number)

    async def reject(self, reviewer: Person, application_id: int, reason: str) -> ReturnApplication:
        """Reject at the reviewer's stage with a reason shown to the applicant (and sent by SMS).

        Raises:
            InvalidAnswers: 422 ``invalid_field`` (``reason`` ``required``) when the reason is blank.
            and every error of :meth:`approve`.
        """
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            raise InvalidAnswers([FieldError("reason", "required" if not reason else "too_long",
                                             f"a rejection needs a reason of 1–{MAX_REASON} characters")])
        app, action = await self._for_review(reviewer, application_id, "reject")
        return await self._apply(app, action, reviewer.id, reviewer.role, reason, audit_as=reviewer.number)

    async def approve_many(self, reviewer: Person, application_ids: Sequence[int]) -> list[BatchOutcome]:
        """Approve several applications (each on its own; one refusal does not stop the rest)."""
        out = []
        for app_id in dict.fromkeys(application_ids):
            try:
                app = await self.approve(reviewer, app_id)
                out.append(BatchOutcome(app_id, True, state=app.state))
            except DomainError as exc:
                out.append(BatchOutcome(app_id, False, code=exc.code, message=exc.message))
        return out

    async def revoke(self, admin: Person, application_id: int, reason: str) -> ReturnApplication:
        """Revoke an application (school admin, reason required).

        Raises:
            Forbidden: not a school admin. InvalidAnswers: blank reason. NotFound.
            IllegalTransition: 409 ``not_active``.
        """
        if admin.role != "school_admin":
            raise Forbidden("only a school admin may revoke a return application")
        reason = reason.strip()
        if not reason:
            raise InvalidAnswers([FieldError("reason", "required", "a revocation needs a reason")])
        app = await self.store.get(application_id)
        if app is None:
            raise NotFound(f"no return application {application_id}")
        return await self._apply(app, "revoke", admin.id, admin.role, reason[:MAX_REASON], audit_as=admin.number)

    async def _for_review(self, reviewer: Person, application_id: int, verb: str) -> tuple[ReturnApplication, str]:
        if reviewer.role == "counsellor":
            stage = "dept"
        elif reviewer.role == "school_admin":
            stage = "school"
        else:
            raise Forbidden(f"role {reviewer.role} does not review return applications")
        app = await self.store.get(application_id)
        if stage == "dept" and (app is None or not in_scope(reviewer, app.department)):
            # The same answer for a missing id and another department's: ids reveal nothing.
            raise OutOfScope(f"no return application {application_id} in your departments")
        if app is None:
            raise NotFound(f"no return application {application_id}")
        return app, f"{stage}_{verb}"

    # -- the background job ----------------------------------------------------------------------

    async def expire_due(self, now: datetime) -> list[int]:
        """Expire every active application not decided or not arrived by its planned date plus
        the grace days (``expires_at <= now``). Run periodically by the app; tests call it with
        a fake clock's time.

        Returns:
            The ids expired now.
        """
        done = []
        for app in await self.store.due_for_expiry(to_unix(now)):
            try:
                await self._apply(app, "expire", None, "system", "not decided or not arrived in time", now=now)
                done.append(app.id)
            except IllegalTransition:
                continue  # decided or withdrawn meanwhile
        if done:
            log.info("expired %d return applications", len(done))
        return done

    # -- the one transition path -----------------------------------------------------------------

    async def _apply(self, app: ReturnApplication, action: str, actor_id: int | None, actor_role: str,
                     reason: str, *, now: datetime | None = None, audit_as: str | None = None) -> ReturnApplication:
        # audit_as: the reviewer's number; decisions by counsellors and admins also go to the
        # audit log (docs/architecture.md §10), in the same transaction.
        target = TRANSITIONS.get((app.state, action))
        if target is None:
            raise IllegalTransition(app, action)
        now = now or self.clock.now()
        now_s = to_unix(now)
        decision: dict[str, Any] = {}
        if action.startswith("dept_"):
            decision = {"dept_decided_by": actor_id, "dept_decided_at": now_s}
        elif action.startswith("school_"):
            decision = {"school_decided_by": actor_id, "school_decided_at": now_s}
        if action.endswith("_reject") or action == "revoke":
            decision["decision_reason"] = reason
        applicant = await People(self.db).by_id(app.person_id) if target in ("approved", "school_rejected",
                                                                              "dept_rejected") else None
        enqueued = False
        async with self.db.transaction() as conn:
            if not await Applications.move(conn, app.id, app.state, target, now_s=now_s, **decision):
                fresh = await self.store.get(app.id)
                raise IllegalTransition(fresh or app, action)
            await Applications.add_transition(conn, app.id, app.state, target, actor_id=actor_id,
                                              actor_role=actor_role, now_s=now_s, reason=reason)
            if audit_as is not None:
                await AuditLog.add(conn, at_s=now_s, actor_id=actor_id, actor_number=audit_as,
                                   action=f"application_{action}", target_person_id=app.person_id,
                                   detail={"application_id": app.id, "state": target, "reason": reason})
            if target == "approved":
                await self.passes.approved(conn, app.person_id, actor_id, now)
            elif target in ENDING_STATES:
                await self.passes.application_ended(conn, app.person_id, f"application_{target}", reason,
                                                    actor_id, now)
            if applicant is not None and applicant.phone:
                enqueued = await self._enqueue_sms(conn, app, applicant, target, reason, now_s)
        if enqueued:
            self.sms_wake()
        updated = await self.store.get(app.id)
        assert updated is not None
        return updated

    async def _enqueue_sms(self, conn: aiosqlite.Connection, app: ReturnApplication, applicant: Person,
                           target: str, reason: str, now_s: int) -> bool:
        wf, sender = self.config.workflow, self.config.sms.sender_name
        assert applicant.phone is not None
        fields = {"sender": sender, "name": applicant.name, "number": applicant.number,
                  "date": app.planned_return_date.isoformat(), "reason": reason,
                  "phone": wf.prevention_office_phone,
                  "stage": "院系" if target == "dept_rejected" else "学校"}
        if target == "approved":
            body, purpose = wf.sms_approved.format(**fields), "application_approved"
        else:
            body, purpose = wf.sms_rejected.format(**fields), "application_rejected"
        params = {k: v for k, v in fields.items() if k in PURPOSE_FIELDS[purpose]}
        return await SmsOutboxStore.enqueue(conn, message_id=f"{purpose}:{app.id}", phone=applicant.phone,
                                            body=body, purpose=purpose, now_s=now_s, person_id=applicant.id,
                                            params=params)


def _may_see(viewer: Person, app: ReturnApplication) -> bool:
    return viewer.id == app.person_id or in_scope(viewer, app.department)


def when_local(at_s: int | None) -> str:
    """``YYYY-MM-DD HH:MM`` Asia/Shanghai of a Unix time ("" for None), for pages and JSON."""
    if at_s is None:
        return ""
    return from_unix(at_s).astimezone(CAMPUS_TZ).strftime("%Y-%m-%d %H:%M")
