"""HTTP errors and the one JSON error envelope ``{"error": {"code", "message"}}``.

Handlers raise :class:`ApiError` subclasses (or any :class:`~shared.errors.CampusPassError`);
:func:`error_middleware` turns them, aiohttp's own HTTP exceptions (404, 405, 413, ...) and any
unexpected exception into the envelope for ``/api/`` paths, and into the error page otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.storage.database import StorageError
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(CampusPassError):
    """An error with an HTTP status. Default: 400 ``bad_request``.

    Attributes:
        status: HTTP status code.
        headers: extra response headers (e.g. ``Retry-After``).
        detail: extra JSON fields placed next to code and message (e.g. ``retry_after_s``).
    """

    code = "bad_request"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.detail = detail or {}


class BadRequest(ApiError):
    """400: the request body or parameters are malformed. Code ``bad_request``."""


class InvalidField(ApiError):
    """422: a field has a wrong value (message names the field). Code ``invalid_field``."""

    code = "invalid_field"
    status = 422


class NotLoggedIn(ApiError):
    """401: no valid session. Code ``not_logged_in``."""

    code = "not_logged_in"
    status = 401


class Forbidden(ApiError):
    """403: logged in but not allowed. Code ``forbidden``."""

    code = "forbidden"
    status = 403


class NotFound(ApiError):
    """404. Code ``not_found``."""

    code = "not_found"
    status = 404


class Conflict(ApiError):
    """409: the request conflicts with the current state. Code ``conflict``."""

    code = "conflict"
    status = 409


class TooManyRequests(ApiError):
    """429: throttled; ``retry_after_s`` says when to try again. Code ``too_many_requests``."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        retry = max(1, int(retry_after_s))
        super().__init__(message, code=code, headers={"Retry-After": str(retry)},
                         detail={"retry_after_s": retry})


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
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.headers, exc.detail
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
