"""Review of return applications (docs/architecture.md §2.4, §3), as JSON and as the reviewers'
page: the approval queue, approve / reject (one or many), revoke, and the counsellor's list of
abnormal check-ins.

Counsellors act on the department stage of their own departments; school admins on the
school stage. Every view of health answers is written to the audit log (``health_view``).

``GET /review?stage=&status=&page=``, ``POST /review/{id}/approve``, ``POST /review/approve``
(ticked ids), ``POST /review/{id}/reject``. Each card shows what a reviewer decides on: the plan
and itinerary with place names, the four confirmations as confirmed, the applicant's check-in
today and, at the school stage, who approved it for the department and when. After a decision
the page says how many were approved and how many could not be, and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.storage.checkins import Checkins
from server.web import audit, auth, i18n, state
from server.web.applications import ApplicationOut, application_json, path_id
from server.web.checkins import CheckinOut, checkin_json
from server.web.errors import ApiError, InvalidField
from server.web.query import int_query, parse_day
from server.web.registry import Routes
from server.web.rendering import form_ids, render
from server.workflow.applications import CONFIRMATION_KEYS, TRANSITIONS, when_local
from shared.campus_time import checkin_day
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
    checkin: CheckinOut  # type: ignore[valid-type]


@dataclass(frozen=True)
class AbnormalOut:
    """Abnormal check-ins of ``day``."""

    day: str
    items: list[AbnormalEntry]


@routes.api("GET", "/api/v1/review/return-applications", roles=REVIEWERS, response=QueueOut,
            query={"stage": "dept or school (default: the reviewer's stage)",
                   "status": "an application state (overrides stage)",
                   "limit": "rows (default 200)", "offset": "rows to skip"},
            summary="The reviewer's queue of return applications")
async def queue(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    service = request.app[state.SERVICES].applications
    items = await service.queue(user.person, stage=request.query.get("stage"), status=request.query.get("status"),
                                limit=int_query(request, "limit", 200, 0, 1000),
                                offset=int_query(request, "offset", 0, 0, 10**9))
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
    service = request.app[state.SERVICES].applications
    app = await service.approve(user.person, path_id(request))
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", r"/api/v1/return-applications/{id}/reject", roles=REVIEWERS, body=RejectBody,
            response=ApplicationOut, summary="Reject at the reviewer's stage with a reason")
async def reject(request: web.Request, body: RejectBody) -> web.Response:
    """422 ``invalid_field`` (reason required); otherwise as approve."""
    user = await auth.require_user(request)
    service = request.app[state.SERVICES].applications
    app = await service.reject(user.person, path_id(request), body.reason)
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", r"/api/v1/return-applications/{id}/revoke", roles=("school_admin",), body=RejectBody,
            response=ApplicationOut, summary="Revoke an application (school admin, reason required)")
async def revoke(request: web.Request, body: RejectBody) -> web.Response:
    user = await auth.require_user(request)
    service = request.app[state.SERVICES].applications
    app = await service.revoke(user.person, path_id(request), body.reason)
    return web.json_response(application_json(app, await service.transitions(app.id)))


@routes.api("POST", "/api/v1/review/return-applications/approve", roles=REVIEWERS, body=BatchBody,
            response=BatchOut, summary="Approve several applications at once")
async def approve_many(request: web.Request, body: BatchBody) -> web.Response:
    """Each id is decided on its own; refusals are reported per id, not as an error."""
    if not 1 <= len(body.ids) <= 200:
        raise InvalidField(f"ids has {len(body.ids)} entries; expected 1–200")
    user = await auth.require_user(request)
    results = await request.app[state.SERVICES].applications.approve_many(user.person, body.ids)
    return web.json_response({"results": [asdict(r) for r in results]})


@routes.api("GET", "/api/v1/review/checkins/abnormal", roles=REVIEWERS, response=AbnormalOut,
            query={"day": "YYYY-MM-DD (default today, Asia/Shanghai)"},
            summary="Abnormal check-ins in the reviewer's departments (audited)")
async def abnormal(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    day = parse_day(request.query.get("day"), "day") or checkin_day(now)
    rows = await Checkins(request.app[state.SERVICES].db).abnormal_in_departments(auth.visible_departments(user.person), day)
    await audit.record_now(request, "health_view", detail={"list": "abnormal_checkins", "day": day.isoformat(),
                                                           "people": [r.number for r in rows]})
    return web.json_response({"day": day.isoformat(), "items": [
        {"number": r.number, "name": r.name, "department": r.department, "checkin": checkin_json(r.checkin)}
        for r in rows]})


STATES = tuple(dict.fromkeys([*(s for s, _ in TRANSITIONS), *TRANSITIONS.values()]))


def _back(stage: str, status: str, msg: str) -> str:
    query = {k: v for k, v in (("stage", stage), ("status", status), ("msg", msg)) if v}
    return "/review?" + urlencode(query)


PAGE_SIZE = 20


def _count(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) <= 6 else None


@routes.page("GET", "/review", roles=REVIEWERS, summary="reviewer's list")
async def review_page(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    stage = request.query.get("stage", "")
    status = request.query.get("status", "")
    page = max(1, min(_count(request.query.get("page")) or 1, 1000))
    service = request.app[state.SERVICES].applications
    try:
        items = await service.queue(user.person, stage=stage or None, status=status or None,
                                    limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    except ApiError:
        stage, status = "", ""
        items = await service.queue(user.person, stage=None, status=None, limit=PAGE_SIZE + 1,
                                    offset=(page - 1) * PAGE_SIZE)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    error = request.query.get("error", "")
    now = request.app[state.CLOCK].now()
    today = checkin_day(now)
    checkins = Checkins(request.app[state.SERVICES].db)
    abnormal = await checkins.abnormal_in_departments(auth.visible_departments(user.person), today)
    cards: list[dict[str, Any]] = []
    for item in items:
        steps = await service.transitions(item.application.id)
        dept = next((t for t in reversed(steps) if t.to_state == "dept_approved"), None)
        cards.append({"item": item, "checkin": await request.app[state.SERVICES].checkins.today(item.application.person_id),
                      "dept": dept, "dept_at": when_local(dept.at_s) if dept else ""})
    viewed = [a.number for a in abnormal] + [c["item"].number for c in cards if c["checkin"] is not None]
    if viewed:
        await audit.record_now(request, "health_view", detail={"list": "review", "page": "/review",
                                                               "people": sorted(set(viewed))})
    missing = await request.app[state.SERVICES].checkins.missing(auth.visible_departments(user.person))
    confirmation_texts = {k: i18n.translate(request, "confirm_" + k) for k in CONFIRMATION_KEYS}
    done, failed = _count(request.query.get("done")), _count(request.query.get("failed"))
    known_error = error if error and i18n.catalogue(request).has(error) else None
    return await render(request, "review.html", {
        "missing": len(missing), "cards": cards, "page": page, "more": more,
        "items": items, "stage": stage or ("dept" if user.role == "counsellor" else "school"), "status": status,
        "states": STATES, "abnormal": abnormal, "error": known_error if done is None else None,
        "fail_reason": known_error if done is not None else None, "done": done, "failed": failed, "confirmation_keys": CONFIRMATION_KEYS,
        "confirmation_texts": confirmation_texts,
    })


def _outcome(stage: str, status: str, done: int, failed: int, code: str | None) -> str:
    query = {k: v for k, v in (("stage", stage), ("status", status)) if v}
    query.update({"done": str(done), "failed": str(failed)})
    if code:
        query["error"] = code
    return "/review?" + urlencode(query)


@routes.page("POST", "/review/approve", roles=REVIEWERS, summary="approve the ticked applications")
async def review_approve(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    stage, status = str(form.get("stage", "")), str(form.get("status", ""))
    ids = form_ids(form.getall("ids", []), 200)
    if not ids:
        raise web.HTTPSeeOther(_back(stage, status, "") + "&error=nothing_selected")
    results = await request.app[state.SERVICES].applications.approve_many(user.person, ids)
    failed = [r for r in results if not r.ok]
    raise web.HTTPSeeOther(_outcome(stage, status, len(results) - len(failed), len(failed),
                                    failed[0].code if failed else None))


@routes.page("POST", r"/review/{id:\d+}/approve", roles=REVIEWERS, summary="approve one application")
async def review_approve_one(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    stage, status = str(form.get("stage", "")), str(form.get("status", ""))
    try:
        await request.app[state.SERVICES].applications.approve(user.person, int(request.match_info["id"]))
    except ApiError as exc:
        raise web.HTTPSeeOther(_outcome(stage, status, 0, 1, exc.code)) from None
    raise web.HTTPSeeOther(_outcome(stage, status, 1, 0, None))


@routes.page("POST", "/review/remind", roles=REVIEWERS, summary="remind those who have not checked in")
async def review_remind(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    # the same service as the dashboards: one reminder per person per day, whoever asks
    await request.app[state.SERVICES].reminders.remind_all_missing(user.person)
    raise web.HTTPSeeOther("/review?msg=reminders_sent")


@routes.page("POST", r"/review/{id:\d+}/reject", roles=REVIEWERS, summary="reject with a reason")
async def review_reject(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    back = _back(str(form.get("stage", "")), str(form.get("status", "")), "review_rejected")
    try:
        await request.app[state.SERVICES].applications.reject(user.person, int(request.match_info["id"]),
                                                      str(form.get("reason", "")))
    except ApiError as exc:
        code = "required" if exc.code == "invalid_field" else exc.code
        raise web.HTTPSeeOther(_back(str(form.get("stage", "")), str(form.get("status", "")), "")
                               + f"&error={code}") from None
    raise web.HTTPSeeOther(back)


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card for counsellors and school admins: how many applications await them."""
    user = await auth.current_user(request)
    if user is None or user.role not in REVIEWERS or not user.person.is_active:
        return None
    pending = await request.app[state.SERVICES].applications.queue(user.person, stage=None, status=None, limit=1000)
    return "review_home.html", {"pending": len(pending)}
