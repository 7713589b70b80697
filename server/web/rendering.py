"""Rendering pages and reading forms: the one ``render`` every page handler goes through (the
page's texts, user, CSRF token and ``?msg=`` notice added to its context), the error page, and
the small readers of form values (ids, local redirect targets).

Forms post back to the same page; errors re-render the form with the translated message and
the error's HTTP status. Success redirects (303) with ``?msg=<catalogue key>``.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server.web import auth, i18n
from server.web.errors import ApiError

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
