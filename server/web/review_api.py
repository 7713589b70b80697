"""JSON API for reviewers: the approval queue, approve / reject (one or many), revoke, and the
counsellor's list of abnormal check-ins (docs/architecture.md §2.4, §3).

Counsellors act on the department stage of their own departments; school admins on the
school stage. Every view of health answers is written to the audit log (``health_view``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aiohttp import web

from server.storage.audit import AuditLog
from server.storage.checkins import Checkins
from server.web import auth, state
from server.web.application_api import ApplicationOut, application_json, path_id
from server.web.application_state import application_service
from server.web.checkin_api import CheckinOut, checkin_json, parse_day
from server.web.errors import InvalidField
from server.web.registry import Routes
from shared.campus_time import checkin_day
from shared.clock import to_unix
from shared.config import bounds

routes = Routes(tag="review")

REVIEWERS = ("counsellor", "school_admin")


@dataclass(frozen=True)
class RejectBody:
    """The rejection reason (required; shown to the applicant and sent by SMS)."""

    reason: str = field(default="", metadata=bounds(max_length=500))


@dataclass(frozen=True)
class BatchBody:
    """Ids of applications to approve at the reviewer's stage (1–200)."""

    ids: list[int]


@dataclass(frozen=True)
class QueueEntry:
    """An application in the queue with the applicant's number, name and class."""

    number: str
    name: str
    class_name: str | None
    application: ApplicationOut


@dataclass(frozen=True)
class QueueOut:
    """The reviewer's filtered list."""

    items: list[QueueEntry]


@dataclass(frozen=True)
class BatchResult:
    """Outcome per id: ``ok`` with the new ``state``, or the refusal's ``code`` and ``message``."""

    id: int
    ok: bool
    state: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True)
class BatchOut:
    """Outcomes in the order of the ids sent."""

    results: list[BatchResult]


@dataclass(frozen=True)
class AbnormalEntry:
    """An abnormal check-in of a person in the reviewer's departments."""

    number: str
    name: str
    department: str | None
    checkin: CheckinOut


@dataclass(frozen=True)
class AbnormalOut:
    """Abnormal check-ins of ``day``."""

    day: str
    items: list[AbnormalEntry]


def _int_query(request: web.Request, name: str, default: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not a whole number") from None
    if not 0 <= value <= hi:
        raise InvalidField(f"{name} {value} is not between 0 and {hi}")
    return value


@routes.api("GET", "/api/v1/review/return-applications", roles=REVIEWERS, response=QueueOut,
            query={"stage": "dept or school (default: the reviewer's stage)",
                   "status": "an application state (overrides stage)",
                   "limit": "rows (default 200)", "offset": "rows to skip"},
            summary="The reviewer's queue of return applications")
async def queue(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    service = application_service(request.app)
    items = await service.queue(user.person, stage=request.query.get("stage"), status=request.query.get("status"),
                                limit=_int_query(request, "limit", 200, 1000),
                                offset=_int_query(request, "offset", 0, 10**9))
    out = []
    for item in items:
        app_json = application_json(item.application, await service.transitions(item.application.id))
        out.append({"number": item.number, "name": item.name, "class_name": item.class_name, "application": app_json})
    return web.json_response({"items": out})


@routes.api("POST", r"/api/v1/return-applications/{id}/approve", roles=REVIEWERS, response=ApplicationOut,
            summary="Approve the reviewer's stage (counsellor: department; school admin: school)")
async def approve(request: web.Request) -> web.Response:
    """403 ``department_scope`` (another department); 409 ``already_decided``,
    ``dept_stage_pending`` (school before department), ``not_active``."""
    user = await auth.require_user(request)
    service = application_service(request.app)
    app = await service.approve(user.person, path_id(request))
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", r"/api/v1/return-applications/{id}/reject", roles=REVIEWERS, body=RejectBody,
            response=ApplicationOut, summary="Reject at the reviewer's stage with a reason")
async def reject(request: web.Request, body: RejectBody) -> web.Response:
    """422 ``invalid_field`` (reason required); otherwise as approve."""
    user = await auth.require_user(request)
    service = application_service(request.app)
    app = await service.reject(user.person, path_id(request), body.reason)
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", r"/api/v1/return-applications/{id}/revoke", roles=("school_admin",), body=RejectBody,
            response=ApplicationOut, summary="Revoke an application (school admin, reason required)")
async def revoke(request: web.Request, body: RejectBody) -> web.Response:
    user = await auth.require_user(request)
    service = application_service(request.app)
    app = await service.revoke(user.person, path_id(request), body.reason)
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", "/api/v1/review/return-applications/approve", roles=REVIEWERS, body=BatchBody,
            response=BatchOut, summary="Approve several applications at once")
async def approve_many(request: web.Request, body: BatchBody) -> web.Response:
    """Each id is decided on its own; refusals are reported per id, not as an error."""
    if not 1 <= len(body.ids) <= 200:
        raise InvalidField(f"ids has {len(body.ids)} entries; expected 1–200")
    user = await auth.require_user(request)
    results = await application_service(request.app).approve_many(user.person, body.ids)
    return web.json_response({"results": [asdict(r) for r in results]})


@routes.api("GET", "/api/v1/review/checkins/abnormal", roles=REVIEWERS, response=AbnormalOut,
            query={"day": "YYYY-MM-DD (default today, Asia/Shanghai)"},
            summary="Abnormal check-ins in the reviewer's departments (audited)")
async def abnormal(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    day = parse_day(request.query.get("day"), "day") or checkin_day(now)
    rows = await Checkins(request.app[state.SERVICES].db).abnormal_in_departments(auth.visible_departments(user.person), day)
    async with request.app[state.SERVICES].db.transaction() as conn:
        await AuditLog.add(conn, at_s=to_unix(now), actor_id=user.id, actor_number=user.person.number,
                           action="health_view", detail={"list": "abnormal_checkins", "day": day.isoformat(),
                                                         "people": [r.number for r in rows]},
                           address=auth.client_address(request))
    return web.json_response({"day": day.isoformat(), "items": [
        {"number": r.number, "name": r.name, "department": r.department, "checkin": checkin_json(r.checkin)}
        for r in rows]})


