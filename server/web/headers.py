"""Security headers on every response (ARCHITECTURE §10; docs/security.md).

Pages use only the server's own scripts, styles and images (no CDN, no inline script), so the
Content-Security-Policy can forbid everything else; ``frame-ancestors 'none'`` (and the older
``X-Frame-Options: DENY``) stops the pages being framed for clickjacking; ``nosniff`` stops a
browser from running an upload or a JSON answer as script; ``Referrer-Policy`` keeps page
paths (which can name an application id or a student number) from leaking to other sites.
"""

from __future__ import annotations

import re

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Header name → value, set on every response (pages, API, static files, errors)."""


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: set :data:`SECURITY_HEADERS` unless a handler set its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def install(app: web.Application) -> None:
    """Add the security headers to every response of ``app``."""
    app.on_response_prepare.append(add_security_headers)


_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def attachment(filename: str) -> str:
    """The ``Content-Disposition`` value of a download named ``filename`` (RFC 6266).

    Every character outside ``A-Z a-z 0-9 . _ -`` becomes ``_`` and the name is cut to 120
    characters: a name built from a query parameter (a department code) must never put a
    newline, a quote or non-Latin-1 text into a header, which would end the answer unsent.
    """
    return f'attachment; filename="{_FILENAME_UNSAFE.sub("_", filename)[:120]}"'
