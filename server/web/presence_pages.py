"""School admin pages for contact tracing and occupancy (issue 19; docs/tracing.md).

``GET /tracing`` shows the query form; ``POST /tracing`` runs the query (audited with its
reason, :mod:`server.presence.tracing`) and shows the stays and contacts, or with
``export=csv`` answers the CSV. ``GET /occupancy`` lists people inside each building with exit
nodes, capacities and today's hourly chart; ``POST /occupancy/capacity`` sets a capacity.
The school-dashboard warning for buildings over capacity is :func:`over_capacity`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server.dashboards import charts
from server.presence.occupancy import BuildingOccupancy
from server.presence.tracing import TRACING_ROLES
from server.storage.presence import PresenceStore
from server.web import auth, i18n, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.occupancy_api import service as occupancy_service
from server.web.pages import form_error, render
from server.web.registry import Routes
from server.web.tracing_api import (
    csv_response,
    result_csv,
    result_out,
    run_query,
)
from shared.campus_time import checkin_day, local

routes = Routes(tag="presence-pages")

FORM_FIELDS = ("number", "from", "to", "min_overlap_min", "reason")


def local_time(at: str | int | None) -> str:
    """``YYYY-MM-DD HH:MM`` Asia/Shanghai of an ISO 8601 time or Unix ms ("" for none)."""
    if at is None or at == "":
        return ""
    instant = datetime.fromisoformat(at) if isinstance(at, str) else datetime.fromtimestamp(at / 1000, UTC)
    return local(instant).strftime("%Y-%m-%d %H:%M")


@routes.page("GET", "/tracing", roles=TRACING_ROLES, summary="contact tracing form")
async def tracing_form(request: web.Request) -> web.StreamResponse:
    defaults = {"min_overlap_min": str(request.app[state.CONFIG].presence.min_overlap_min)}
    return await render(request, "tracing.html", {"form": defaults, "result": None})


@routes.page("POST", "/tracing", roles=TRACING_ROLES, summary="run a contact tracing query")
async def tracing_run(request: web.Request) -> web.StreamResponse:
    form = await auth.read_form(request)
    values = {k: str(form.get(k, "")).strip() for k in FORM_FIELDS}
    try:
        threshold = None
        if values["min_overlap_min"]:
            if not (values["min_overlap_min"].isascii() and values["min_overlap_min"].isdigit()
                    and len(values["min_overlap_min"]) <= 6):
                raise InvalidField("min_overlap_min is not a whole number of minutes")
            threshold = int(values["min_overlap_min"])
        result = await run_query(request, values["number"], values["from"] or None, values["to"] or None, threshold,
                                 values["reason"])
    except ApiError as exc:
        return await render(request, "tracing.html", {"form": values, "result": None, "error": form_error(exc),
                                                      "error_message": exc.message}, status=status_of(exc))
    if form.get("export") == "csv":
        names = {b.code: b.name for b in await PresenceStore(request.app[state.SERVICES].db).buildings()}
        mask = request.app[state.CONFIG].presence.mask_numbers_in_export
        return csv_response(result_csv(result, mask=mask, building_names=names), result.subject.number)
    out = await result_out(request, result)
    return await render(request, "tracing.html", {"form": values, "result": out, "fmt": local_time})


@routes.page("GET", "/occupancy", roles=("school_admin",), summary="people inside each building")
async def occupancy_page(request: web.Request) -> web.StreamResponse:
    svc = occupancy_service(request)
    now_ms, buildings = await svc.now()
    today = checkin_day(request.app[state.CLOCK].now())
    hours = await svc.day(today)
    names = {b.code: b.name for b in buildings}
    chart = charts.heatmap([(names.get(code, code), counts + [0] * (24 - len(counts)))
                            for code, counts in hours.items()],
                           title=i18n.translate(request, "occupancy_today"))
    return await render(request, "occupancy.html", {"buildings": buildings, "chart": chart, "hours": hours,
                                                    "now": local_time(now_ms), "fmt": local_time})


@routes.page("POST", "/occupancy/capacity", roles=("school_admin",), summary="set a building's capacity")
async def capacity_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    code = str(form.get("building", ""))
    text = str(form.get("capacity", "")).strip()
    try:
        if text and not (text.isascii() and text.isdigit() and len(text) <= 7):
            raise InvalidField(f"capacity {text[:20]!r} is not a whole number")
        await occupancy_service(request).set_capacity(user.person, code, int(text) if text else None,
                                                      auth.client_address(request))
    except ApiError as exc:
        raise web.HTTPSeeOther(f"/occupancy?msg={exc.code}") from None
    raise web.HTTPSeeOther("/occupancy?msg=capacity_saved")


async def over_capacity(request: web.Request) -> list[BuildingOccupancy]:
    """Buildings over their capacity now (for the school dashboard's warning)."""
    _now, buildings = await occupancy_service(request).now()
    return [b for b in buildings if b.over_capacity]


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card for school admins: links to occupancy and tracing, and buildings over
    capacity."""
    user = await auth.current_user(request)
    if user is None or user.role != "school_admin" or not user.person.is_active:
        return None
    return "presence_home.html", {"alerts": await over_capacity(request)}
