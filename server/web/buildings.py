"""Buildings, building groups and door policy for admins (docs/architecture.md §5, §6).

API: ``GET /api/v1/buildings`` (groups, buildings, policy version), ``POST /api/v1/buildings``
{code, name, group}, ``POST /api/v1/building-groups`` {name, allowed_statuses, hours} and
``GET /api/v1/buildings/policy`` (the signed policy document door nodes receive). Pages:
``GET /admin/buildings`` with forms posting to ``/admin/buildings`` and
``/admin/building-groups``. Every change bumps the policy version and is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import time
from typing import Any

from aiohttp import web

from server.policy import signed_policy_document
from server.storage.buildings import Buildings
from server.web import audit, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.registry import ADMINS, Routes
from server.web.rendering import form_error, render
from shared.clock import to_unix
from shared.errors import CampusPassError
from shared.policy import parse_hours, parse_statuses

routes = Routes(tag="buildings")


@dataclass(frozen=True)
class GroupOut:
    """A building group: id (as in pass scopes), name, admitted statuses, opening hours
    (``HH:MM-HH:MM`` Asia/Shanghai; empty = always open)."""

    id: int
    name: str
    allowed_statuses: list[str]
    hours: list[str]


@dataclass(frozen=True)
class BuildingOut:
    """A building: code, name, group id."""

    code: str
    name: str
    group: int


@dataclass(frozen=True)
class BuildingsOut:
    """Every group and building, and the policy version."""

    version: int
    groups: list[GroupOut]
    buildings: list[BuildingOut]


@dataclass(frozen=True)
class BuildingBody:
    """Add or update a building; the group is created (green only, always open) when missing."""

    code: str
    name: str
    group: str = "campus"


@dataclass(frozen=True)
class GroupBody:
    """Create or update a group's rules: statuses ``black``/``green`` (default green only) and
    opening windows ``HH:MM-HH:MM`` (default always open)."""

    name: str
    allowed_statuses: list[str] = field(default_factory=lambda: ["green"])
    hours: list[str] = field(default_factory=list)


#: Most opening windows of one group (each door node checks every window of its policy).
MAX_WINDOWS = 24


def _hhmm(t: time) -> str:
    return "24:00" if t == time(23, 59, 59) else f"{t.hour:02d}:{t.minute:02d}"


def check_name(label: str, value: str, max_len: int) -> str:
    """``value`` stripped, 1-``max_len`` characters without control characters.

    Raises:
        InvalidField: empty, too long, or holding a control character (NUL, line break, ESC...).
    """
    value = value.strip()
    if not 1 <= len(value) <= max_len:
        raise InvalidField(f"{label} must be 1-{max_len} characters")
    if any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in value):
        raise InvalidField(f"{label} holds a control character")
    return value


def validate_rules(name: str, statuses: list[str], hours: list[str]) -> tuple[str, list[str], list[str]]:
    """Normalised ``(name, statuses, hours)`` of a group rule; windows are rewritten as ASCII
    ``HH:MM-HH:MM`` (``٠٨:٠٠``, ``８:００`` or ``+8:00`` parse as 08:00 but are stored as ``08:00``).

    Raises:
        InvalidField: empty, over-long or control-character name, unknown status, no status, bad
            opening window, more than :data:`MAX_WINDOWS` windows.
    """
    name = check_name("group name", name, 64)
    statuses = [s.strip().lower() for s in statuses if s.strip()]
    hours = [h.strip() for h in hours if h.strip()]
    if len(hours) > MAX_WINDOWS:
        raise InvalidField(f"{len(hours)} opening windows; at most {MAX_WINDOWS}")
    try:
        parse_statuses(statuses)
        hours = [f"{_hhmm(start)}-{_hhmm(end)}" for start, end in parse_hours(hours)]
    except ValueError as exc:
        raise InvalidField(str(exc)) from None
    if not statuses:
        raise InvalidField("allowed_statuses needs at least one of black, green")
    return name, sorted(set(statuses), key=["green", "black"].index), hours


async def buildings_out(repo: Buildings) -> BuildingsOut:
    """Every group and building with the policy version."""
    return BuildingsOut(
        version=await repo.policy_version(),
        groups=[GroupOut(g.id, g.name, g.allowed_statuses, g.hours) for g in await repo.groups()],
        buildings=[BuildingOut(b.code, b.name, b.group_id) for b in await repo.buildings()],
    )


async def _audit(request: web.Request, action: str, detail: dict[str, Any]) -> None:
    await audit.record_now(request, action, detail=detail)


@routes.api("GET", "/api/v1/buildings", roles=ADMINS, response=BuildingsOut,
            summary="Building groups, buildings and the policy version")
async def list_buildings(request: web.Request) -> web.Response:
    return web.json_response(asdict(await buildings_out(Buildings(request.app[state.SERVICES].db))))


@routes.api("POST", "/api/v1/buildings", roles=ADMINS, body=BuildingBody, response=BuildingsOut,
            summary="Add or update a building")
async def add_building(request: web.Request, body: BuildingBody) -> web.Response:
    """400 ``bad_building_code`` for a code that is not 1-32 letters, digits, '-' or '_'."""
    repo = Buildings(request.app[state.SERVICES].db)
    name = check_name("name", body.name, 100)
    group, _, _ = validate_rules(body.group, ["green"], [])
    await repo.add_building(body.code.strip(), name, group)
    await _audit(request, "building_add", {"code": body.code, "name": name, "group": group})
    return web.json_response(asdict(await buildings_out(repo)))


@routes.api("POST", "/api/v1/building-groups", roles=ADMINS, body=GroupBody, response=BuildingsOut,
            summary="Create a building group or change its rules")
async def set_group(request: web.Request, body: GroupBody) -> web.Response:
    """Statuses admitted and opening hours of the group's doors (422 ``invalid_field``)."""
    name, statuses, hours = validate_rules(body.name, body.allowed_statuses, body.hours)
    repo = Buildings(request.app[state.SERVICES].db)
    await repo.ensure_group(name, statuses, hours)
    await _audit(request, "building_group_set", {"name": name, "allowed_statuses": statuses, "hours": hours})
    return web.json_response(asdict(await buildings_out(repo)))


@routes.api("GET", "/api/v1/buildings/policy", roles=ADMINS, summary="The signed door policy document")
async def policy_document(request: web.Request) -> web.Response:
    """Exactly what door nodes receive (shape in ``shared/policy.py``), signed by the current issuer key."""
    now = request.app[state.CLOCK].now()
    signer = request.app[state.DATADIR].current_signer(now)
    doc = await signed_policy_document(Buildings(request.app[state.SERVICES].db), signer.key, signer.key_id, to_unix(now))
    return web.json_response(doc)


# -- pages ----------------------------------------------------------------------------------

async def _page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    out = await buildings_out(Buildings(request.app[state.SERVICES].db))
    names = {g.id: g.name for g in out.groups}
    return await render(request, "buildings.html", {"data": out, "group_names": names, "error": error},
                        status=status)


@routes.page("GET", "/admin/buildings", roles=ADMINS, summary="buildings and door policy")
async def buildings_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.page("POST", "/admin/buildings", roles=ADMINS, summary="add a building")
async def add_building_page(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code, name = str(form.get("code", "")).strip(), str(form.get("name", "")).strip()
    try:
        name = check_name("name", name, 100)
        group, _, _ = validate_rules(str(form.get("group", "") or "campus"), ["green"], [])
        await Buildings(request.app[state.SERVICES].db).add_building(code, name, group)
        await _audit(request, "building_add", {"code": code, "name": name, "group": group})
    except CampusPassError as exc:
        return await _page(request, exc.code, status_of(exc))
    raise web.HTTPSeeOther("/admin/buildings?msg=saved")


@routes.page("POST", "/admin/building-groups", roles=ADMINS, summary="set a group's rules")
async def set_group_page(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    statuses = [str(v) for v in form.getall("allowed_statuses", [])]
    hours = [h for h in str(form.get("hours", "")).replace("，", ",").split(",")]
    try:
        name, statuses, hours = validate_rules(str(form.get("name", "")), statuses, hours)
        await Buildings(request.app[state.SERVICES].db).ensure_group(name, statuses, hours)
        await _audit(request, "building_group_set", {"name": name, "allowed_statuses": statuses, "hours": hours})
    except ApiError as exc:
        return await _page(request, form_error(exc), status_of(exc))
    raise web.HTTPSeeOther("/admin/buildings?msg=saved")
