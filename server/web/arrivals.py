"""Arrival confirmation pages and API for counsellors (docs/architecture.md §2.6).

Pages (phone-first): ``GET /arrivals`` (photo upload, pasted pass text, and the list of the
counsellor's approved-not-arrived students), ``POST /arrivals/identify`` (multipart: ``photo``
file, or ``pass_text``, or ``number``) showing who it is, and ``POST /arrivals/confirm``.

API: ``POST /api/v1/arrivals`` {pass_text} or {number} identifies and confirms at once and
answers the person and their new status; ``POST /api/v1/arrivals/identify`` {pass_text} |
{number} | {image_base64} only identifies; ``POST /api/v1/arrivals/photo`` takes the photo as
``multipart/form-data`` (with the session's ``csrf_token``; ``confirm=1`` also confirms); ``GET /api/v1/arrivals/pending`` lists approved-not-arrived students.

Whoever the counsellor cannot see is refused with 403 ``department_scope``, identical for an
unknown person and another department's student.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.arrivals import MAX_PHOTO_BYTES, Arrivals, Candidate
from server.pass_status import AuditNote
from server.storage.pass_status import StatusRow
from server.storage.people import People
from server.web import auth, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.registry import ADMINS, Routes
from server.web.rendering import form_error, render

routes = Routes(tag="arrivals")

CONFIRMERS: tuple[str, ...] = ("counsellor", "school_admin")
#: A base64 photo of up to :data:`server.arrivals.MAX_PHOTO_BYTES` fits.
MAX_IDENTIFY_BYTES = MAX_PHOTO_BYTES * 4 // 3 + 4096


def _arrivals(request: web.Request) -> Arrivals:
    return Arrivals(request.app[state.SERVICES].passes)


@dataclass(frozen=True)
class ArrivalPersonOut:
    """Who the pass or number belongs to (only ever shown for the caller's own departments)."""

    number: str
    name: str
    department: str | None
    class_name: str | None


@dataclass(frozen=True)
class ArrivalOut:
    """The person and their pass status (``none|black|green|hold``); ``arrived`` is True when
    this request confirmed the arrival."""

    person: ArrivalPersonOut
    status: str
    arrived: bool


@dataclass(frozen=True)
class ArrivalBody:
    """Exactly one of ``pass_text`` (a scanned ``CP1:...`` text) or ``number`` (student number)."""

    pass_text: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class IdentifyBody:
    """Exactly one of ``pass_text``, ``number`` or ``image_base64`` (a png/jpg/webp photo of the
    pass, base64, at most 8 MiB before encoding)."""

    pass_text: str | None = None
    number: str | None = None
    image_base64: str | None = None


@dataclass(frozen=True)
class PendingOut:
    """Approved-not-arrived students of the caller's departments (``status`` black or hold)."""

    students: list[ArrivalPersonOut]


def _person_out(c: Candidate) -> ArrivalPersonOut:
    p = c.person
    return ArrivalPersonOut(p.number, p.name, p.department, p.class_name)


def _one_of(**values: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in values.items() if v is not None and v.strip()]
    if len(given) != 1:
        raise InvalidField(f"give exactly one of {', '.join(values)}")
    return given[0]


async def _identify(request: web.Request, kind: str, value: str, via: str | None = None) -> Candidate:
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    arrivals = _arrivals(request)
    if kind == "number":
        return await arrivals.by_number(user.person, value, "list" if via == "list" else "number")
    if kind == "pass_text":
        return await arrivals.by_text(user.person, value, now, "photo" if via == "photo" else "text")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64 is not valid base64") from None
    return await arrivals.by_photo(user.person, data, now)


async def _confirm(request: web.Request, candidate: Candidate) -> StatusRow:
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    return await _arrivals(request).confirm(user.person, candidate, now, audit=AuditNote(
        user.person.number, auth.client_address(request)))


@routes.api("POST", "/api/v1/arrivals", roles=CONFIRMERS, body=ArrivalBody, response=ArrivalOut,
            summary="Confirm a student's arrival")
async def confirm_api(request: web.Request, body: ArrivalBody) -> web.Response:
    """Checks the pass online (shared decision, black admitted), refuses people outside the
    caller's departments (403 ``department_scope``, no name), records the arrival and turns the
    person green. 422 ``pass_refused`` with ``reason`` for a bad pass; 409 ``already_arrived`` or
    ``not_awaiting_arrival``."""
    kind, value = _one_of(pass_text=body.pass_text, number=body.number)
    candidate = await _identify(request, kind, value)
    row = await _confirm(request, candidate)
    return web.json_response(asdict(ArrivalOut(_person_out(candidate), row.status, True)))


@routes.api("POST", "/api/v1/arrivals/identify", roles=CONFIRMERS, body=IdentifyBody, response=ArrivalOut,
            summary="Who is this pass or number (before confirming)", max_body_bytes=MAX_IDENTIFY_BYTES)
async def identify_api(request: web.Request, body: IdentifyBody) -> web.Response:
    """The same checks as confirming, without recording anything. 422 ``no_pass_in_photo`` or
    ``bad_image`` for a photo without a readable campus pass."""
    kind, value = _one_of(pass_text=body.pass_text, number=body.number, image_base64=body.image_base64)
    candidate = await _identify(request, kind, value)
    return web.json_response(asdict(ArrivalOut(_person_out(candidate), candidate.status.status, False)))


@routes.api("POST", "/api/v1/arrivals/photo", roles=CONFIRMERS, response=ArrivalOut, upload=("photo",),
            summary="Identify (and with confirm=1 confirm) a student from a photo of their pass")
async def photo_api(request: web.Request) -> web.Response:
    """``multipart/form-data``: ``csrf_token`` (from the session API), ``photo`` (png/jpg/webp,
    decoded with the door's decoder) and optionally ``confirm=1``. Errors as for
    ``/api/v1/arrivals``; 422 ``no_pass_in_photo``/``bad_image``; 422 ``invalid_field`` without
    a photo."""
    form = await auth.read_form(request)
    photo = form.get("photo")
    data = photo.file.read() if isinstance(photo, web.FileField) else b""
    if not data:
        raise InvalidField("photo: attach a photo of the pass")
    user = await auth.require_user(request)
    candidate = await _arrivals(request).by_photo(user.person, data, request.app[state.CLOCK].now())
    if str(form.get("confirm", "")) in ("1", "true", "yes"):
        row = await _confirm(request, candidate)
        return web.json_response(asdict(ArrivalOut(_person_out(candidate), row.status, True)))
    return web.json_response(asdict(ArrivalOut(_person_out(candidate), candidate.status.status, False)))


@routes.api("GET", "/api/v1/arrivals/pending", roles=CONFIRMERS, response=PendingOut,
            summary="Approved students not yet arrived (own departments)")
async def pending_api(request: web.Request) -> web.Response:
    """School admins see every department."""
    user = await auth.require_user(request)
    rows = await request.app[state.SERVICES].passes.store.pending_arrivals(auth.visible_departments(user.person))
    return web.json_response(asdict(PendingOut(
        [ArrivalPersonOut(r.number, r.name, r.department, r.class_name) for r in rows])))


# -- pages ----------------------------------------------------------------------------------

async def home_card(request: web.Request) -> tuple[str, dict[str, Any]] | None:
    """Home-page card: for counsellors and school admins how many students await arrival; for
    admins a link to buildings and door policy."""
    user = await auth.current_user(request)
    if user is None or user.role not in CONFIRMERS + ADMINS:
        return None
    pending = None
    if user.role in CONFIRMERS:
        scope = auth.visible_departments(user.person)
        pending = len(await request.app[state.SERVICES].passes.store.pending_arrivals(scope))
    return "arrival_home.html", {"pending": pending, "buildings": user.role in ADMINS}


async def _form_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    user = await auth.require_user(request)
    scope = auth.visible_departments(user.person)
    pending = await request.app[state.SERVICES].passes.store.pending_arrivals(scope)
    arrived = None
    number = request.query.get("who", "") if request.query.get("msg") == "arrival_confirmed" else ""
    if number:  # name the student just confirmed, if the counsellor may see them
        person = await People(request.app[state.SERVICES].db).by_number(number)
        if person is not None and (scope is None or person.department in scope):
            arrived = person
    context: dict[str, Any] = {"pending": pending, "error": error, "arrived": arrived}
    if arrived is not None:
        context["notice"] = None
    return await render(request, "arrival.html", context, status=status)


@routes.page("GET", "/arrivals", roles=CONFIRMERS, summary="arrival confirmation")
async def arrivals_page(request: web.Request) -> web.StreamResponse:
    return await _form_page(request)


async def _form_candidate(request: web.Request) -> Candidate:
    form = await request.post()
    photo = form.get("photo")
    if isinstance(photo, web.FileField):
        data = photo.file.read()
        if data:
            user = await auth.require_user(request)
            return await _arrivals(request).by_photo(user.person, data, request.app[state.CLOCK].now())
    text = str(form.get("pass_text") or "")
    number = str(form.get("number") or "")
    kind, value = _one_of(pass_text=text or None, number=number or None)
    return await _identify(request, kind, value, str(form.get("via") or ""))


@routes.page("POST", "/arrivals/identify", roles=CONFIRMERS, summary="identify an arriving student")
async def identify_page(request: web.Request) -> web.StreamResponse:
    try:
        candidate = await _form_candidate(request)
    except ApiError as exc:
        return await _form_page(request, form_error(exc), status_of(exc))
    return await render(request, "arrival_confirm.html", {"candidate": candidate, "person": candidate.person})


@routes.page("POST", "/arrivals/confirm", roles=CONFIRMERS, summary="confirm an arrival")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    try:
        candidate = await _form_candidate(request)
        await _confirm(request, candidate)
    except ApiError as exc:
        return await _form_page(request, form_error(exc), status_of(exc))
    raise web.HTTPSeeOther("/arrivals?" + urlencode({"msg": "arrival_confirmed", "who": candidate.person.number}))
