"""People lookup (scoped by department) and admin tools: password reset, SMS outbox, audit log."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import asdict, dataclass

from aiohttp import web

from server.roster import MAX_BYTES as ROSTER_MAX_BYTES
from server.storage.audit import AuditLog
from server.storage.people import People
from server.storage.sms import SmsOutboxStore
from server.web import audit, auth, state
from server.web.auth_api import OkOut, UserOut, user_out
from server.web.errors import BadRequest, InvalidField, NotFound
from server.web.registry import ADMINS, DEPARTMENT_VIEWERS, Routes
from shared.clock import to_unix

routes = Routes(tag="admin")


@dataclass(frozen=True)
class PeopleOut:
    """A page of people."""

    people: list[UserOut]


@dataclass(frozen=True)
class OutboxOut:
    """One SMS outbox message with its delivery status (times: Unix seconds)."""

    id: str
    phone: str
    body: str
    purpose: str
    status: str
    attempts: int
    next_attempt_at_s: int
    last_error: str
    created_at_s: int
    sent_at_s: int | None
    error_class: str
    """The last failure's class: retry, give_up, misconfigured, unknown ("" none; docs/sms.md)."""


@dataclass(frozen=True)
class OutboxListOut:
    """Newest outbox messages first."""

    messages: list[OutboxOut]


@dataclass(frozen=True)
class AuditOut:
    """One audit entry."""

    id: int
    at_s: int
    actor_number: str
    action: str
    target_person_id: int | None
    detail: dict[str, object]
    address: str


@dataclass(frozen=True)
class AuditListOut:
    """Newest audit entries first."""

    entries: list[AuditOut]


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidField(f"query {name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise InvalidField(f"query {name}={value} is outside {lo}..{hi}")
    return value


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
        departments, limit=_int_query(request, "limit", 100, 1, 500),
        offset=_int_query(request, "offset", 0, 0, 10**9))
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


def outbox_out(m: object, viewer_role: str = "school_admin") -> OutboxOut:
    """The API view of an outbox row. One-time codes are masked for every viewer (an admin
    page must not show a live code for someone else's phone or account); for the system admin
    (no personal data) the phone number is masked and other bodies are withheld."""
    d = asdict(m)  # type: ignore[call-overload]
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
    if status is not None and status not in ("pending", "sending", "sent", "failed", "unknown"):
        raise InvalidField(f"status {status!r}; expected pending, sending, sent, failed or unknown")
    user = await auth.require_user(request)
    rows = await SmsOutboxStore(request.app[state.SERVICES].db).recent(_int_query(request, "limit", 100, 1, 500), status)
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
    entries = await AuditLog(app[state.SERVICES].db).recent(limit=_int_query(request, "limit", 100, 1, 500),
                                                   target_person_id=target_id, action=request.query.get("action"))
    out = [AuditOut(e.id, e.at_s, e.actor_number, e.action, e.target_person_id, e.detail, e.address)
           for e in entries]
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
