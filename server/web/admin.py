"""Admin tools, as JSON and as pages: people lookup (scoped by department), password reset,
roster import, the SMS outbox with retry and the audit log. The API and the pages share the data
functions (:func:`run_roster_import`, the storage reads); the pages show codes in words.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from server.roster import MAX_BYTES as ROSTER_MAX_BYTES
from server.roster import RosterError
from server.storage.audit import AuditEntry, AuditLog
from server.storage.people import People
from server.storage.sms import SMS_STATUSES, OutboxMessage, SmsOutboxStore
from server.web import audit, auth, i18n, state
from server.web.accounts import OkOut, UserOut, user_out
from server.web.errors import ApiError, BadRequest, InvalidField, NotFound, status_of
from server.web.query import int_query
from server.web.registry import ADMINS, DEPARTMENT_VIEWERS, Routes, wire_shape
from server.web.rendering import render
from shared.campus_time import local
from shared.clock import from_unix, to_unix

routes = Routes(tag="admin")


@dataclass(frozen=True)
class PeopleOut:
    """A page of people."""

    people: list[UserOut]


OutboxOut = wire_shape(OutboxMessage, "OutboxOut", module=__name__, drop=("person_id", "params"), doc=(
    "One SMS outbox message with its delivery status (times: Unix seconds; error_class: the last failure's "
    "class, retry, give_up, misconfigured, unknown, or empty; docs/sms.md)."))


@dataclass(frozen=True)
class OutboxListOut:
    """Newest outbox messages first."""

    messages: list[OutboxOut]  # type: ignore[valid-type]


AuditOut = wire_shape(AuditEntry, "AuditOut", module=__name__, drop=("actor_id",), doc="One audit entry.")


@dataclass(frozen=True)
class AuditListOut:
    """Newest audit entries first."""

    entries: list[AuditOut]  # type: ignore[valid-type]


@routes.api("GET", "/api/v1/people", roles=DEPARTMENT_VIEWERS, response=PeopleOut,
            query={"department": "department code (a counsellor: one of theirs)", "limit": "1-500",
                   "offset": "rows to skip"},
            summary="People of the departments the caller looks after")
async def list_people(request: web.Request) -> web.Response:
    """A counsellor sees only their departments (403 ``department_scope`` for another)."""
    user = await auth.require_user(request)
    dept = request.query.get("department")
    scope = auth.visible_departments(user.person)
    if dept:
        auth.require_department(user.person, dept)
        departments: tuple[str, ...] | None = (dept,)
    else:
        departments = scope
    people = await People(request.app[state.SERVICES].db).in_departments(
        departments, limit=int_query(request, "limit", 100, 1, 500),
        offset=int_query(request, "offset", 0, 0, 10**9))
    return web.json_response(asdict(PeopleOut([user_out(p) for p in people])))


@routes.api("GET", "/api/v1/people/{number}", roles=DEPARTMENT_VIEWERS, response=UserOut,
            summary="One person, if in the caller's departments")
async def get_person(request: web.Request) -> web.Response:
    """403 ``department_scope`` for people outside the caller's departments (the same answer
    whether or not the number exists)."""
    user = await auth.require_user(request)
    target = await People(request.app[state.SERVICES].db).by_number(request.match_info["number"])
    person = auth.require_person_access(user.person, target)
    return web.json_response(asdict(user_out(person)))


@routes.api("POST", "/api/v1/admin/people/{number}/reset-password", roles=ADMINS, response=OkOut,
            summary="Reset an account to its initial password (audited)")
async def reset_password(request: web.Request) -> web.Response:
    """The person must set a new password at next login; their sessions end."""
    user = await auth.require_user(request)
    target = await People(request.app[state.SERVICES].db).by_number(request.match_info["number"])
    if target is None:
        raise NotFound(f"no person with number {request.match_info['number']}")
    await request.app[state.SERVICES].accounts.reset_password(user.person, target, auth.client_address(request))
    return web.json_response({"ok": True})


_CODE_DIGITS = re.compile(r"\d{4,8}")
CODE_PURPOSES = frozenset({"phone_code", "login_code"})


def mask_phone(phone: str) -> str:
    """``138****8000``: enough to tell messages apart, not to call anyone."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def outbox_out(m: OutboxMessage, viewer_role: str = "school_admin") -> Any:
    """The API view of an outbox row. One-time codes are masked for every viewer (an admin
    page must not show a live code for someone else's phone or account); for the system admin
    (no personal data) the phone number is masked and other bodies are withheld."""
    d = asdict(m)
    d.pop("person_id", None)
    d.pop("params", None)  # the template values repeat the body
    if d["purpose"] in CODE_PURPOSES:
        d["body"] = _CODE_DIGITS.sub(lambda g: "•" * len(g.group()), d["body"])
    if viewer_role == "system_admin":
        d["phone"] = mask_phone(d["phone"])
        if d["purpose"] not in CODE_PURPOSES:
            d["body"] = ""
    return OutboxOut(**d)


@routes.api("GET", "/api/v1/admin/sms", roles=ADMINS, response=OutboxListOut,
            query={"status": "pending, sending, sent, failed or unknown", "limit": "1-500"},
            summary="SMS outbox with delivery status")
async def sms_outbox(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in SMS_STATUSES:
        raise InvalidField(f"status {status!r}; expected pending, sending, sent, failed or unknown")
    user = await auth.require_user(request)
    rows = await SmsOutboxStore(request.app[state.SERVICES].db).recent(int_query(request, "limit", 100, 1, 500), status)
    return web.json_response(asdict(OutboxListOut([outbox_out(m, user.role) for m in rows])))


@routes.api("POST", "/api/v1/admin/sms/{id}/retry", roles=ADMINS, response=OkOut,
            summary="Queue a failed or unknown SMS again (audited)")
async def sms_retry(request: web.Request) -> web.Response:
    """404 ``not_found`` unless the message exists and is failed or unknown."""
    app = request.app
    now_s = to_unix(app[state.CLOCK].now())
    message_id = request.match_info["id"]
    if not await SmsOutboxStore(app[state.SERVICES].db).retry(message_id, now_s):
        raise NotFound(f"no failed or unknown SMS with id {message_id}")
    await audit.record_now(request, "sms_retry", detail={"id": message_id})
    app[state.SERVICES].sms_sender.wake()
    return web.json_response({"ok": True})


@routes.api("GET", "/api/v1/admin/audit", roles=ADMINS, response=AuditListOut,
            query={"person": "only entries about this number", "action": "only this action", "limit": "1-500"},
            summary="Audit log, newest first")
async def audit_log(request: web.Request) -> web.Response:
    app = request.app
    target_id = None
    if "person" in request.query:
        target = await People(app[state.SERVICES].db).by_number(request.query["person"])
        if target is None:
            raise NotFound(f"no person with number {request.query['person']}")
        target_id = target.id
    entries = await AuditLog(app[state.SERVICES].db).recent(limit=int_query(request, "limit", 100, 1, 500),
                                                   target_person_id=target_id, action=request.query.get("action"))
    out = [AuditOut(**{k: v for k, v in asdict(e).items() if k != "actor_id"}) for e in entries]
    return web.json_response(asdict(AuditListOut(out)))


@dataclass(frozen=True)
class RosterBody:
    """A roster to import: a CSV's text in ``csv``, or an XLSX workbook in ``xlsx_base64``."""

    csv: str = ""
    xlsx_base64: str = ""
    skip_bad_rows: bool = False


@dataclass(frozen=True)
class ProblemOut:
    """A bad roster row: line (CSV) or row (XLSX), why, and the bad cell's column and value."""

    line: int
    reason: str
    column: str
    value: str
    sheet: str


@dataclass(frozen=True)
class ImportOut:
    """What the import did."""

    created: int
    updated: int
    departments: int
    skipped: list[ProblemOut]


async def run_roster_import(request: web.Request, data: bytes, skip_bad_rows: bool) -> ImportOut:
    """Import a roster as the logged-in admin (shared by the API and the admin page).

    Raises:
        RosterError: 422 ``bad_roster`` with ``problems`` [{line, reason, column, value}].
    """
    from server.roster import import_roster

    user = await auth.require_user(request)
    app = request.app
    result = await import_roster(app[state.SERVICES].db, app[state.HASHER], data, now_s=to_unix(app[state.CLOCK].now()),
                                 actor_number=user.person.number, actor_id=user.id, skip_bad_rows=skip_bad_rows,
                                 address=auth.client_address(request))
    return ImportOut(result.created, result.updated, result.departments,
                     [ProblemOut(p.line, p.reason, p.column, p.value, p.sheet) for p in result.skipped])


@routes.api("POST", "/api/v1/admin/roster", roles=ADMINS, body=RosterBody, response=ImportOut,
            max_body_bytes=ROSTER_MAX_BYTES * 4 // 3 + 1024 * 1024,
            summary="Import or update people from a roster CSV or XLSX (audited)")
async def roster_import(request: web.Request, body: RosterBody) -> web.Response:
    """Columns: number, name, id_last6, department_code, department_name, role[, phone, class].
    Exactly one of ``csv`` (text) and ``xlsx_base64`` (the workbook's bytes, base64). With bad
    rows and ``skip_bad_rows`` false nothing is imported: 422 ``bad_roster`` whose error carries
    ``problems`` [{line, reason, column, value}]."""
    if bool(body.csv) == bool(body.xlsx_base64):
        raise BadRequest("send exactly one of csv (the file's text) and xlsx_base64 (the workbook, base64)")
    if body.xlsx_base64:
        try:
            data = base64.b64decode(body.xlsx_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"xlsx_base64 is not base64: {exc}") from exc
    else:
        data = body.csv.encode("utf-8")
    out = await run_roster_import(request, data, body.skip_bad_rows)
    return web.json_response(asdict(out))


def _local_time(at_s: int | None) -> str:
    return local(from_unix(at_s)).strftime("%Y-%m-%d %H:%M:%S") if at_s else ""


@routes.page("GET", "/admin", roles=ADMINS, summary="admin home")
async def admin_home(request: web.Request) -> web.StreamResponse:
    people = People(request.app[state.SERVICES].db)
    number = request.query.get("number", "").strip()
    found = await people.by_number(number) if number else None
    return await render(request, "admin.html", {"count": await people.count(), "number": number, "found": found,
                                                "departments": await people.departments()})


@routes.page("POST", "/admin/people/{number}/reset", roles=ADMINS, summary="reset a password")
async def admin_reset(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    number = request.match_info["number"]
    target = await People(request.app[state.SERVICES].db).by_number(number)
    if target is None:
        raise NotFound(f"no person with number {number}")
    await request.app[state.SERVICES].accounts.reset_password(user.person, target, auth.client_address(request))
    raise web.HTTPSeeOther(f"/admin?number={number}&msg=password_reset_done")


@routes.page("GET", "/admin/roster", roles=ADMINS, summary="roster upload form")
async def roster_form(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin_roster.html", {})


@routes.page("POST", "/admin/roster", roles=ADMINS, summary="roster upload")
async def roster_upload(request: web.Request) -> web.StreamResponse:
    form = await auth.read_form(request)
    upload = form.get("file")
    skip = form.get("skip_bad_rows") == "on"
    data = upload.file.read() if isinstance(upload, web.FileField) else b""
    if not data:
        return await render(request, "admin_roster.html", {"error": "roster_missing"}, status=400)
    try:
        result = await run_roster_import(request, data, skip)
    except RosterError as exc:
        return await render(request, "admin_roster.html", {"error": "bad_roster", "problems": exc.problems},
                            status=status_of(exc))
    except ApiError as exc:
        return await render(request, "admin_roster.html", {"error": exc.code}, status=status_of(exc))
    return await render(request, "admin_roster.html", {"result": result})


@routes.page("GET", "/admin/sms", roles=ADMINS, summary="SMS outbox")
async def sms_page(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    rows = await SmsOutboxStore(request.app[state.SERVICES].db).recent(200)
    lang, texts = i18n.lang_of(request), i18n.catalogue(request)
    return await render(request, "admin_sms.html", {
        "messages": rows, "fmt": _local_time,
        "show_phone": mask_phone if user.role == "system_admin" else str, "purpose_text": lambda p: texts.purpose_text(lang, p),
        "status_text": lambda s, n: texts.sms_status_text(lang, s, n)})


@routes.page("POST", "/admin/sms/{id}/retry", roles=ADMINS, summary="retry an SMS")
async def sms_retry_page(request: web.Request) -> web.StreamResponse:
    app = request.app
    message_id = request.match_info["id"]
    if await SmsOutboxStore(app[state.SERVICES].db).retry(message_id, to_unix(app[state.CLOCK].now())):
        await audit.record_now(request, "sms_retry", detail={"id": message_id})
        app[state.SERVICES].sms_sender.wake()
    raise web.HTTPSeeOther("/admin/sms")


@routes.page("GET", "/admin/audit", roles=ADMINS, summary="audit log")
async def audit_page(request: web.Request) -> web.StreamResponse:
    entries = await AuditLog(request.app[state.SERVICES].db).recent(limit=200)
    people = People(request.app[state.SERVICES].db)
    targets: dict[int, str] = {}
    for e in entries:  # whom each action concerned, by number and name
        if e.target_person_id is not None and e.target_person_id not in targets:
            who = await people.by_id(e.target_person_id)
            targets[e.target_person_id] = f"{who.number} {who.name}" if who else f"#{e.target_person_id}"
    lang, texts = i18n.lang_of(request), i18n.catalogue(request)
    return await render(request, "admin_audit.html", {
        "entries": entries, "fmt": _local_time, "targets": targets,
        "action_text": lambda a: texts.action_text(lang, a),
        "detail_text": lambda d: texts.detail_text(lang, d)})
