"""The pass: the holder's page and API, and staff actions on a person's pass status.

Holder: ``GET /pass`` (QR as inline SVG, colour frame, status in words, valid-until in
Asia/Shanghai, refresh, privacy note; on hold or without a pass the reason and what to do),
``GET /api/v1/pass``, ``GET /api/v1/pass.svg`` and ``GET /api/v1/pass.png``.

Staff (a counsellor for their own departments, school/system admins for everyone):
``GET /api/v1/people/{number}/pass`` (status and history), ``POST .../pass/hold`` and
``POST .../pass/clear`` {reason}; school admins also ``POST .../pass/revoke`` {reason} and
``POST .../dormitory`` {group}. Every staff action is written to the audit log. A hold is
cleared only by a role at least as high as the one that placed it (403
``hold_needs_higher_role``; :mod:`server.pass_status`).

The pass service lives in ``app[state.SERVICES].passes`` (built once with the app's other services;
its missed check-in job runs on the app's job runner).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from server.doctor import find_differences
from server.pass_status import NEXT_STEPS, AuditNote, PassService, PassView
from server.qr import qr_png, qr_svg
from server.storage.checkins import Checkins
from server.storage.pass_status import HistoryRow, StatusRow
from server.storage.people import Person
from server.web import audit, auth, state
from server.web.errors import ApiError, Forbidden, InvalidField, NotFound, status_of
from server.web.registry import ANY_USER, DEPARTMENT_VIEWERS, Routes, wire_shape
from server.web.rendering import render
from shared.campus_time import checkin_day, local
from shared.clock import from_unix
from shared.config import bounds

log = logging.getLogger(__name__)

routes = Routes(tag="passes")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def log_reconciliation(service: PassService, now: datetime) -> None:
    """The reconciliation check at start (:mod:`server.doctor`): each difference logged (at most
    20 lines), never repaired here (``campuspass server doctor --repair`` does, audited)."""
    found = await find_differences(service, now)
    if found:
        log.warning("reconciliation check: %d pass statuses disagree with the workflow; "
                    "run: campuspass server doctor --data DIR --repair", len(found))
        for diff in found[:20]:
            log.warning("reconciliation check: %s", diff)
    else:
        log.info("reconciliation check: every pass status agrees with the workflow")


async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card: the person's pass status and a link to the pass (students and staff)."""
    user = await auth.current_user(request)
    if user is None or user.role not in ("student", "staff"):
        return None
    now = request.app[state.CLOCK].now()
    view = await service_of(request).view(user.person, now)
    checked_in = await Checkins(request.app[state.SERVICES].db).for_day(user.id, checkin_day(now)) is not None
    return "pass_home.html", {"status": view.status, "has_pass": view.pass_text is not None,
                              "reason_code": view.reason_code, "checked_in": checked_in}


def service_of(request: web.Request) -> PassService:
    """The app's pass service."""
    return request.app[state.SERVICES].passes


# -- holder ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PassOut:
    """The caller's pass: ``status`` (none|black|green|hold); ``pass_text`` and ``valid_until``
    (ISO 8601 UTC) when a pass is current, else ``reason_code``/``reason`` and ``next_step``
    (``next_step_code`` names it: ``next_abnormal_checkin``, ``next_admin_hold_school``... say
    who clears a hold); ``valid_until_local`` is the same instant in Asia/Shanghai
    (``YYYY-MM-DD HH:MM``)."""

    status: str
    reason: str
    reason_code: str
    next_step: str
    pass_text: str | None
    valid_until: str | None
    valid_until_local: str | None
    serial: str | None
    next_step_code: str = ""


def pass_out(view: PassView) -> PassOut:
    """The API shape of a :class:`PassView`."""
    until = view.valid_until
    return PassOut(
        status=view.status, reason=view.reason, reason_code=view.reason_code,
        next_step=NEXT_STEPS.get(view.next_step_code.removeprefix("next_"), ""), pass_text=view.pass_text,
        valid_until=until.isoformat().replace("+00:00", "Z") if until else None,
        valid_until_local=local(until).strftime("%Y-%m-%d %H:%M") if until else None, serial=view.serial,
        next_step_code=view.next_step_code,
    )


async def _my_view(request: web.Request) -> PassView:
    user = await auth.require_user(request)
    return await service_of(request).view(user.person, request.app[state.CLOCK].now())


@routes.api("GET", "/api/v1/pass", roles=ANY_USER, response=PassOut, summary="My pass (text and status)")
async def my_pass(request: web.Request) -> web.Response:
    """The current pass, or the reason there is none and the next step."""
    return web.json_response(asdict(pass_out(await _my_view(request))), headers=NO_STORE)


async def _require_text(request: web.Request) -> str:
    view = await _my_view(request)
    if view.pass_text is None:
        raise NotFound(f"no current pass: {view.reason}", code="no_pass")
    return view.pass_text


@routes.api("GET", "/api/v1/pass.svg", roles=ANY_USER, summary="My pass as an SVG QR code")
async def my_pass_svg(request: web.Request) -> web.Response:
    """``image/svg+xml``, quiet zone kept; 404 ``no_pass`` when there is no current pass."""
    text = await _require_text(request)
    return web.Response(text=qr_svg(text), content_type="image/svg+xml", headers=NO_STORE)


@routes.api("GET", "/api/v1/pass.png", roles=ANY_USER, query={"scale": "pixels per module, 2-20 (default 8)"},
            summary="My pass as a PNG QR code")
async def my_pass_png(request: web.Request) -> web.Response:
    """``image/png``, quiet zone kept; 404 ``no_pass`` when there is no current pass."""
    try:
        scale = int(request.query.get("scale", "8"))
    except ValueError:
        scale = 0
    if not 2 <= scale <= 20:
        raise InvalidField("scale must be an integer from 2 to 20")
    text = await _require_text(request)
    return web.Response(body=qr_png(text, scale_px=scale), content_type="image/png", headers=NO_STORE)


@routes.page("GET", "/pass", roles=ANY_USER, summary="my pass")
async def pass_page(request: web.Request) -> web.StreamResponse:
    view = await _my_view(request)
    out = pass_out(view)
    svg = qr_svg(view.pass_text) if view.pass_text else None
    resp = await render(request, "pass.html", {"view": out, "svg": svg})
    resp.headers.update(NO_STORE)
    return resp


# -- staff ----------------------------------------------------------------------------------

HistoryOut = wire_shape(HistoryRow, "HistoryOut", module=__name__, drop=("id", "person_id"), doc=(
    "One status transition (time: Unix seconds; actor: ``people.id`` or None = system; ``actor_role``: "
    "``system``, ``self`` (the person), or the staff member's role; null for transitions stored before "
    "roles were recorded)."))


@dataclass(frozen=True)
class PersonPassOut:
    """A person's pass status as staff see it. ``hold_by_role``: who placed the current hold
    (``system``, ``counsellor``, ``school_admin``; null when not on hold): only a role at least
    as high clears it (a school admin's hold: a school admin only)."""

    number: str
    name: str
    department: str | None
    status: str
    base: str
    hold_kind: str | None
    reason: str
    last_checkin_day: str | None
    hold_by_role: str | None
    current_serial: str | None
    valid_until_s: int | None
    dormitory_group: str | None
    history: list[HistoryOut]  # type: ignore[valid-type]


@dataclass(frozen=True)
class ReasonBody:
    """Why (required, 1-500 characters; shown to the person for holds)."""

    reason: str = field(metadata=bounds(max_length=500))


@dataclass(frozen=True)
class DormitoryBody:
    """The building group of the person's dormitory (by name), or null to remove it."""

    group: str | None


async def _target(request: web.Request) -> Person:
    user = await auth.require_user(request)
    person = await service_of(request).people.by_number(request.match_info["number"])
    return auth.require_person_access(user.person, person)


def _reason(body: ReasonBody) -> str:
    reason = body.reason.strip()
    if not 1 <= len(reason) <= 500:
        raise InvalidField("reason must be 1-500 characters")
    return reason


async def person_pass_out(service: PassService, person: Person, row: StatusRow | None = None) -> PersonPassOut:
    """Staff view of ``person``'s status with the latest 50 transitions."""
    row = row or await service.store.get(person.id)
    history = [HistoryOut(**{k: v for k, v in asdict(h).items() if k not in ("id", "person_id")})
               for h in await service.store.history(person.id)]
    # The row of a person without an approved return does not follow their check-ins.
    latest = await Checkins(service.db).latest_day(person.id)
    last_day = max(filter(None, (row.last_checkin_day, latest.isoformat() if latest else None)), default=None)
    return PersonPassOut(
        number=person.number, name=person.name, department=person.department, status=row.status, base=row.base,
        hold_kind=row.hold_kind, reason=row.reason, last_checkin_day=last_day, hold_by_role=row.hold_by_role,
        current_serial=row.current_serial.hex() if row.current_serial else None,
        valid_until_s=row.current_until_s, dormitory_group=await service.store.dormitory_of(person.id),
        history=history,
    )


def _note(request: web.Request, actor: Person) -> AuditNote:
    """Who to write in the audit log for a staff action of this request."""
    return AuditNote(actor.number, auth.client_address(request))


async def _audit(request: web.Request, action: str, target: Person, detail: dict[str, Any]) -> None:
    await audit.record_now(request, action, target_person_id=target.id, detail=detail)


@routes.api("GET", "/api/v1/people/{number}/pass", roles=DEPARTMENT_VIEWERS, response=PersonPassOut,
            summary="A person's pass status and its history")
async def person_pass(request: web.Request) -> web.Response:
    """Counsellors see only their own departments (403 ``department_scope`` otherwise). A hold's
    reason may be health data: the view is audited (``health_view``)."""
    target = await _target(request)
    await _audit(request, "health_view", target, {"view": "pass_status"})
    return web.json_response(asdict(await person_pass_out(service_of(request), target)))


async def change_pass(request: web.Request, action: str, body: ReasonBody) -> tuple[Person, StatusRow]:
    """Put the path's person on hold, clear their hold or revoke their passes (``action``: ``hold``,
    ``clear``, ``revoke``) for the logged-in staff member; the API and the staff page both do it here.

    Raises:
        ApiError: see the API routes (``bad_status``, ``not_on_hold``, ``hold_needs_higher_role``, ...).
    """
    target = await _target(request)
    user = await auth.require_user(request)
    reason = _reason(body)
    service, now, note = service_of(request), request.app[state.CLOCK].now(), _note(request, user.person)
    if action == "hold":
        row = await service.hold(target.id, reason, user.id, now, actor_role=user.role, audit=note)
    elif action == "clear":
        row = await service.clear_hold(target.id, reason, user.id, now, actor_role=user.role, audit=note)
    else:
        row = await service.revoke_passes(target.id, reason, user.id, now, actor_role=user.role, audit=note)
    return target, row


async def _pass_json(request: web.Request, target: Person, row: StatusRow) -> web.Response:
    return web.json_response(asdict(await person_pass_out(service_of(request), target, row)))


@routes.api("POST", "/api/v1/people/{number}/pass/hold", roles=DEPARTMENT_VIEWERS, body=ReasonBody,
            response=PersonPassOut, summary="Put a person's pass on hold")
async def hold_pass(request: web.Request, body: ReasonBody) -> web.Response:
    """Revokes every unexpired pass of the person; 409 ``bad_status`` unless black or green."""
    return await _pass_json(request, *await change_pass(request, "hold", body))


@routes.api("POST", "/api/v1/people/{number}/pass/clear", roles=DEPARTMENT_VIEWERS, body=ReasonBody,
            response=PersonPassOut, summary="Clear a hold")
async def clear_hold(request: web.Request, body: ReasonBody) -> web.Response:
    """Back to black or green (a fresh pass when checked in today); 409 ``not_on_hold``; 403
    ``hold_needs_higher_role`` when the hold was placed by a higher role (a school admin's hold
    is cleared by a school admin only)."""
    return await _pass_json(request, *await change_pass(request, "clear", body))


@routes.api("POST", "/api/v1/people/{number}/pass/revoke", roles=("school_admin",), body=ReasonBody,
            response=PersonPassOut, summary="Revoke a person's passes")
async def revoke_pass(request: web.Request, body: ReasonBody) -> web.Response:
    """Every unexpired pass goes on the revocation list and the person is put on an admin hold."""
    return await _pass_json(request, *await change_pass(request, "revoke", body))


@routes.api("POST", "/api/v1/people/{number}/dormitory", roles=("school_admin",),
            body=DormitoryBody, response=PersonPassOut, summary="Set a person's dormitory group")
async def set_dormitory(request: web.Request, body: DormitoryBody) -> web.Response:
    """The group must exist (422 ``unknown_group``); it is added to the person's next passes."""
    target = await _target(request)
    service = service_of(request)
    if body.group is not None:
        await service.buildings.group_ids([body.group])
    await service.store.set_dormitory(target.id, body.group)
    await _audit(request, "pass_dormitory", target, {"group": body.group})
    return web.json_response(asdict(await person_pass_out(service, target)))


# -- staff pages ----------------------------------------------------------------------------

async def _staff_page(request: web.Request, number: str, error: str | None = None, status: int = 200) -> web.Response:
    user = await auth.require_user(request)
    service = service_of(request)
    found = None
    if number:
        try:
            target = auth.require_person_access(user.person, await service.people.by_number(number))
            found = await person_pass_out(service, target)
            await _audit(request, "health_view", target, {"view": "pass_status"})
        except ApiError as exc:
            error, status = exc.code, status_of(exc)
    departments = {d.code: d.name for d in await service.people.departments()} if found else {}
    return await render(request, "pass_staff.html", {
        "number": number, "found": found, "error": error, "departments": departments,
        "local_time": lambda at_s: local(from_unix(at_s)).strftime("%Y-%m-%d %H:%M"),
    }, status=status)


@routes.page("GET", "/passes", roles=DEPARTMENT_VIEWERS, summary="a person's pass status (staff)")
async def staff_page(request: web.Request) -> web.StreamResponse:
    return await _staff_page(request, request.query.get("number", "").strip())


@routes.page("POST", "/passes/{number}/{action:hold|clear|revoke}", roles=DEPARTMENT_VIEWERS,
             summary="hold, clear or revoke a person's pass (staff)")
async def staff_action(request: web.Request) -> web.StreamResponse:
    number, action = request.match_info["number"], request.match_info["action"]
    form = await auth.read_form(request)
    try:
        body = ReasonBody(str(form.get("reason", "")))
        if action == "revoke" and (await auth.require_user(request)).role != "school_admin":
            raise Forbidden("only school admins revoke passes")
        await change_pass(request, action, body)
    except ApiError as exc:
        return await _staff_page(request, number, exc.code, status_of(exc))
    raise web.HTTPSeeOther(f"/passes?number={quote(number)}&msg=saved")
