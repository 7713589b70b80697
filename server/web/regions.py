"""The division table for the region picker, served from our own origin.

``GET /regions.json`` answers the shipped GB/T 2260 table (:mod:`server.regions`) as it is on
disk, cacheable for a day and revalidated by its ETag (the table's source version), so a phone
downloads it once (about 70 kB gzipped). ``static/region-picker.js`` reads it.
"""

from __future__ import annotations

import functools
import hashlib

from aiohttp import web

from server.regions import REGIONS
from server.web.registry import PUBLIC, Routes

routes = Routes(tag="regions")

@functools.cache
def _table() -> tuple[bytes, str]:
    """The file's bytes and their ETag (read once)."""
    body = REGIONS.path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@routes.page("GET", "/regions.json", roles=PUBLIC, summary="GB/T 2260 division table for the region picker")
async def regions_json(request: web.Request) -> web.StreamResponse:
    body, etag = _table()
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    resp = web.Response(body=body, content_type="application/json", charset="utf-8", headers=headers)
    resp.enable_compression()
    return resp


def form_region(value: object) -> str:
    """A region field of a submitted form as a code: the picker sends the code; without
    JavaScript a person may type a code or a name (``"海淀区"``, ``"北京市 海淀区"``), which is
    turned into its code when exactly one division matches. Anything else is passed on as
    typed, so validation names it."""
    text = str(value or "").strip()
    return REGIONS.resolve(text) or text if text else ""
