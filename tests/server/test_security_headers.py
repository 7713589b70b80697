"""Security headers on every response: pages, the API, static files and error pages carry a
Content-Security-Policy with frame-ancestors 'none', X-Frame-Options, nosniff and a
Referrer-Policy; and the pages need nothing the policy forbids (no inline script or style)."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from server.web.headers import SECURITY_HEADERS

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"


async def test_every_kind_of_response_carries_the_security_headers(client: TestClient) -> None:
    for method, path, status in (("GET", "/login", 200), ("GET", "/api/v1/me", 401),
                                 ("GET", "/api/v1/openapi.json", 200), ("GET", "/static/app.css", 200),
                                 ("GET", "/no-such-page", 404), ("GET", "/api/v1/no-such-thing", 404),
                                 ("GET", "/", 303)):
        r = await client.request(method, path, allow_redirects=False)
        assert r.status == status, path
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp
        assert r.headers.get("X-Frame-Options") == "DENY", path
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        assert r.headers.get("Referrer-Policy") == "same-origin", path
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (path, name)


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """What the policy would block must not be needed: no inline <script>, <style>, style=""
    attribute or on*="" handler in any template."""
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert "<style" not in text and not re.search(r"\sstyle=", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
