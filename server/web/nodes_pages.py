"""Admin pages for door nodes: the fleet, one node's sync log, and the scan log (zh-CN first,
English; mobile-first tables). Data comes from the same functions as the JSON API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.web import i18n
from server.web.errors import ApiError, status_of
from server.web.local_input import BadLocalTime, parse_local_instant
from server.web.nodes_api import fleet, query_scans, sync_log_doc
from server.web.pages import render
from server.web.registry import ADMINS, STAFF_ROLES, Routes
from shared.campus_time import local
from shared.clock import from_unix

routes = Routes(tag="node-pages")



def _context(request: web.Request) -> dict[str, Any]:
    lang, texts = i18n.lang_of(request), i18n.catalogue(request)

    def fmt(at_s: float | None) -> str:
        return local(from_unix(int(at_s))).strftime("%Y-%m-%d %H:%M:%S") if at_s else ""

    def fmt_ms(at_ms: int | None) -> str:
        return local(from_unix(at_ms // 1000)).strftime("%Y-%m-%d %H:%M:%S") if at_ms else ""

    return {"t": i18n.page_texts(request, "nodes"), "fmt": fmt, "fmt_ms": fmt_ms,
            "reason_text": lambda code: texts.reason_text(lang, code),
            "kind_text": lambda kind: texts.kind_text(lang, kind),
            "anomaly_text": lambda a: texts.anomaly_text(lang, a.kind, a.detail, a.seq_from, a.seq_to)}


@routes.page("GET", "/admin/nodes", roles=ADMINS, summary="door node fleet")
async def fleet_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin_nodes.html", {**_context(request), "nodes": await fleet(request)})


@routes.page("GET", "/admin/nodes/{node_id}", roles=ADMINS, summary="a node's sync log")
async def node_page(request: web.Request) -> web.StreamResponse:
    """One page of the node's syncs (``?only=scans|problems``, ``?before=<id>`` for older ones),
    each sync that carried scans linking to them in the scan log."""
    doc = await sync_log_doc(request, request.match_info["node_id"])
    return await render(request, "admin_node.html", {**_context(request), "doc": doc,
                                                     "only": request.query.get("only", "")})


SCAN_PAGE_ROWS = 100


@routes.page("GET", "/admin/scans", roles=STAFF_ROLES, summary="scan log")
async def scans_page(request: web.Request) -> web.StreamResponse:
    """The newest scans at once (100 a page, "earlier" pages back); the filter form takes local
    times as people type them (:mod:`server.web.local_input`). A bad value shows the form again
    with what was typed and a message, never an error page."""
    typed = request.query
    query = {k: v for k, v in typed.items() if k not in ("from", "to", "format")}
    query.setdefault("limit", str(SCAN_PAGE_ROWS))
    error, status, rows = None, 200, []
    try:
        for key in ("from", "to"):
            at_s = parse_local_instant(typed.get(key, ""), end_of_day=key == "to")
            if at_s is not None:
                query[key] = str(at_s)
        rows = await query_scans(request, query)
    except BadLocalTime:
        error, status = "bad_local_time", 422
    except ApiError as exc:
        error, status = exc.code, status_of(exc)
    earlier = None
    if len(rows) >= int(query["limit"]) and rows:
        earlier = {**{k: v for k, v in typed.items() if k != "to"}, "to": str(rows[-1].at_ms // 1000)}
    api_query = {k: v for k, v in query.items() if k != "limit"}
    return await render(request, "admin_scans.html", {
        **_context(request), "rows": rows, "q": typed, "error": error, "earlier": earlier,
        "csv_url": "/api/v1/scans?" + urlencode({**api_query, "format": "csv"}),
    }, status=status)
