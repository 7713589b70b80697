"""CSV exports (issue 9; docs/dashboards.md): today's non-reporters, return applications in
a date range, arrivals in a date range.

UTF-8 with a BOM (spreadsheet programs then read Chinese correctly); never a national ID number;
phone numbers full only for counsellors (:data:`server.dashboards.exports.PHONE_ROLES`), masked
otherwise. Every export is written to the audit log (``export`` with the kind, filters and row
count). A counsellor exports only their own departments (403 ``department_scope``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from server.dashboards.exports import csv_bytes, phone_for
from server.regions import REGIONS
from server.storage.dashboard import DashboardStore
from server.web import audit, auth, state
from server.web.dashboards import DASHBOARD_ROLES, day_param, range_params, scope_of
from server.web.headers import attachment
from server.web.registry import Routes
from shared.campus_time import checkin_day, day_start, local
from shared.clock import to_unix

routes = Routes(tag="exports")

MISSING_HEADER = ("学号/工号 number", "姓名 name", "院系 department", "班级 class", "手机 phone", "已提醒 reminded")
APPLICATIONS_HEADER = ("申请编号 application", "学号 number", "姓名 name", "院系 department", "班级 class",
                       "版本 version", "状态 state", "计划返校日期 planned_return_date", "出发地区代码 departure_region_code",
                       "出发地区 departure_region",
                       "提交时间 submitted_at", "院系审核时间 dept_decided_at", "学校审批时间 school_decided_at",
                       "到校时间 arrived_at", "处理意见 decision_reason")
ARRIVALS_HEADER = ("学号 number", "姓名 name", "院系 department", "班级 class", "手机 phone", "到校时间 arrived_at",
                   "确认方式 method", "确认人 confirmed_by")

_QUERY_RANGE = {"from": "YYYY-MM-DD (default 13 days before to)", "to": "YYYY-MM-DD (default today)",
                "department": "a department code (default: all the caller's)"}


def _local(at_s: int | None) -> str:
    """Asia/Shanghai ``YYYY-MM-DD HH:MM`` of a Unix time ("" for none)."""
    return "" if at_s is None else local(datetime.fromtimestamp(int(at_s), UTC)).strftime("%Y-%m-%d %H:%M")


def _csv(body: bytes, filename: str) -> web.Response:
    return web.Response(body=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": attachment(filename),
                                 "Cache-Control": "no-store"})


@routes.api("GET", "/api/v1/exports/missing.csv", roles=DASHBOARD_ROLES,
            query={"date": "YYYY-MM-DD (default today)", "department": "a department code"},
            summary="CSV: who has not checked in (UTF-8 with BOM; audited)")
async def export_missing(request: web.Request) -> web.Response:
    """Columns: number, name, department, class, phone (masked unless counsellor), reminded
    (local time or empty)."""
    user = await auth.require_user(request)
    day = day_param(request, "date", checkin_day(request.app[state.CLOCK].now()))
    department = request.query.get("department") or None
    rows = await DashboardStore(request.app[state.SERVICES].db).missing(scope_of(user, department), day, limit=1_000_000)
    body = csv_bytes(MISSING_HEADER, [(m.number, m.name, m.department, m.class_name, phone_for(user.role, m.phone),
                                       _local(m.reminded_at_s)) for m in rows])
    await audit.record_now(request, "export", detail={"kind": "missing", "day": day.isoformat(),
                                                      "department": department, "rows": len(rows)})
    return _csv(body, f"missing-{day.isoformat()}{'-' + department if department else ''}.csv")


@routes.api("GET", "/api/v1/exports/applications.csv", roles=DASHBOARD_ROLES, query=_QUERY_RANGE,
            summary="CSV: return applications by planned return date (UTF-8 with BOM; audited)")
async def export_applications(request: web.Request) -> web.Response:
    """Applications whose planned return date is in ``from``..``to`` (at most 92 days), every
    version; times in Asia/Shanghai."""
    user = await auth.require_user(request)
    first, last = range_params(request, checkin_day(request.app[state.CLOCK].now()))
    department = request.query.get("department") or None
    rows = await DashboardStore(request.app[state.SERVICES].db).applications_between(scope_of(user, department), first, last)
    body = csv_bytes(APPLICATIONS_HEADER, [(
        r["id"], r["number"], r["name"], r["department"], r["class_name"], r["version"], r["state"],
        r["planned_return_date"], r["departure_region_code"], REGIONS.full_name(r["departure_region_code"]), _local(r["created_at"]), _local(r["dept_decided_at"]),
        _local(r["school_decided_at"]), _local(r["arrived_at"]), r["decision_reason"]) for r in rows])
    await audit.record_now(request, "export", detail={"kind": "applications", "from": first.isoformat(),
                                                      "to": last.isoformat(), "department": department,
                                                      "rows": len(rows)})
    return _csv(body, f"applications-{first.isoformat()}-{last.isoformat()}.csv")


@routes.api("GET", "/api/v1/exports/arrivals.csv", roles=DASHBOARD_ROLES, query=_QUERY_RANGE,
            summary="CSV: arrival confirmations (UTF-8 with BOM; audited)")
async def export_arrivals(request: web.Request) -> web.Response:
    """Arrivals confirmed on local days ``from``..``to`` (at most 92 days), oldest first; phone
    masked unless counsellor."""
    user = await auth.require_user(request)
    first, last = range_params(request, checkin_day(request.app[state.CLOCK].now()))
    department = request.query.get("department") or None
    rows = await DashboardStore(request.app[state.SERVICES].db).arrivals_between(
        scope_of(user, department), to_unix(day_start(first)), to_unix(day_start(last + timedelta(days=1))))
    body = csv_bytes(ARRIVALS_HEADER, [(
        r["number"], r["name"], r["department"], r["class_name"], phone_for(user.role, r["phone"]), _local(r["at"]),
        r["method"], r["counsellor"]) for r in rows])
    await audit.record_now(request, "export", detail={"kind": "arrivals", "from": first.isoformat(),
                                                      "to": last.isoformat(), "department": department,
                                                      "rows": len(rows)})
    return _csv(body, f"arrivals-{first.isoformat()}-{last.isoformat()}.csv")
