"""Occupancy of buildings (issue 19; docs/tracing.md), as JSON and as the school admin's page.

``GET /api/v1/occupancy`` answers, for each building with exit nodes, the people inside now,
its capacity and the time of the newest scan the figure is based on (plus the oldest last
contact of its nodes: how stale the figure may be). ``PUT /api/v1/buildings/{code}/capacity``
sets or clears a capacity (audited). School admins only. ``GET /occupancy`` lists the same
with today's hourly chart; ``POST /occupancy/capacity`` sets a capacity. The school dashboard's
warning for buildings over capacity is :func:`over_capacity`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from server.dashboards import charts
from server.presence.occupancy import CAPACITY_ROLES, BuildingOccupancy, Occupancy
from server.web import auth, i18n, state
from server.web.errors import ApiError, InvalidField
from server.web.registry import Routes
from server.web.rendering import render
from server.web.tracing import iso, local_time

routes = Routes(tag="occupancy")

OCCUPANCY_ROLES: tuple[str, ...] = ("school_admin",)


@dataclass(frozen=True)
class BuildingOccupancyOut:
    """One building now: people inside, capacity (null: none set), whether it is exceeded, the
    time of the newest scan stored for it and the oldest last contact among its nodes (ISO 8601
    UTC; null when none / a node never synced)."""

    code: str
    name: str
    inside: int
    capacity: int | None
    over_capacity: bool
    newest_scan_at: str | None
    oldest_node_seen_at: str | None


@dataclass(frozen=True)
class OccupancyOut:
    """Occupancy of every building with exit nodes at ``at`` (ISO 8601 UTC)."""

    at: str
    buildings: list[BuildingOccupancyOut]


@dataclass(frozen=True)
class CapacityBody:
    """The most people the building may hold at once (1–1,000,000), or null to clear it."""

    capacity: int | None = None


def service(request: web.Request) -> Occupancy:
    """The occupancy service of this app."""
    services = request.app[state.SERVICES]
    return Occupancy(services.db, request.app[state.CLOCK], request.app[state.CONFIG].presence,
                     services.occupancy_scans)


def building_out(b: BuildingOccupancy) -> BuildingOccupancyOut:
    """The API shape of one building's occupancy."""
    return BuildingOccupancyOut(b.code, b.name, b.inside, b.capacity, b.over_capacity, iso(b.newest_scan_ms),
                                iso(None if b.oldest_node_seen_s is None else b.oldest_node_seen_s * 1000))


@routes.api("GET", "/api/v1/occupancy", roles=OCCUPANCY_ROLES, response=OccupancyOut,
            summary="People inside each building with exit nodes now, capacity, newest scan time")
async def occupancy(request: web.Request) -> web.Response:
    """Computed from the scans stored at the time of the request: a figure is as fresh as the
    building's nodes' last sync (``oldest_node_seen_at``)."""
    now_ms, buildings = await service(request).now()
    return web.json_response(asdict(OccupancyOut(iso(now_ms) or "", [building_out(b) for b in buildings])))


@routes.api("PUT", "/api/v1/buildings/{code}/capacity", roles=CAPACITY_ROLES, body=CapacityBody,
            summary="Set or clear a building's capacity (audited)")
async def set_capacity(request: web.Request, body: CapacityBody) -> web.Response:
    """404 ``not_found`` for an unknown building; 422 ``invalid_field`` outside 1–1,000,000."""
    user = await auth.require_user(request)
    code = request.match_info["code"]
    await service(request).set_capacity(user.person, code, body.capacity, auth.client_address(request))
    return web.json_response({"code": code, "capacity": body.capacity})


# -- pages -------------------------------------------------------------------------------------


@routes.page("GET", "/occupancy", roles=("school_admin",), summary="people inside each building")
async def occupancy_page(request: web.Request) -> web.StreamResponse:
    svc = service(request)
    now_ms, buildings, hours = await svc.today()
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
        await service(request).set_capacity(user.person, code, int(text) if text else None,
                                                      auth.client_address(request))
    except ApiError as exc:
        raise web.HTTPSeeOther(f"/occupancy?msg={exc.code}") from None
    raise web.HTTPSeeOther("/occupancy?msg=capacity_saved")


async def over_capacity(request: web.Request) -> list[BuildingOccupancy]:
    """Buildings over their capacity now (for the school dashboard's warning)."""
    _now, buildings = await service(request).now()
    return [b for b in buildings if b.over_capacity]


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card for school admins: links to occupancy and tracing, and buildings over
    capacity."""
    user = await auth.current_user(request)
    if user is None or user.role != "school_admin" or not user.person.is_active:
        return None
    return "presence_home.html", {"alerts": await over_capacity(request)}
