"""The web boundary of the error tree: category → HTTP status, and the one JSON error envelope
``{"error": {"code", "message"}}``.

The domain raises :mod:`server.errors` (drawn there); :data:`STATUS_OF` is the one table from an
error's category to its HTTP status. Handlers raise the same errors (or, for failures of the
web boundary itself, :class:`HttpError` with its own status);
:func:`error_middleware` turns them, aiohttp's own HTTP exceptions (404, 405, 413, ...) and any
unexpected exception into the envelope for ``/api/`` paths, and into the error page otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.errors import (
    BadRequest,
    Category,
    Conflict,
    DomainError,
    Forbidden,
    InvalidField,
    NotFound,
    NotLoggedIn,
    TooLarge,
    TooManyRequests,
)
from server.storage.database import StorageError
from shared.errors import CampusPassError

__all__ = ["ApiError", "BadRequest", "Conflict", "DomainError", "Forbidden", "HttpError", "InvalidField", "NotFound",
           "NotLoggedIn", "STATUS_OF", "TooLarge", "TooManyRequests", "classify", "envelope", "is_api",
           "make_error_middleware", "status_of"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


ApiError = DomainError
"""The base of every error a handler raises on purpose (the domain's :class:`DomainError`)."""


class HttpError(DomainError):
    """An error of the web boundary itself that has no domain category of its own (a wrong
    content type, a missing CSRF token): it names its HTTP status.

    Attributes:
        status: HTTP status code.
        headers: extra response headers.
    """

    def __init__(self, message: str, *, status: int, code: str | None = None,
                 headers: dict[str, str] | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, detail=detail)
        self.status = status
        self.headers = headers or {}


STATUS_OF: dict[Category, int] = {
    Category.BAD_REQUEST: 400,
    Category.INVALID: 422,
    Category.UNAUTHENTICATED: 401,
    Category.FORBIDDEN: 403,
    Category.NOT_FOUND: 404,
    Category.CONFLICT: 409,
    Category.GONE: 410,
    Category.TOO_LARGE: 413,
    Category.THROTTLED: 429,
    Category.UNAVAILABLE: 503,
}
"""The one table from an error's category to its HTTP status."""


def status_of(exc: CampusPassError) -> int:
    """The HTTP status for a campuspass error: :data:`STATUS_OF` of its category, a
    :class:`HttpError`'s own status, 503 for storage failures, 400 for anything else."""
    if isinstance(exc, HttpError):
        return exc.status
    if isinstance(exc, DomainError):
        return STATUS_OF[exc.category]
    if isinstance(exc, StorageError):
        return 503
    return 400


_HTTP_CODES = {
    400: "bad_request",
    401: "not_logged_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def envelope(code: str, message: str, status: int, *, headers: dict[str, str] | None = None,
             detail: dict[str, Any] | None = None) -> web.Response:
    """The JSON error response: ``{"error": {"code": code, "message": message, **detail}}``."""
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(detail or {})
    return web.json_response({"error": body}, status=status, headers=headers)


def is_api(request: web.Request) -> bool:
    """True for JSON API paths (``/api/...``)."""
    return request.path == "/api" or request.path.startswith("/api/")


def classify(exc: BaseException) -> tuple[int, str, str, dict[str, str], dict[str, Any]]:
    """``(status, code, message, headers, detail)`` for any exception a handler may raise."""
    if isinstance(exc, HttpError):
        return exc.status, exc.code, exc.message, exc.headers, exc.detail
    if isinstance(exc, DomainError):
        retry = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry)} if retry is not None else {}
        return STATUS_OF[exc.category], exc.code, exc.message, headers, exc.detail
    if isinstance(exc, StorageError):
        return 503, exc.code, "the database is unavailable; try again shortly", {}, {}
    if isinstance(exc, CampusPassError):
        return 400, exc.code, exc.message, {}, {}
    if isinstance(exc, web.HTTPException):
        code = _HTTP_CODES.get(exc.status, "http_error" if exc.status < 500 else "internal")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return exc.status, code, exc.reason or code, headers, {}
    return 500, "internal", "internal server error", {}, {}


ErrorPageRenderer = Callable[[web.Request, int, str, str], Awaitable[web.StreamResponse]]


def make_error_middleware(render_page: ErrorPageRenderer | None = None) -> Any:
    """The middleware producing the envelope (API) or the error page (HTML pages).

    Args:
        render_page: ``(request, status, code, message) -> response`` for HTML pages; when None,
            page errors are left to aiohttp.
    """

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            if isinstance(exc, web.HTTPException) and (exc.status < 400 or not is_api(request)):
                if exc.status < 400 or render_page is None:
                    raise
            status, code, message, headers, detail = classify(exc)
            if status >= 500 and code == "internal":
                log.exception("unhandled error on %s %s", request.method, request.path)
            if is_api(request):
                return envelope(code, message, status, headers=headers, detail=detail)
            if render_page is None:
                raise
            resp = await render_page(request, status, code, message)
            for k, v in headers.items():
                resp.headers[k] = v
            return resp

    return error_middleware
