"""JSON API of the dashboards: who has not checked in, reminders, check-in statistics and the
campus figures (issue 9; docs/dashboards.md).

Scope: a counsellor sees only the people and figures of their own departments (asking for
another department is 403 ``department_scope``); school admins see every department. Phone
numbers are full for counsellors and masked for everyone else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from server.dashboards.exports import phone_for
from server.dashboards.figures import MAX_RANGE_DAYS, day_range
from server.storage.dashboard import DashboardStore
from server.web import audit, auth, state
from server.web.checkin_api import parse_day
from server.web.errors import InvalidField
from server.web.registry import Routes
from shared.campus_time import checkin_day
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


def _int_query(request: web.Request, name: str, default: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not a whole number") from None
    if not 0 <= value <= hi:
        raise InvalidField(f"{name} {value} is not between 0 and {hi}")
    return value


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
    rows = await store.missing(scope, day, limit=_int_query(request, "limit", 500, 5000),
                               offset=_int_query(request, "offset", 0, 10**9))
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
