"""Dashboards (issue 9; docs/dashboards.md), as JSON and as pages: who has not checked in,
reminders, check-in statistics and the campus figures; the CSV exports are :mod:`server.web.exports`.

Scope: a counsellor sees only the people and figures of their own departments (asking for
another department is 403 ``department_scope``); school admins see every department. Phone
numbers are full for counsellors and masked for everyone else.

``GET /dashboard`` (counsellors): today's progress per department and class, who has not
checked in with one-tap reminders (``POST /dashboard/remind``: ``person_id`` or ``all=1``),
who was reminded, abnormal check-ins (a view of health data: audited), the department-stage
queue (batch approval posts to the reviewers' ``/review/approve``) and approved-not-arrived
students with planned dates (each opens the arrival confirmation, ``/arrivals/identify``).

``GET /dashboard/school`` (school admins): campus figures for today and 14 days as tables and
SVG charts, the school-stage queue filtered by department and planned date (batch approval
through ``/review/approve``), and the CSV exports. The automatic reminder and the figures run
on the app's job runner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from server.dashboards import charts
from server.dashboards.exports import phone_for
from server.dashboards.figures import MAX_RANGE_DAYS, day_range
from server.storage.applications import Applications
from server.storage.checkins import Checkins
from server.storage.dashboard import DashboardStore
from server.storage.people import People
from server.web import audit, auth, i18n, occupancy, state
from server.web.errors import ApiError, InvalidField
from server.web.query import int_query, parse_day
from server.web.registry import Routes
from server.web.rendering import form_ids, render
from shared.campus_time import checkin_day, local
from shared.clock import to_unix

routes = Routes(tag="dashboards")

DASHBOARD_ROLES: tuple[str, ...] = ("counsellor", "school_admin")
"""Who uses the dashboards."""

MAX_REMIND_IDS = 2000


@dataclass(frozen=True)
class MissingEntry:
    """Someone who has not checked in; ``reminded_at`` is ISO 8601 UTC (or null) and
    ``reminded_kind`` ``manual`` or ``auto``."""

    person_id: int
    number: str
    name: str
    department: str | None
    class_name: str | None
    phone: str
    reminded_at: str | None
    reminded_kind: str | None


@dataclass(frozen=True)
class MissingOut:
    """Who has not checked in on ``day`` (``total`` counts all of them; ``items`` is one page)."""

    day: str
    department: str | None
    total: int
    items: list[MissingEntry]


@dataclass(frozen=True)
class RemindBody:
    """Either ``user_ids`` (people ids, 1–2000) or ``all_missing: true`` (everyone of the
    caller's departments, or of ``department``, who has not checked in today)."""

    user_ids: list[int] | None = None
    all_missing: bool = False
    department: str | None = None


@dataclass(frozen=True)
class RemindOut:
    """Person ids by outcome: ``reminded`` now (one SMS each) or skipped because already
    reminded today, already checked in, or without a phone number."""

    day: str
    reminded: list[int]
    already_reminded: list[int]
    checked_in: list[int]
    no_phone: list[int]


@dataclass(frozen=True)
class ReminderEntry:
    """A reminder sent on ``day``: to whom, when (ISO 8601 UTC), how, by whom ("" for the
    automatic reminder), and whether the person has checked in since."""

    person_id: int
    number: str
    name: str
    department: str | None
    class_name: str | None
    at: str
    kind: str
    by: str
    checked_in: bool


@dataclass(frozen=True)
class RemindersOut:
    """Reminders of ``day``; ``auto_ran_at`` is when the automatic reminder ran (or null)."""

    day: str
    auto_ran_at: str | None
    items: list[ReminderEntry]


@dataclass(frozen=True)
class StatRow:
    """One department on one day: people expected to check in, done, and abnormal."""

    day: str
    department: str
    expected: int
    done: int
    abnormal: int


@dataclass(frozen=True)
class StatsOut:
    """Rows per day and department from ``first_day`` to ``last_day`` (closed days as kept at
    the end of the day; today live; later days have no rows)."""

    first_day: str
    last_day: str
    rows: list[StatRow]


def _iso(at_s: int | None) -> str | None:
    return None if at_s is None else datetime.fromtimestamp(at_s, UTC).isoformat()


def scope_of(user: auth.CurrentUser, department: str | None) -> tuple[str, ...] | None:
    """The departments a request covers: ``department`` when given (checked), else all the
    caller may see (None: every department).

    Raises:
        Forbidden: 403 ``department_scope`` for a department that is not the caller's.
    """
    if department:
        auth.require_department(user.person, department)
        return (department,)
    return auth.visible_departments(user.person)


def day_param(request: web.Request, name: str, today: date) -> date:
    """A ``YYYY-MM-DD`` query parameter no later than ``today`` (default ``today``).

    Raises:
        InvalidField: malformed, or a future day.
    """
    day = parse_day(request.query.get(name), name) or today
    if day > today:
        raise InvalidField(f"{name} {day.isoformat()} is in the future; today is {today.isoformat()}")
    return day


def range_params(request: web.Request, today: date, *, default_days: int = 14) -> tuple[date, date]:
    """``from``/``to`` query parameters (default: the ``default_days`` days ending today).

    Raises:
        InvalidField: malformed, ``from`` after ``to``, or longer than :data:`MAX_RANGE_DAYS`.
    """
    first_default, last_default = day_range(today, default_days)
    last = parse_day(request.query.get("to"), "to") or last_default
    first = parse_day(request.query.get("from"), "from") or (last - timedelta(days=default_days - 1))
    if first > last:
        raise InvalidField(f"from {first.isoformat()} is after to {last.isoformat()}")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidField(f"from {first.isoformat()} to {last.isoformat()} spans {(last - first).days + 1} days;"
                           f" at most {MAX_RANGE_DAYS}")
    return first, last


@routes.api("GET", "/api/v1/checkins/missing", roles=DASHBOARD_ROLES, response=MissingOut,
            query={"date": "YYYY-MM-DD (default today, Asia/Shanghai)",
                   "department": "a department code (default: all the caller's)",
                   "limit": "rows (default 500, at most 5000)", "offset": "rows to skip"},
            summary="Who has not checked in (own departments)")
async def missing(request: web.Request) -> web.Response:
    """Students and staff expected to check in on ``date`` without a check-in that day, with
    the day's reminder. 403 ``department_scope`` for another department's code; 422
    ``invalid_field`` for a malformed or future date."""
    user = await auth.require_user(request)
    today = checkin_day(request.app[state.CLOCK].now())
    day = day_param(request, "date", today)
    department = request.query.get("department") or None
    scope = scope_of(user, department)
    store = DashboardStore(request.app[state.SERVICES].db)
    rows = await store.missing(scope, day, limit=int_query(request, "limit", 500, 0, 5000),
                               offset=int_query(request, "offset", 0, 0, 10**9))
    total = len(await store.missing_ids(scope, day))
    items = [MissingEntry(m.person_id, m.number, m.name, m.department, m.class_name, phone_for(user.role, m.phone),
                          _iso(m.reminded_at_s), m.reminded_kind) for m in rows]
    return web.json_response(asdict(MissingOut(day.isoformat(), department, total, items)))


@routes.api("POST", "/api/v1/reminders", roles=DASHBOARD_ROLES, body=RemindBody, response=RemindOut,
            summary="Remind people who have not checked in today (one SMS per person per day)")
async def remind(request: web.Request, body: RemindBody) -> web.Response:
    """Send ``user_ids`` or ``all_missing: true`` (optionally with ``department``). Someone
    reminded earlier today (by anyone, or by the automatic reminder) is not texted again.
    403 ``department_scope`` when any id is outside the caller's departments (nothing is sent);
    422 ``invalid_field`` for neither or both."""
    user = await auth.require_user(request)
    service = request.app[state.SERVICES].reminders
    if body.all_missing == (body.user_ids is not None):
        raise InvalidField("send either user_ids or all_missing: true")
    if body.all_missing:
        outcome = await service.remind_all_missing(user.person, body.department or None)
    else:
        assert body.user_ids is not None
        if not 1 <= len(body.user_ids) <= MAX_REMIND_IDS:
            raise InvalidField(f"user_ids has {len(body.user_ids)} entries; expected 1–{MAX_REMIND_IDS}")
        if body.department is not None:
            raise InvalidField("department goes with all_missing, not with user_ids")
        outcome = await service.remind(user.person, body.user_ids)
    await audit.record_now(request, "checkin_reminders", detail={
        "day": outcome.day.isoformat(), "all_missing": body.all_missing, "department": body.department,
        "reminded": len(outcome.reminded), "skipped": len(outcome.already_reminded) + len(outcome.checked_in)
        + len(outcome.no_phone)})
    return web.json_response(asdict(RemindOut(outcome.day.isoformat(), outcome.reminded, outcome.already_reminded,
                                              outcome.checked_in, outcome.no_phone)))


@routes.api("GET", "/api/v1/reminders", roles=DASHBOARD_ROLES, response=RemindersOut,
            query={"date": "YYYY-MM-DD (default today)", "department": "a department code"},
            summary="Who was reminded to check in (own departments)")
async def reminders(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    today = checkin_day(request.app[state.CLOCK].now())
    day = day_param(request, "date", today)
    store = DashboardStore(request.app[state.SERVICES].db)
    rows = await store.reminders(scope_of(user, request.query.get("department") or None), day)
    run = await store.auto_run_of(day)
    return web.json_response(asdict(RemindersOut(day.isoformat(), _iso(run[0]) if run else None, [
        ReminderEntry(r.person_id, r.number, r.name, r.department, r.class_name, _iso(r.at_s) or "", r.kind,
                      r.actor_name, r.checked_in) for r in rows])))


@routes.api("GET", "/api/v1/stats/checkins", roles=DASHBOARD_ROLES, response=StatsOut,
            query={"from": "YYYY-MM-DD (default 13 days before to)", "to": "YYYY-MM-DD (default today)",
                   "department": "a department code (default: all the caller's)"},
            summary="Check-in figures per department and day: expected, done, abnormal")
async def stats_checkins(request: web.Request) -> web.Response:
    """At most 92 days. 403 ``department_scope`` for another department's code."""
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    today = checkin_day(now)
    first, last = range_params(request, today)
    scope = scope_of(user, request.query.get("department") or None)
    rows = await DashboardStore(request.app[state.SERVICES].db).daily(scope, first, last, today=today, now_s=to_unix(now))
    return web.json_response(asdict(StatsOut(first.isoformat(), last.isoformat(), [
        StatRow(r.day.isoformat(), r.department, r.expected, r.done, r.abnormal) for r in rows])))


@routes.api("GET", "/api/v1/stats/campus", roles=("school_admin",),
            summary="Campus figures: today per department, 14-day trend, applications, arrivals, passes, scans")
async def stats_campus(request: web.Request) -> web.Response:
    """``checkins_today`` per department; ``days``: campus totals per day; ``applications``
    per state; ``arrivals`` per day; ``passes`` per status; ``scans`` per building and local hour
    (24 numbers) today. Recomputed at most once a minute (``computed_at``, ISO 8601 UTC)."""
    f = await request.app[state.SERVICES].figures.get()
    return web.json_response({
        "today": f.today.isoformat(),
        "computed_at": f.computed_at.astimezone(UTC).isoformat(),
        "checkins_today": [asdict(StatRow(r.day.isoformat(), r.department, r.expected, r.done, r.abnormal))
                           for r in f.by_department],
        "days": [{"day": t.day.isoformat(), "expected": t.expected, "done": t.done, "abnormal": t.abnormal,
                  "rate": round(t.rate, 4)} for t in f.days],
        "applications": f.applications,
        "arrivals": [{"day": d.isoformat(), "count": n} for d, n in f.arrivals],
        "passes": f.passes,
        "scans": [{"building": b, "name": f.buildings.get(b, b), "per_hour": hours,
                   "accepted": f.scans_accepted.get(b, 0)} for b, hours in f.scans.items()],
    })


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
    dept_queue = await request.app[state.SERVICES].applications.queue(user.person, stage="dept", status=None)
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
async def remind_form(request: web.Request) -> web.StreamResponse:
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
        "as_of": local(f.computed_at).strftime("%H:%M:%S"), "alerts": await occupancy.over_capacity(request),
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

