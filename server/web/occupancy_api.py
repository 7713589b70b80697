"""Occupancy API (issue 19; docs/tracing.md).

``GET /api/v1/occupancy`` answers, for each building with exit nodes, the people inside now,
its capacity and the time of the newest scan the figure is based on (plus the oldest last
contact of its nodes: how stale the figure may be). ``PUT /api/v1/buildings/{code}/capacity``
sets or clears a capacity (audited). School admins only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from aiohttp import web

from server.presence.occupancy import CAPACITY_ROLES, BuildingOccupancy, Occupancy
from server.web import auth, state
from server.web.registry import Routes
from server.web.tracing_api import iso

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
    return Occupancy(request.app[state.SERVICES].db, request.app[state.CLOCK], request.app[state.CONFIG].presence)


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
