"""Admin pages: roster upload, SMS outbox with retry, audit log, password reset."""

from __future__ import annotations

from aiohttp import web

from server.roster import RosterError
from server.storage.audit import AuditLog
from server.storage.people import People
from server.storage.sms import SmsOutboxStore
from server.web import audit, auth, i18n, state
from server.web.admin import mask_phone, run_roster_import
from server.web.errors import ApiError, NotFound, status_of
from server.web.pages import render
from server.web.registry import ADMINS, Routes
from shared.campus_time import local
from shared.clock import from_unix, to_unix

routes = Routes(tag="admin-pages")


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
