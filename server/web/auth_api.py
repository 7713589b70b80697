"""``/api/v1/auth/*`` and ``/api/v1/me``: login, logout, first-login setup, password change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aiohttp import web

from server.storage.people import Person
from server.web import auth, state
from server.web.registry import ANY_USER, PUBLIC, Routes
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
