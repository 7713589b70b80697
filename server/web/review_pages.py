"""Reviewer pages: the filtered list of return applications with batch approval and rejection
with a reason, plus today's abnormal check-ins (ARCHITECTURE §2.4).

``GET /review?stage=&status=``, ``POST /review/approve`` (checked ids), ``POST /review/{id}/reject``.
Showing the abnormal list is a view of health data and is written to the audit log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.storage.audit import AuditLog
from server.storage.checkins import Checkins
from server.web import auth, checkin_i18n, i18n, state
from server.web.application_state import application_service, checkin_service
from server.web.dashboard_state import REMINDERS
from server.web.errors import ApiError
from server.web.pages import form_ids, render
from server.web.registry import Routes
from server.workflow.applications import TRANSITIONS
from shared.campus_time import checkin_day
from shared.clock import to_unix

checkin_i18n.install()
routes = Routes(tag="review-pages")

REVIEWERS = ("counsellor", "school_admin")
STATES = tuple(dict.fromkeys([*(s for s, _ in TRANSITIONS), *TRANSITIONS.values()]))


def _back(stage: str, status: str, msg: str) -> str:
    query = {k: v for k, v in (("stage", stage), ("status", status), ("msg", msg)) if v}
    return "/review?" + urlencode(query)


@routes.page("GET", "/review", roles=REVIEWERS, summary="reviewer's list")
async def review_page(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    stage = request.query.get("stage", "")
    status = request.query.get("status", "")
    service = application_service(request.app)
    try:
        items = await service.queue(user.person, stage=stage or None, status=status or None)
    except ApiError:
        items, stage, status = await service.queue(user.person, stage=None, status=None), "", ""
    error = request.query.get("error", "")
    now = request.app[state.CLOCK].now()
    abnormal = await Checkins(request.app[state.DB]).abnormal_in_departments(
        auth.visible_departments(user.person), checkin_day(now))
    if abnormal:
        async with request.app[state.DB].transaction() as conn:
            await AuditLog.add(conn, at_s=to_unix(now), actor_id=user.id, actor_number=user.person.number,
                               action="health_view", detail={"list": "abnormal_checkins", "page": "/review",
                                                             "people": [a.number for a in abnormal]},
                               address=auth.client_address(request))
    missing = await checkin_service(request.app).missing(auth.visible_departments(user.person))
    return await render(request, "review.html", {
        "missing": len(missing),
        "items": items, "stage": stage or ("dept" if user.role == "counsellor" else "school"), "status": status,
        "states": STATES, "abnormal": abnormal, "error": error if error in i18n.MESSAGES["en"] else None,
    })


@routes.page("POST", "/review/approve", roles=REVIEWERS, summary="approve the checked applications")
async def review_approve(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    ids = form_ids(form.getall("ids", []), 200)
    results = await application_service(request.app).approve_many(user.person, ids)
    failed = next((r.code for r in results if not r.ok), None)
    target = _back(str(form.get("stage", "")), str(form.get("status", "")), "review_done")
    raise web.HTTPSeeOther(target + (f"&error={failed}" if failed else ""))


@routes.page("POST", "/review/remind", roles=REVIEWERS, summary="remind those who have not checked in")
async def review_remind(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    # the same service as the dashboards: one reminder per person per day, whoever asks
    await request.app[REMINDERS].remind_all_missing(user.person)
    raise web.HTTPSeeOther("/review?msg=reminders_sent")


@routes.page("POST", r"/review/{id:\d+}/reject", roles=REVIEWERS, summary="reject with a reason")
async def review_reject(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    back = _back(str(form.get("stage", "")), str(form.get("status", "")), "review_done")
    try:
        await application_service(request.app).reject(user.person, int(request.match_info["id"]),
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
    pending = await application_service(request.app).queue(user.person, stage=None, status=None, limit=1000)
    return "review_home.html", {"pending": len(pending)}
