"""Dashboard pages: the counsellor home (phone-first) and the school admin home (issue 9;
docs/dashboards.md).

``GET /dashboard`` (counsellors): today's progress per department and class, who has not
checked in with one-tap reminders (``POST /dashboard/remind``: ``person_id`` or ``all=1``),
who was reminded, abnormal check-ins (a view of health data: audited), the department-stage
queue (batch approval posts to the reviewers' ``/review/approve``) and approved-not-arrived
students with planned dates (each opens the arrival confirmation, ``/arrivals/identify``).

``GET /dashboard/school`` (school admins): campus figures for today and 14 days as tables and
SVG charts, the school-stage queue filtered by department and planned date (batch approval
through ``/review/approve``), and the CSV exports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server.dashboards import charts
from server.dashboards.exports import phone_for
from server.storage.applications import Applications
from server.storage.checkins import Checkins
from server.storage.dashboard import DashboardStore
from server.storage.people import People
from server.web import audit, auth, i18n, presence_pages, state
from server.web.application_state import application_service
from server.web.checkin_api import parse_day
from server.web.errors import ApiError
from server.web.pages import form_ids, render
from server.web.registry import Routes
from shared.campus_time import checkin_day, local

routes = Routes(tag="dashboard-pages")

MISSING_SHOWN = 200
"""Most not-yet rows listed on the school page (the rest are in the CSV export)."""
MISSING_PAGE = 50
"""Not-yet students per page on the counsellor home (searchable by number, name or class)."""


def _page_number(value: str | None) -> int:
    return min(int(value), 1000) if value and value.isascii() and value.isdigit() and 0 < len(value) < 5 \
        and int(value) > 0 else 1
QUEUE_SHOWN = 200
"""Most applications listed in the school-stage queue at once (oldest first; filter to see others)."""


def _local_hhmm(at_s: int | None) -> str:
    return local(datetime.fromtimestamp(at_s, UTC)).strftime("%H:%M") if at_s is not None else ""


@routes.page("GET", "/dashboard", roles=("counsellor",), summary="counsellor home")
async def counsellor_home(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    db = request.app[state.SERVICES].db
    now = request.app[state.CLOCK].now()
    today = checkin_day(now)
    scope = auth.visible_departments(user.person)
    store = DashboardStore(db)
    # A counsellor's figures and not-yet list are of students; staff are counted apart.
    progress = await store.progress(scope, today, roles=("student",))
    staff = await store.progress(scope, today, roles=("staff",))
    search = request.query.get("q", "").strip()[:40]
    page = _page_number(request.query.get("page"))
    missing = await store.missing(scope, today, limit=MISSING_PAGE + 1, offset=(page - 1) * MISSING_PAGE,
                                  roles=("student",), search=search or None)
    missing_next = len(missing) > MISSING_PAGE
    missing = missing[:MISSING_PAGE]
    total = dict(expected=sum(p.expected for p in progress), done=sum(p.done for p in progress),
                 abnormal=sum(p.abnormal for p in progress))
    total["missing"] = total["expected"] - total["done"]
    staff_total = dict(expected=sum(p.expected for p in staff), done=sum(p.done for p in staff))
    abnormal = await Checkins(db).abnormal_in_departments(scope, today)
    if abnormal:
        await audit.record_now(request, "health_view", detail={
            "list": "abnormal_checkins", "page": "/dashboard", "people": [a.number for a in abnormal]})
    dept_queue = await application_service(request.app).queue(user.person, stage="dept", status=None)
    approved = await Applications(db).queue(scope, ("approved",), limit=500)
    approved.sort(key=lambda item: (item.application.planned_return_date, item.number))
    reminded = await store.reminders(scope, today, limit=500)
    chart = charts.bar_chart([(p.class_name or p.department, p.done / p.expected if p.expected else 0.0)
                              for p in progress], title=i18n.translate(request, "progress_title"),
                             unit="%")
    return await render(request, "dashboard.html", {
        "today": today, "progress": progress, "total": total, "chart": chart,
        "missing": [(m, phone_for(user.role, m.phone), _local_hhmm(m.reminded_at_s)) for m in missing],
        "missing_next": missing_next, "page": page, "q": search, "staff_total": staff_total,
        "abnormal": abnormal, "dept_queue": dept_queue, "approved": approved,
        "reminded": [(r, _local_hhmm(r.at_s)) for r in reminded],
        "sent": request.query.get("sent"),
    })


@routes.page("POST", "/dashboard/remind", roles=("counsellor", "school_admin"), summary="send check-in reminders")
async def remind(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    service = request.app[state.SERVICES].reminders
    back = "/dashboard" if user.role == "counsellor" else "/dashboard/school"
    ids = form_ids(form.getall("person_id", []), 2000)
    try:
        if form.get("all") == "1":
            outcome = await service.remind_all_missing(user.person)
        elif ids:
            outcome = await service.remind(user.person, ids)
        else:
            raise web.HTTPSeeOther(back)
    except ApiError as exc:
        raise web.HTTPSeeOther(f"{back}?msg={exc.code}") from None
    await audit.record_now(request, "checkin_reminders", detail={
        "day": outcome.day.isoformat(), "all_missing": form.get("all") == "1", "reminded": len(outcome.reminded)})
    raise web.HTTPSeeOther(f"{back}?msg=reminders_sent&sent={len(outcome.reminded)}")


@routes.page("GET", "/dashboard/school", roles=("school_admin",), summary="school admin home")
async def school_home(request: web.Request) -> web.StreamResponse:
    db = request.app[state.SERVICES].db
    f = await request.app[state.SERVICES].figures.get()
    departments = {d.code: d.name for d in await People(db).departments()}
    dept_filter = request.query.get("department", "")
    if dept_filter and dept_filter not in departments:
        dept_filter = ""
    try:
        planned_by = parse_day(request.query.get("planned_by"), "planned_by")
    except ApiError:
        planned_by = None
    queue, queue_total = await DashboardStore(db).queue_rows([dept_filter] if dept_filter else None, "dept_approved",
                                                             planned_by=planned_by, limit=QUEUE_SHOWN)
    days = f.days
    t = i18n.page_texts(request)
    charts_ = {
        "by_department": charts.bar_chart(
            [(r.department, r.done / r.expected if r.expected else 0.0) for r in f.by_department],
            title=t("rate_by_department"), unit="%"),
        "days": charts.column_chart([(d.day.isoformat()[5:], d.rate) for d in days], title=t("rate_by_day"), unit="%"),
        "abnormal": charts.column_chart([(d.day.isoformat()[5:], float(d.abnormal)) for d in days],
                                        title=t("abnormal_by_day")),
        "applications": charts.bar_chart([(t("state_" + s), float(n))
                                          for s, n in f.applications.items()], title=t("applications_by_state")),
        "arrivals": charts.column_chart([(d.isoformat()[5:], float(n)) for d, n in f.arrivals],
                                        title=t("arrivals_by_day")),
        "passes": charts.bar_chart([(t("dash_pass_" + s), float(n)) for s, n in f.passes.items()],
                                   title=t("passes_by_status")),
        "scans": charts.heatmap([(f.buildings.get(b, b), hours) for b, hours in f.scans.items()],
                                title=t("scans_by_hour")),
    }
    return await render(request, "dashboard_school.html", {
        "f": f, "days": days, "charts": charts_, "queue": queue, "queue_total": queue_total, "departments": departments,
        "dept_filter": dept_filter, "planned_by": planned_by.isoformat() if planned_by else "",
        "as_of": local(f.computed_at).strftime("%H:%M:%S"), "alerts": await presence_pages.over_capacity(request),
    })


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card for counsellors and school admins: today's check-in progress and a link
    to their dashboard."""
    user = await auth.current_user(request)
    if user is None or user.role not in ("counsellor", "school_admin") or not user.person.is_active:
        return None
    today = checkin_day(request.app[state.CLOCK].now())
    progress = await DashboardStore(request.app[state.SERVICES].db).progress(auth.visible_departments(user.person), today)
    expected = sum(p.expected for p in progress)
    done = sum(p.done for p in progress)
    return "dashboard_home.html", {"expected": expected, "done": done, "missing": expected - done,
                                   "href": "/dashboard" if user.role == "counsellor" else "/dashboard/school"}
