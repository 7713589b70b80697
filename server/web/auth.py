"""Sessions, the current user, role checks, department scope and CSRF for the web layer.

Sessions are server-side (:mod:`server.storage.sessions`): the ``cp_session`` cookie carries a
random token (HttpOnly, SameSite=Lax, Secure when configured). CSRF: every unsafe form request
must carry ``csrf_token`` equal to the session's token (or, before login, to the ``cp_csrf``
cookie, double-submit); unsafe API requests must be ``application/json`` (a cross-site form
cannot send that without a CORS preflight, which we never grant) and, when the browser sends an
``Origin`` header, it must be this server.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from server.scope import can_see_person as can_see_person
from server.scope import require_department as require_department
from server.scope import require_person_access as require_person_access
from server.scope import visible_departments as visible_departments
from server.storage.people import People, Person
from server.storage.sessions import Sessions, token_hash
from server.web import state
from server.web.errors import BadRequest, Forbidden, HttpError, NotLoggedIn, TooLarge
from shared.clock import to_unix

SESSION_COOKIE = "cp_session"
CSRF_COOKIE = "cp_csrf"
LANG_COOKIE = "cp_lang"
TOUCH_EVERY_S = 60
TOUCH_INLINE_WITHIN_S = 600
"""A session this close to its expiry (seconds) is touched at once, not batched."""
FORM_MAX_BYTES = 64 * 1024



@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The logged-in person of a request, with their session token and CSRF token."""

    person: Person
    token: str
    csrf_token: str

    @property
    def id(self) -> int:
        return self.person.id

    @property
    def role(self) -> str:
        return self.person.role


_USER: web.RequestKey[CurrentUser | None] = web.RequestKey("cp_user")
_NEW_CSRF = web.RequestKey("cp_new_csrf", str)


class SetupRequired(Forbidden):
    """The account must finish first-login setup (new password, verified phone) first."""

    code = "setup_required"


def client_address(request: web.Request) -> str:
    """The client's address for throttling and the audit log: the peer, or, when the peer is a
    trusted reverse proxy (``auth.trusted_proxies``), the nearest untrusted hop in
    ``X-Forwarded-For``."""
    peer = request.remote or ""
    trusted = request.app[state.CONFIG].auth.trusted_proxies
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


async def current_user(request: web.Request) -> CurrentUser | None:
    """The logged-in user of this request, or None (cached per request)."""
    if _USER in request:
        return request[_USER]
    user = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        app = request.app
        now_s = to_unix(app[state.CLOCK].now())
        found = await People(app[state.SERVICES].db).by_session(token_hash(token), now_s)
        if found is not None:
            person, row = found
            user = CurrentUser(person, token, row["csrf_token"])
            if now_s - int(row["last_seen_at"]) >= TOUCH_EVERY_S:
                expires_s = now_s + app[state.CONFIG].auth.session_hours * 3600
                if int(row["expires_at"]) - now_s > TOUCH_INLINE_WITHIN_S:
                    app[state.SERVICES].session_touches.note(token_hash(token), now_s, expires_s)
                else:  # close to expiry: slide it now, so it cannot lapse before the next flush
                    await Sessions(app[state.SERVICES].db).touch(token, now_s, expires_s)
    request[_USER] = user
    return user


async def require_user(request: web.Request) -> CurrentUser:
    """The logged-in user.

    Raises:
        NotLoggedIn: no valid session.
    """
    user = await current_user(request)
    if user is None:
        raise NotLoggedIn("log in first")
    return user


async def enforce(
    request: web.Request, kind: str, roles: tuple[str, ...], *, allow_setup: bool, public: bool, any_user: bool
) -> CurrentUser | None:
    """Apply a route's access declaration. Pages redirect to the login or setup page instead
    of failing.

    Raises:
        NotLoggedIn, SetupRequired, Forbidden: for API routes.
    """
    if public:
        return await current_user(request)
    user = await current_user(request)
    if user is None:
        if kind == "page":
            raise web.HTTPSeeOther(f"/login?next={quote(request.rel_url.path)}")
        raise NotLoggedIn("log in first")
    if not user.person.is_active and not allow_setup:
        if kind == "page":
            raise web.HTTPSeeOther("/setup")
        raise SetupRequired("finish first-login setup first: set a new password and verify your mobile number")
    if not any_user and user.role not in roles:
        raise Forbidden(f"role {user.role} may not use {request.method} {request.path}; allowed: {', '.join(roles)}")
    return user


def check_api_origin(request: web.Request) -> None:
    """CSRF defence for unsafe API requests.

    Raises:
        ApiError: 415 ``unsupported_media_type`` unless JSON; 403 ``csrf_failed`` for a foreign Origin.
    """
    if request.content_type != "application/json":
        raise HttpError(f"content type {request.content_type!r}; expected application/json",
                        code="unsupported_media_type", status=415)
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:  # e.g. "http://[::1": an unbalanced IPv6 bracket
            netloc = None
        if netloc != request.host:
            raise Forbidden(f"cross-origin request from {origin[:200]!r} refused", code="csrf_failed")
    elif origin == "null":
        raise Forbidden("cross-origin request from an opaque origin refused", code="csrf_failed")


def csrf_token(request: web.Request, user: CurrentUser | None) -> str:
    """The CSRF token forms of this page must carry (sets the ``cp_csrf`` cookie when needed)."""
    if user is not None:
        return user.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or request.get(_NEW_CSRF)
    if not token:
        token = secrets.token_urlsafe(24)
        request[_NEW_CSRF] = token
    return str(token)


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The submitted form (urlencoded or multipart), cached by aiohttp for the handler.

    Forms are small (64 KiB) except file uploads by admins (the roster) and counsellors (a
    photo of a student's pass at arrival), up to the app's ``client_max_size``.

    Raises:
        BadRequest: the body is not a readable form (code ``malformed_form``), TooLarge: ``body_too_large``.
    """
    user = await current_user(request)
    big_ok = (user is not None and user.role in ("counsellor", "school_admin", "system_admin")
              and request.content_type == "multipart/form-data")
    if not big_ok and (request.content_length is None or request.content_length > FORM_MAX_BYTES):
        if request.content_length is not None or request.body_exists:
            raise TooLarge(f"form of {request.content_length or 'unknown'} bytes is too large; at most {FORM_MAX_BYTES}")
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except (ValueError, UnicodeDecodeError, AssertionError, LookupError, HttpProcessingError) as exc:
        raise BadRequest(f"the form could not be read: {exc}", code="malformed_form") from None


async def check_form_csrf(request: web.Request) -> None:
    """Compare the form's ``csrf_token`` with the session's (or the pre-login cookie's).

    Raises:
        Forbidden: code ``csrf_failed``.
        BadRequest: the body is not a form.
    """
    form = await read_form(request)
    sent = form.get("csrf_token")
    user = await current_user(request)
    expected = user.csrf_token if user is not None else request.cookies.get(CSRF_COOKIE)
    # compare bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a mismatch)
    if (not isinstance(sent, str) or not expected
            or not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))):
        raise Forbidden("the form has expired or came from another site; reload the page and try again",
                        code="csrf_failed")


def set_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Set the pre-login CSRF cookie on ``response`` when this request minted a token
    (:func:`csrf_token`); page rendering calls this."""
    token = request.get(_NEW_CSRF)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=request.app[state.CONFIG].auth.cookie_secure)


async def start_session(request: web.Request, person: Person) -> CurrentUser:
    """Create a session for ``person`` (ending this request's old one); then call
    :func:`set_session_cookie` on the response."""
    app = request.app
    sessions = Sessions(app[state.SERVICES].db)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await sessions.delete(old)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now_s = to_unix(app[state.CLOCK].now())
    hours = app[state.CONFIG].auth.session_hours
    await sessions.create(token, person.id, csrf, now_s, now_s + hours * 3600, client_address(request))
    user = CurrentUser(person, token, csrf)
    request[_USER] = user
    return user


def set_session_cookie(request: web.Request, response: web.StreamResponse, user: CurrentUser) -> None:
    """Put the session cookie (HttpOnly, SameSite=Lax) on ``response``."""
    config = request.app[state.CONFIG].auth
    response.set_cookie(SESSION_COOKIE, user.token, httponly=True, samesite="Lax", path="/",
                        max_age=config.session_hours * 3600, secure=config.cookie_secure)


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """End this request's session and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await Sessions(request.app[state.SERVICES].db).delete(token)
    response.del_cookie(SESSION_COOKIE, path="/")
    request[_USER] = None
