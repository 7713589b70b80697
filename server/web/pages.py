"""HTML pages: login, first-login setup, home, language switch, logout, error page.

Forms post back to the same page; errors re-render the form with the translated message and
the error's HTTP status. Success redirects (303) with ``?msg=<catalogue key>``.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server.accounts import directory_refusal
from server.cas_login import CasError
from server.storage.people import People
from server.web import auth, i18n, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.registry import ANY_USER, PUBLIC, Routes

routes = Routes(tag="pages")


#: SQLite INTEGER is 64-bit: 18 decimal digits always fit.
_MAX_ID_DIGITS = 18


def parse_id(value: object) -> int | None:
    """A row id from a form field or URL part: ASCII digits only (``str.isdigit`` also accepts
    '²', which ``int`` refuses), at most 18 of them; anything else is None."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_ID_DIGITS:
        return int(value)
    return None


def form_ids(values: list[Any], limit: int) -> list[int]:
    """The valid ids among form values (see :func:`parse_id`), at most ``limit`` of them."""
    ids = [i for i in (parse_id(v) for v in values) if i is not None]
    return ids[:limit]


def safe_next(value: str | None) -> str:
    """A local redirect target (``/path``), never another site.

    Backslashes, whitespace and control characters are refused too: browsers drop tabs and
    newlines from URLs, so ``/<TAB>/evil.example`` would become ``//evil.example``.
    """
    if (value and value.startswith("/") and not value.startswith("//") and "\\" not in value
            and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)):
        return value
    return "/"


async def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """Render ``template`` with ``t``, ``lang``, ``user``, ``csrf_token`` and ``notice`` (from
    ``?msg=``) added to ``context``. Every page handler of every feature renders through this."""
    context = {**await i18n.page_context(request), **context}
    msg = request.query.get("msg")
    if msg and i18n.catalogue(request).has(msg):
        context.setdefault("notice", msg)
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    auth.set_csrf_cookie(request, response)
    return response


async def render_error(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    """The error page (used by the error middleware for non-API paths)."""
    if status in (301, 302, 303, 307, 308):
        raise web.HTTPSeeOther("/")
    text = i18n.translate(request, code, message)
    return await render(request, "error.html", {"status": status, "code": code, "message": text}, status=status)


def form_error(exc: ApiError) -> str:
    """The catalogue key of an error shown on a form."""
    return exc.code


def wait_text(lang: str, wait_s: object) -> str:
    """How long to wait, as a person says it ("3 分钟", "40 seconds"); "" when not a number of seconds."""
    if not isinstance(wait_s, int) or wait_s <= 0:
        return ""
    minutes = -(-wait_s // 60)
    if lang == "en":
        return f"{wait_s} seconds" if wait_s < 60 else f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{wait_s} 秒" if wait_s < 60 else f"{minutes} 分钟"




def add_home_section(app: web.Application, provider: state.HomeSection, order: int) -> None:
    """Show a feature's card on the home page (call before the app starts).

    ``provider(request)`` returns ``(template, context)`` or None (nothing to show for this
    user); the template is included with ``section`` = context. Cards are shown by ``order``,
    following the university's guide: check-in 20, return application 30, pass 50.
    """
    app.setdefault(state.HOME_SECTIONS, []).append((order, provider))


@routes.page("GET", "/", roles=ANY_USER, summary="home")
async def home(request: web.Request) -> web.StreamResponse:
    sections = []
    providers: list[tuple[int, state.HomeSection]] = request.app.get(state.HOME_SECTIONS) or []
    for _order, provider in sorted(providers, key=lambda item: item[0]):
        section = await provider(request)
        if section is not None:
            sections.append(section)
    user = await auth.current_user(request)
    department_name = None
    if user is not None and user.person.department:
        names = {d.code: d.name for d in await People(request.app[state.SERVICES].db).departments()}
        department_name = names.get(user.person.department)
    return await render(request, "home.html", {"sections": sections, "department_name": department_name})


@routes.page("GET", "/favicon.ico", roles=PUBLIC, summary="the site icon (browsers ask for it on every page)")
async def favicon(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/static/favicon.svg")


def login_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    """What the login page shows: the password form (built-in or directory), the CAS button."""
    auth_config = request.app[state.CONFIG].auth
    return {"password_form": auth_config.password_login or auth_config.ldap.enabled,
            "directory": auth_config.ldap.enabled, "cas": state.CAS in request.app, **extra}


@routes.page("GET", "/login", roles=PUBLIC, summary="login form")
async def login_form(request: web.Request) -> web.StreamResponse:
    nxt = safe_next(request.query.get("next"))
    return await render(request, "login.html", login_context(request, next=nxt))


@routes.page("GET", "/login/cas", roles=PUBLIC, summary="sign in through the university's CAS")
async def login_cas(request: web.Request) -> web.StreamResponse:
    """Without ``ticket``: off to the CAS login. With it: validate it server to server, then log
    in the roster person it names (first-login setup still asks for the phone)."""
    cas = request.app.get(state.CAS)
    if cas is None:
        raise web.HTTPNotFound()
    nxt = safe_next(request.query.get("next"))
    service = cas.service_url(nxt)
    ticket = request.query.get("ticket", "")
    if not ticket:
        raise web.HTTPSeeOther(cas.login_url(service))
    try:
        try:
            cas_user = await cas.validate(ticket, service)
        except CasError as exc:
            raise directory_refusal(exc) from None
        person = await request.app[state.SERVICES].accounts.directory_person(cas_user.number)
    except ApiError as exc:
        return await render(request, "login.html", login_context(
            request, next=nxt, error=form_error(exc), error_message=exc.message, detail=exc.message),
            status=status_of(exc))
    user = await auth.start_session(request, person)
    resp = web.HTTPSeeOther(nxt if person.is_active else "/setup")
    auth.set_session_cookie(request, resp, user)
    raise resp


@routes.page("POST", "/login", roles=PUBLIC, summary="login")
async def login_post(request: web.Request) -> web.StreamResponse:
    form = await auth.read_form(request)
    number, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = safe_next(str(form.get("next", "/")))
    try:
        person = await request.app[state.SERVICES].accounts.login(number, password, auth.client_address(request),
                                                         str(form.get("sms_code", "")) or None)
    except ApiError as exc:
        wait_s = exc.detail.get("retry_after_s")
        return await render(request, "login.html", login_context(
            request, next=nxt, error=form_error(exc), error_message=exc.message, username=number,
            wait=wait_text(i18n.lang_of(request), wait_s),
            detail=exc.message if exc.code.startswith(("directory_", "not_on_roster")) else ""), status=status_of(exc))
    user = await auth.start_session(request, person)
    resp = web.HTTPSeeOther(nxt if person.is_active else "/setup")
    auth.set_session_cookie(request, resp, user)
    raise resp


@routes.page("POST", "/logout", roles=PUBLIC, summary="logout")
async def logout_post(request: web.Request) -> web.StreamResponse:
    resp = web.HTTPSeeOther("/login")
    await auth.end_session(request, resp)
    raise resp


@routes.page("GET", "/lang/{lang}", roles=PUBLIC, summary="switch language")
async def switch_lang(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    resp = web.HTTPSeeOther(safe_next(request.query.get("next")))
    if lang in i18n.LANGS:
        resp.set_cookie(auth.LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", path="/")
    raise resp


PENDING_PHONE_COOKIE = "cp_pending_phone"


@routes.page("GET", "/setup", roles=ANY_USER, allow_setup=True, summary="first-login setup")
async def setup_form(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    if user.person.is_active:
        raise web.HTTPSeeOther("/")
    phone = request.cookies.get(PENDING_PHONE_COOKIE, "") or user.person.phone or ""
    return await render(request, "setup.html", {"phone": phone if phone.isascii() and phone.isdigit() else ""})


@routes.page("POST", "/setup/password", roles=ANY_USER, allow_setup=True, summary="set a new password")
async def setup_password(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    new = str(form.get("new_password", ""))
    try:
        if new != str(form.get("repeat_password", "")):
            raise InvalidField("the new passwords differ", code="passwords_differ")
        await request.app[state.SERVICES].accounts.change_password(
            user.person, str(form.get("old_password", "")), new, keep_session=user.token)
    except ApiError as exc:
        target = "setup.html" if not user.person.is_active else "password.html"
        return await render(request, target, {"error": form_error(exc), "error_message": exc.message, "phone": user.person.phone or ""},
                      status=status_of(exc))
    raise web.HTTPSeeOther("/setup?msg=password_saved" if not user.person.is_active else "/?msg=password_saved")


@routes.page("POST", "/setup/phone/code", roles=ANY_USER, allow_setup=True, summary="send a phone code")
async def setup_phone_code(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    phone = str(form.get("phone", ""))
    try:
        sent = await request.app[state.SERVICES].accounts.send_phone_code(user.person, phone)
    except ApiError as exc:
        return await render(request, "setup.html", {"error": form_error(exc), "error_message": exc.message, "phone": phone}, status=status_of(exc))
    # the number waits in a short-lived cookie for the next step, never in the URL (logs, history)
    resp = web.HTTPSeeOther("/setup?msg=code_sent")
    resp.set_cookie(PENDING_PHONE_COOKIE, sent.phone, max_age=600, path="/setup", httponly=True, samesite="Strict",
                    secure=request.secure)
    raise resp


@routes.page("POST", "/setup/phone/verify", roles=ANY_USER, allow_setup=True, summary="verify the phone code")
async def setup_phone_verify(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    phone = str(form.get("phone", ""))
    try:
        person = await request.app[state.SERVICES].accounts.verify_phone(user.person, phone, str(form.get("code", "")))
    except ApiError as exc:
        return await render(request, "setup.html", {"error": form_error(exc), "error_message": exc.message, "phone": phone}, status=status_of(exc))
    raise web.HTTPSeeOther("/?msg=phone_bound" if person.is_active else "/setup?msg=phone_bound")


@routes.page("GET", "/password", roles=ANY_USER, summary="change password form")
async def password_form(request: web.Request) -> web.StreamResponse:
    return await render(request, "password.html", {})
