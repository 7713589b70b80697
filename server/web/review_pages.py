"""Reviewer pages: the filtered list of return applications, each approved or rejected on its
own card (or several ticked at once), plus today's abnormal check-ins (docs/workflow.md).

``GET /review?stage=&status=&page=``, ``POST /review/{id}/approve``, ``POST /review/approve``
(ticked ids), ``POST /review/{id}/reject``. Each card shows what a reviewer decides on: the plan
and itinerary with place names, the four confirmations as confirmed, the applicant's check-in
today and, at the school stage, who approved it for the department and when. After a decision
the page says how many were approved and how many could not be, and why. Showing health data
(today's check-ins) is written to the audit log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.storage.audit import AuditLog
from server.storage.checkins import Checkins
from server.web import auth, i18n, state
from server.web.application_state import application_service, checkin_service
from server.web.errors import ApiError
from server.web.pages import form_ids, render
from server.web.registry import Routes
from server.workflow.applications import CONFIRMATION_KEYS, TRANSITIONS, when_local
from shared.campus_time import checkin_day
from shared.clock import to_unix

routes = Routes(tag="review-pages")

REVIEWERS = ("counsellor", "school_admin")
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
    service = application_service(request.app)
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
        cards.append({"item": item, "checkin": await checkin_service(request.app).today(item.application.person_id),
                      "dept": dept, "dept_at": when_local(dept.at_s) if dept else ""})
    viewed = [a.number for a in abnormal] + [c["item"].number for c in cards if c["checkin"] is not None]
    if viewed:
        async with request.app[state.SERVICES].db.transaction() as conn:
            await AuditLog.add(conn, at_s=to_unix(now), actor_id=user.id, actor_number=user.person.number,
                               action="health_view", detail={"list": "review", "page": "/review",
                                                             "people": sorted(set(viewed))},
                               address=auth.client_address(request))
    missing = await checkin_service(request.app).missing(auth.visible_departments(user.person))
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
    results = await application_service(request.app).approve_many(user.person, ids)
    failed = [r for r in results if not r.ok]
    raise web.HTTPSeeOther(_outcome(stage, status, len(results) - len(failed), len(failed),
                                    failed[0].code if failed else None))


@routes.page("POST", r"/review/{id:\d+}/approve", roles=REVIEWERS, summary="approve one application")
async def review_approve_one(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await request.post()
    stage, status = str(form.get("stage", "")), str(form.get("status", ""))
    try:
        await application_service(request.app).approve(user.person, int(request.match_info["id"]))
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
