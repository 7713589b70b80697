"""Return applications for the applicant (docs/architecture.md §2.3), as JSON and as the mobile
pages with their home-page card.

``POST /api/v1/return-applications``, ``GET /api/v1/return-applications/mine``,
``GET /api/v1/return-applications/{id}``, ``POST .../{id}/withdraw``, ``POST .../{id}/amend``.

``GET /apply`` (``?amend=ID`` to amend a rejected one), ``POST /apply``,
``POST /applications/{id}/withdraw``. If a confirmation is not given the form is shown again
with the prevention office's phone number instead of submitting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from server.storage.applications import ReturnApplication, Transition
from server.web import auth, form_drafts, state
from server.web.errors import ApiError, NotFound, status_of
from server.web.regions import form_region
from server.web.registry import ANY_USER, Routes
from server.web.rendering import parse_id, render
from server.workflow.applications import CONFIRMATION_KEYS, MODES, ApplicationInput, when_local
from server.workflow.checkins import InvalidAnswers
from shared.campus_time import checkin_day
from shared.clock import from_unix
from shared.config import bounds

routes = Routes(tag="return-applications")

APPLICANT_ROLES = ("student", "staff")

STAGE_OF_STATE = {"submitted": "dept", "dept_approved": "school"}
"""Which review stage an application in this state waits for."""


@dataclass(frozen=True)
class LegBody:
    """One itinerary leg. Times ISO 8601; without an offset they are Asia/Shanghai."""

    mode: str
    from_region_code: str
    to_region_code: str
    depart_at: str
    arrive_at: str
    service_no: str = ""


@dataclass(frozen=True)
class ConfirmationsBody:
    """The four confirmations about the last 14 days; each must be true."""

    no_risk_area: bool = False
    no_case_contact: bool = False
    no_symptoms: bool = False
    not_quarantined: bool = False


@dataclass(frozen=True)
class ApplicationBody:
    """A return application (or an amendment of a rejected one)."""

    planned_return_date: str
    departure_region_code: str
    itinerary: list[LegBody]
    reason: str
    confirmations: ConfirmationsBody = field(default_factory=ConfirmationsBody)


@dataclass(frozen=True)
class WithdrawBody:
    """Optional reason for withdrawing."""

    reason: str = field(default="", metadata=bounds(max_length=500))


@dataclass(frozen=True)
class TransitionOut:
    """One step of the application's history: who (name, role), when (ISO UTC), why."""

    from_state: str | None
    to_state: str
    actor_name: str
    actor_role: str
    at: str
    reason: str


@dataclass(frozen=True)
class ApplicationOut:
    """A return application. ``stage`` is the review stage it waits for (dept, school) or null."""

    id: int
    version: int
    previous_id: int | None
    state: str
    stage: str | None
    department: str
    planned_return_date: str
    departure_region_code: str
    itinerary: list[dict[str, str]]
    reason: str
    confirmations_version: str
    confirmations: dict[str, str]
    decision_reason: str
    created_at: str
    updated_at: str
    expires_at: str
    transitions: list[TransitionOut]


@dataclass(frozen=True)
class MineOut:
    """Own applications, newest first (every version); ``active`` is the active one or null."""

    active: ApplicationOut | None
    applications: list[ApplicationOut]


def to_input(body: ApplicationBody) -> ApplicationInput:
    """The domain input of a parsed body."""
    return ApplicationInput(body.planned_return_date, body.departure_region_code,
                            [asdict(leg) for leg in body.itinerary], body.reason, asdict(body.confirmations))


def application_json(app: ReturnApplication, transitions: list[Transition]) -> dict[str, Any]:
    """The JSON form (:class:`ApplicationOut`)."""
    return asdict(ApplicationOut(
        id=app.id, version=app.version, previous_id=app.previous_id, state=app.state,
        stage=STAGE_OF_STATE.get(app.state), department=app.department,
        planned_return_date=app.planned_return_date.isoformat(), departure_region_code=app.departure_region_code,
        itinerary=[asdict(leg) for leg in app.itinerary], reason=app.reason,
        confirmations_version=app.confirmations_version, confirmations=app.confirmations,
        decision_reason=app.decision_reason, created_at=from_unix(app.created_at_s).isoformat(),
        updated_at=from_unix(app.updated_at_s).isoformat(), expires_at=from_unix(app.expires_at_s).isoformat(),
        transitions=[TransitionOut(t.from_state, t.to_state, t.actor_name, t.actor_role,
                                   from_unix(t.at_s).isoformat(), t.reason) for t in transitions],
    ))


async def _json(request: web.Request, app: ReturnApplication) -> dict[str, Any]:
    return application_json(app, await request.app[state.SERVICES].applications.transitions(app.id))


def path_id(request: web.Request) -> int:
    """The ``{id}`` of the path as an int.

    Raises:
        NotFound: not a number.
    """
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise NotFound(f"no return application {request.match_info['id']!r}") from None


@routes.api("POST", "/api/v1/return-applications", roles=APPLICANT_ROLES, body=ApplicationBody,
            response=ApplicationOut, summary="Submit a return-to-campus application")
async def submit(request: web.Request, body: ApplicationBody) -> web.Response:
    """Only after today's check-in (409 ``checkin_required``); all four confirmations (422
    ``confirmation_required`` with ``missing`` and ``prevention_office_phone``); one active
    application per person (409 ``active_application_exists``); field errors 422 ``invalid_field``."""
    user = await auth.require_user(request)
    app = await request.app[state.SERVICES].applications.submit(user.person, to_input(body))
    return web.json_response(await _json(request, app), status=201)


@routes.api("GET", "/api/v1/return-applications/mine", roles=APPLICANT_ROLES, response=MineOut,
            summary="Own return applications (all versions) and the active one")
async def mine(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    apps = await request.app[state.SERVICES].applications.mine(user.id)
    items = [await _json(request, a) for a in apps]
    active = next((item for a, item in zip(apps, items, strict=True) if a.active), None)
    return web.json_response({"active": active, "applications": items})


@routes.api("GET", r"/api/v1/return-applications/{id}", roles=ANY_USER, response=ApplicationOut,
            summary="One return application (own, or in the reviewer's departments)")
async def get_one(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    app = await request.app[state.SERVICES].applications.get_for(user.person, path_id(request))
    return web.json_response(await _json(request, app))


@routes.api("POST", r"/api/v1/return-applications/{id}/withdraw", roles=APPLICANT_ROLES, body=WithdrawBody,
            response=ApplicationOut, summary="Withdraw own application (until arrival)")
async def withdraw(request: web.Request, body: WithdrawBody) -> web.Response:
    """409 ``already_arrived`` / ``not_active`` when it can no longer be withdrawn."""
    user = await auth.require_user(request)
    app = await request.app[state.SERVICES].applications.withdraw(user.person, path_id(request), body.reason)
    return web.json_response(await _json(request, app))


@routes.api("POST", r"/api/v1/return-applications/{id}/amend", roles=APPLICANT_ROLES, body=ApplicationBody,
            response=ApplicationOut, summary="Amend a rejected application (a new version; the old one is kept)")
async def amend(request: web.Request, body: ApplicationBody) -> web.Response:
    """409 ``not_rejected`` unless the application was rejected; ``already_amended`` twice."""
    user = await auth.require_user(request)
    app = await request.app[state.SERVICES].applications.amend(user.person, path_id(request), to_input(body))
    return web.json_response(await _json(request, app), status=201)


LEG_FIELDS = ("mode", "service_no", "from_region_code", "to_region_code", "depart_at", "arrive_at")
FORM_LEGS = 2


def form_input(form: MultiDictProxy[Any]) -> ApplicationInput:
    """The application of a submitted form (leg 2 is used only when its mode is chosen)."""
    legs = []
    for i in range(FORM_LEGS):
        leg = {f: str(form.get(f"leg{i}_{f}", "")).strip() for f in LEG_FIELDS}
        for f in ("from_region_code", "to_region_code"):
            leg[f] = form_region(leg[f])
        if i == 0 or leg["mode"]:
            legs.append(leg)
    return ApplicationInput(
        planned_return_date=str(form.get("planned_return_date", "")),
        departure_region_code=form_region(form.get("departure_region_code")),
        itinerary=legs, reason=str(form.get("reason", "")),
        confirmations={k: form.get(k) == "yes" for k in CONFIRMATION_KEYS},
    )


async def _form(request: web.Request, *, values: dict[str, Any] | None = None, amend: int | None = None,
                errors: dict[str, str] | None = None, error: str | None = None, status: int = 200,
                unticked: list[str] | None = None) -> web.StreamResponse:
    user = await auth.require_user(request)
    wf = request.app[state.CONFIG].workflow
    today = checkin_day(request.app[state.CLOCK].now())
    checked_in = await request.app[state.SERVICES].checkins.today(user.id) is not None
    return await render(request, "application_form.html", {
        "values": values or {}, "amend": amend, "field_errors": errors or {}, "error": error,
        "checked_in": checked_in, "phone": wf.prevention_office_phone, "modes": MODES, "legs": range(FORM_LEGS),
        "confirmations": [(k, getattr(wf.confirmations, k)) for k in CONFIRMATION_KEYS], "unticked": unticked or [],
        "confirmations_version": wf.confirmations.version, "min_date": today.isoformat(),
        "max_date": (today + timedelta(days=wf.application_horizon_days)).isoformat(),
    }, status=status)


def _values(app: ReturnApplication) -> dict[str, Any]:
    values: dict[str, Any] = {"planned_return_date": app.planned_return_date.isoformat(),
                              "departure_region_code": app.departure_region_code, "reason": app.reason}
    for i, leg in enumerate(app.itinerary[:FORM_LEGS]):
        for f in LEG_FIELDS:
            value = getattr(leg, f)
            values[f"leg{i}_{f}"] = value[:16] if f in ("depart_at", "arrive_at") else value
    return values


@routes.page("GET", "/apply", roles=APPLICANT_ROLES, summary="return application form")
async def apply_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    kept = form_drafts.take(request, "/apply", user.person.number)
    if kept is not None:
        values = dict(kept)
        response = await _form(request, values=values, amend=parse_id(values.get("amend")))
        form_drafts.drop(request, response)
        return response
    amend = parse_id(request.query.get("amend"))
    if amend is not None:
        app = await request.app[state.SERVICES].applications.get_for(user.person, amend)
        return await _form(request, values=_values(app), amend=app.id)
    return await _form(request)


@routes.page("POST", "/apply", roles=APPLICANT_ROLES, summary="submit a return application", keep_form="/apply")
async def apply_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    data = form_input(form)
    amend = parse_id(form.get("amend"))
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    service = request.app[state.SERVICES].applications
    try:
        if amend is not None:
            await service.amend(user.person, amend, data)
        else:
            await service.submit(user.person, data)
    except InvalidAnswers as exc:
        return await _form(request, values=values, amend=amend, errors={e.field: e.code for e in exc.errors},
                           error="invalid_field", status=status_of(exc))
    except ApiError as exc:
        if exc.code == "confirmation_required":
            # one message under the title naming the unticked items; the ticks given stay ticked
            unticked = [k for k in CONFIRMATION_KEYS if form.get(k) != "yes"]
            return await _form(request, values=values, amend=amend, unticked=unticked, status=status_of(exc))
        return await _form(request, values=values, amend=amend, error=exc.code, status=status_of(exc))
    raise web.HTTPSeeOther("/?msg=application_submitted")


@routes.page("POST", r"/applications/{id:\d+}/withdraw", roles=APPLICANT_ROLES, summary="withdraw own application")
async def withdraw_post(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    try:
        await request.app[state.SERVICES].applications.withdraw(user.person, int(request.match_info["id"]))
    except NotFound:
        raise
    except ApiError as exc:
        raise web.HTTPSeeOther(f"/?msg={exc.code}") from None
    raise web.HTTPSeeOther("/?msg=application_withdrawn")


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card: the latest application with its progress (who decided, when, why)."""
    user = await auth.current_user(request)
    if user is None or user.role not in APPLICANT_ROLES:
        return None
    service = request.app[state.SERVICES].applications
    apps = await service.mine(user.id)
    latest = apps[0] if apps else None
    steps = []
    if latest is not None:
        steps = [{"to_state": t.to_state, "actor_name": t.actor_name, "actor_role": t.actor_role,
                  "at": when_local(t.at_s), "reason": t.reason} for t in await service.transitions(latest.id)]
    checked_in = await request.app[state.SERVICES].checkins.today(user.id) is not None
    return "application_home.html", {"app": latest, "steps": steps, "checked_in": checked_in,
                                     "stage": STAGE_OF_STATE.get(latest.state) if latest else None}
