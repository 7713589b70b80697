"""JSON API of return applications for the applicant (docs/architecture.md §2.3).

``POST /api/v1/return-applications``, ``GET /api/v1/return-applications/mine``,
``GET /api/v1/return-applications/{id}``, ``POST .../{id}/withdraw``, ``POST .../{id}/amend``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from server.storage.applications import ReturnApplication, Transition
from server.web import auth
from server.web.application_state import application_service
from server.web.errors import NotFound
from server.web.registry import ANY_USER, Routes
from server.workflow.applications import ApplicationInput
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
    return application_json(app, await application_service(request.app).transitions(app.id))


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
    app = await application_service(request.app).submit(user.person, to_input(body))
    return web.json_response(await _json(request, app), status=201)


@routes.api("GET", "/api/v1/return-applications/mine", roles=APPLICANT_ROLES, response=MineOut,
            summary="Own return applications (all versions) and the active one")
async def mine(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    apps = await application_service(request.app).mine(user.id)
    items = [await _json(request, a) for a in apps]
    active = next((item for a, item in zip(apps, items, strict=True) if a.active), None)
    return web.json_response({"active": active, "applications": items})


@routes.api("GET", r"/api/v1/return-applications/{id}", roles=ANY_USER, response=ApplicationOut,
            summary="One return application (own, or in the reviewer's departments)")
async def get_one(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    app = await application_service(request.app).get_for(user.person, path_id(request))
    return web.json_response(await _json(request, app))


@routes.api("POST", r"/api/v1/return-applications/{id}/withdraw", roles=APPLICANT_ROLES, body=WithdrawBody,
            response=ApplicationOut, summary="Withdraw own application (until arrival)")
async def withdraw(request: web.Request, body: WithdrawBody) -> web.Response:
    """409 ``already_arrived`` / ``not_active`` when it can no longer be withdrawn."""
    user = await auth.require_user(request)
    app = await application_service(request.app).withdraw(user.person, path_id(request), body.reason)
    return web.json_response(await _json(request, app))


@routes.api("POST", r"/api/v1/return-applications/{id}/amend", roles=APPLICANT_ROLES, body=ApplicationBody,
            response=ApplicationOut, summary="Amend a rejected application (a new version; the old one is kept)")
async def amend(request: web.Request, body: ApplicationBody) -> web.Response:
    """409 ``not_rejected`` unless the application was rejected; ``already_amended`` twice."""
    user = await auth.require_user(request)
    app = await application_service(request.app).amend(user.person, path_id(request), to_input(body))
    return web.json_response(await _json(request, app), status=201)
