"""Forms that survive a lapsed session or a stale tab.

A student filling in the check-in or the return application on a phone may take long enough
for the session to lapse, or come back to a tab opened yesterday. Such a submission used to be
lost: redirected to the login page, or refused as "page expired". Instead, for the forms that
declare it (``Routes.page(..., keep_form="/checkin")``), the fields are kept as a draft in the
browser (cookie ``cp_draft``: compressed JSON, HttpOnly, one hour) and the person goes to the
login page (lapsed session) or back to the form (stale tab) with a message. When the form is
shown next, :func:`take` hands the fields back and the draft is dropped; the answers are
checked again when submitted, as any input.

A draft belongs to the person the form was shown to (its hidden ``draft_owner`` field): on a
shared phone, the next person to log in never sees someone else's answers.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from server.web import auth
from server.web.errors import ApiError

DRAFT_COOKIE = "cp_draft"
OWNER_FIELD = "draft_owner"
MAX_AGE_S = 3600
MAX_COOKIE_BYTES = 3800  # browsers keep cookies up to 4096 bytes
_SKIP = ("csrf_token", OWNER_FIELD)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _encode(doc: dict[str, Any]) -> str:
    raw = zlib.compress(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 9)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(text: str) -> dict[str, Any] | None:
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), bufsize=16384)
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def keeping(handler: Handler, page: str) -> Handler:
    """``handler`` (a form's POST route, access checks included) that keeps the submitted
    fields when the session has lapsed (redirect to the login page) or the form's CSRF token
    is stale (403 ``csrf_failed``), and sends the person on with a message."""

    async def keep(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPSeeOther as exc:
            if not str(exc.location).startswith("/login"):
                raise
            target = f"/login?next={quote(page + '?msg=draft_restored', safe='')}&msg=session_expired_kept"
            raise await _kept(request, page, target) or exc from None
        except ApiError as exc:
            if exc.code != "csrf_failed":
                raise
            kept = await _kept(request, page, f"{page}?msg=page_expired_kept")
            if kept is None:
                raise
            raise kept from None

    keep.__name__ = getattr(handler, "__name__", "handler")
    keep.__doc__ = handler.__doc__
    return keep


async def _kept(request: web.Request, page: str, target: str) -> web.HTTPSeeOther | None:
    """A redirect to ``target`` carrying the draft cookie, or None when nothing can be kept."""
    try:
        form = await auth.read_form(request)
    except ApiError:  # not a form at all: nothing to keep
        return None
    owner = str(form.get(OWNER_FIELD, ""))
    fields = [[k, str(v)] for k, v in form.items() if k not in _SKIP and isinstance(v, str)]
    if not owner or not fields:
        return None
    value = _encode({"page": page, "owner": owner, "at": int(time.time()), "fields": fields})
    if len(value) > MAX_COOKIE_BYTES:
        return None
    resp = web.HTTPSeeOther(target)
    resp.set_cookie(DRAFT_COOKIE, value, max_age=MAX_AGE_S, path="/", httponly=True, samesite="Lax",
                    secure=request.secure)
    return resp


def take(request: web.Request, page: str, owner: str) -> list[tuple[str, str]] | None:
    """The kept fields of ``page`` for ``owner`` (the logged-in person's number), or None.
    Call :func:`drop` on the response that shows them."""
    text = request.cookies.get(DRAFT_COOKIE)
    doc = _decode(text) if text else None
    if not doc or doc.get("page") != page or doc.get("owner") != owner:
        return None
    fields = doc.get("fields")
    if not isinstance(fields, list):
        return None
    return [(str(f[0]), str(f[1])) for f in fields if isinstance(f, list) and len(f) == 2]


def drop(request: web.Request, response: web.StreamResponse) -> None:
    """Delete the draft cookie (once its fields are back on the page)."""
    if DRAFT_COOKIE in request.cookies:
        response.del_cookie(DRAFT_COOKIE, path="/")
