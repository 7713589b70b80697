"""Accounts: login (password, directory, CAS), logout, first-login setup (new password, phone
binding by SMS code), password change and the language switch; as JSON under ``/api/v1/auth/*``
and ``/api/v1/me``, and as the login, setup and password pages.

Both forms call the same account service (``app[state.SERVICES].accounts``); a page re-renders its
form with the translated error and the error's status, and redirects with ``?msg=`` on success.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from server.accounts import directory_refusal
from server.cas_login import CasError
from server.storage.people import Person
from server.web import auth, i18n, state
from server.web.errors import ApiError, InvalidField, status_of
from server.web.registry import ANY_USER, PUBLIC, Routes
from server.web.rendering import form_error, render, safe_next
from shared.config import bounds

routes = Routes(tag="auth")


@dataclass(frozen=True)
class LoginBody:
    """Campus account login; ``sms_code`` is a one-time login code for a throttled account."""

    username: str = field(metadata=bounds(max_length=64))
    password: str = field(metadata=bounds(max_length=128))
    sms_code: str | None = field(default=None, metadata=bounds(max_length=12))


@dataclass(frozen=True)
class LoginCodeBody:
    """Ask for a one-time login code by SMS (throttled account with a verified phone)."""

    username: str = field(metadata=bounds(max_length=64))


@dataclass(frozen=True)
class PasswordBody:
    """Change the password (``old_password`` is the initial password at first login)."""

    old_password: str
    new_password: str


@dataclass(frozen=True)
class PhoneCodeBody:
    """Ask for an SMS code to bind this mobile number."""

    phone: str = field(metadata=bounds(max_length=20))


@dataclass(frozen=True)
class PhoneVerifyBody:
    """Bind the mobile number with the 6-digit code received."""

    phone: str = field(metadata=bounds(max_length=20))
    code: str = field(metadata=bounds(max_length=12))


@dataclass(frozen=True)
class UserOut:
    """A person as the API shows them to themselves."""

    id: int
    number: str
    name: str
    role: str
    department: str | None
    class_name: str | None
    phone: str | None
    phone_verified: bool
    departments: list[str]


@dataclass(frozen=True)
class SessionOut:
    """The logged-in user and what first-login setup still needs."""

    user: UserOut
    must_change_password: bool
    must_bind_phone: bool
    csrf_token: str


@dataclass(frozen=True)
class CodeSentOut:
    """A code was queued: seconds until it expires and until another may be asked for."""

    phone: str
    expires_in_s: int
    resend_in_s: int


@dataclass(frozen=True)
class OkOut:
    """Plain success."""

    ok: bool


def user_out(p: Person) -> UserOut:
    """The API view of a person (never hashes or subject ids)."""
    return UserOut(p.id, p.number, p.name, p.role, p.department, p.class_name, p.phone, p.phone_verified,
                   list(p.departments))


def session_out(user: auth.CurrentUser) -> dict[str, object]:
    """JSON of :class:`SessionOut`."""
    p = user.person
    return asdict(SessionOut(user_out(p), p.must_change_password, p.must_bind_phone, user.csrf_token))


@routes.api("POST", "/api/v1/auth/login", roles=PUBLIC, body=LoginBody, response=SessionOut,
            summary="Log in with the campus number and password; sets the session cookie")
async def login(request: web.Request, body: LoginBody) -> web.Response:
    """Throttled per account and address, per account and per address, counted before the password
    is checked (429 ``login_slowed`` / ``login_blocked``); 401 ``bad_credentials`` for a wrong
    number or password. With ``sms_code`` (from ``/api/v1/auth/login/code``) a throttled account's
    owner gets past the throttle: 403 ``wrong_code`` / 410 ``code_expired`` for a bad code."""
    person = await request.app[state.SERVICES].accounts.login(body.username, body.password, auth.client_address(request),
                                                     body.sms_code)
    user = await auth.start_session(request, person)
    resp = web.json_response(session_out(user))
    auth.set_session_cookie(request, resp, user)
    return resp


@routes.api("POST", "/api/v1/auth/login/code", roles=PUBLIC, body=LoginCodeBody, response=CodeSentOut,
            summary="Send a one-time login code to the verified phone of a throttled account")
async def login_code(request: web.Request, body: LoginCodeBody) -> web.Response:
    """Always the same answer (``phone`` empty), so it reveals nothing about the account; a code
    is sent only when password logins to it from this address are throttled and it has a verified
    phone, at most one a minute and five an hour. The code expires in 5 minutes."""
    sent = await request.app[state.SERVICES].accounts.send_login_code(body.username, auth.client_address(request))
    return web.json_response(asdict(CodeSentOut(sent.phone, sent.expires_in_s, sent.resend_in_s)))


@routes.api("POST", "/api/v1/auth/logout", roles=PUBLIC, response=OkOut, summary="End the session")
async def logout(request: web.Request) -> web.Response:
    """Idempotent: succeeds without a session too."""
    resp = web.json_response({"ok": True})
    await auth.end_session(request, resp)
    return resp


@routes.api("GET", "/api/v1/me", roles=ANY_USER, allow_setup=True, response=SessionOut,
            summary="The logged-in user and the first-login steps still to do")
async def me(request: web.Request) -> web.Response:
    user = await auth.require_user(request)
    return web.json_response(session_out(user))


@routes.api("POST", "/api/v1/auth/password", roles=ANY_USER, allow_setup=True, body=PasswordBody,
            response=SessionOut, summary="Set a new password (required at first login)")
async def change_password(request: web.Request, body: PasswordBody) -> web.Response:
    """Policy: 8-128 characters, not the number, not the initial password (422 ``weak_password``);
    403 ``wrong_password`` when ``old_password`` is wrong. Other sessions of the account end."""
    user = await auth.require_user(request)
    person = await request.app[state.SERVICES].accounts.change_password(
        user.person, body.old_password, body.new_password, keep_session=user.token)
    return web.json_response(session_out(auth.CurrentUser(person, user.token, user.csrf_token)))


@routes.api("POST", "/api/v1/auth/phone/code", roles=ANY_USER, allow_setup=True, body=PhoneCodeBody,
            response=CodeSentOut, summary="Send a 6-digit SMS code to bind a mobile number")
async def phone_code(request: web.Request, body: PhoneCodeBody) -> web.Response:
    """The code expires in 5 minutes and allows 5 tries; one code a minute, five an hour
    (429 ``code_resend_wait`` / ``code_send_limit``)."""
    user = await auth.require_user(request)
    sent = await request.app[state.SERVICES].accounts.send_phone_code(user.person, body.phone)
    return web.json_response(asdict(CodeSentOut(sent.phone, sent.expires_in_s, sent.resend_in_s)))


@routes.api("POST", "/api/v1/auth/phone/verify", roles=ANY_USER, allow_setup=True, body=PhoneVerifyBody,
            response=SessionOut, summary="Verify the SMS code and bind the mobile number")
async def phone_verify(request: web.Request, body: PhoneVerifyBody) -> web.Response:
    """403 ``wrong_code`` (with ``tries_left``), 410 ``code_expired``, 429 ``code_exhausted``,
    404 ``no_code``."""
    user = await auth.require_user(request)
    person = await request.app[state.SERVICES].accounts.verify_phone(user.person, body.phone, body.code)
    return web.json_response(session_out(auth.CurrentUser(person, user.token, user.csrf_token)))


# -- pages -------------------------------------------------------------------------------------

def wait_text(request: web.Request, wait_s: object) -> str:
    """How long to wait, as a person says it ("3 分钟", "40 seconds"; ``wait_*`` of the text
    catalogue): seconds under a minute, else whole minutes rounded up; "" when not a number of seconds."""
    if not isinstance(wait_s, int) or isinstance(wait_s, bool) or wait_s <= 0:
        return ""
    minutes = -(-wait_s // 60)
    key, n = ("wait_seconds", wait_s) if wait_s < 60 else ("wait_minute" if minutes == 1 else "wait_minutes", minutes)
    return i18n.translate(request, key).replace("{n}", str(n))




def login_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    """What the login page shows: the password form (built-in or directory), the CAS button."""
    auth_config = request.app[state.CONFIG].auth
    return {"password_form": auth_config.password_login or auth_config.ldap.enabled,
            "directory": auth_config.ldap.enabled, "cas": state.CAS in request.app, **extra}


async def _logged_in(request: web.Request, person: Person, nxt: str) -> web.HTTPSeeOther:
    """The redirect after a login: a new session's cookie, on to ``nxt`` (or to first-login setup)."""
    user = await auth.start_session(request, person)
    resp = web.HTTPSeeOther(nxt if person.is_active else "/setup")
    auth.set_session_cookie(request, resp, user)
    return resp


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
    raise await _logged_in(request, person, nxt)


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
            wait=wait_text(request, wait_s),
            detail=exc.message if exc.code.startswith(("directory_", "not_on_roster")) else ""), status=status_of(exc))
    raise await _logged_in(request, person, nxt)


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


async def _refused(request: web.Request, template: str, exc: ApiError, phone: str) -> web.StreamResponse:
    """The setup (or password) form again with the refusal's text and status."""
    return await render(request, template, {"error": form_error(exc), "error_message": exc.message, "phone": phone},
                        status=status_of(exc))


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
        return await _refused(request, target, exc, user.person.phone or "")
    raise web.HTTPSeeOther("/setup?msg=password_saved" if not user.person.is_active else "/?msg=password_saved")


@routes.page("POST", "/setup/phone/code", roles=ANY_USER, allow_setup=True, summary="send a phone code")
async def setup_phone_code(request: web.Request) -> web.StreamResponse:
    user = await auth.require_user(request)
    form = await auth.read_form(request)
    phone = str(form.get("phone", ""))
    try:
        sent = await request.app[state.SERVICES].accounts.send_phone_code(user.person, phone)
    except ApiError as exc:
        return await _refused(request, "setup.html", exc, phone)
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
        return await _refused(request, "setup.html", exc, phone)
    raise web.HTTPSeeOther("/?msg=phone_bound" if person.is_active else "/setup?msg=phone_bound")


@routes.page("GET", "/password", roles=ANY_USER, summary="change password form")
async def password_form(request: web.Request) -> web.StreamResponse:
    return await render(request, "password.html", {})
