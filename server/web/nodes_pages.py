"""Admin pages for door nodes: the fleet, one node's sync log, and the scan log (zh-CN first,
English; mobile-first tables). Data comes from the same functions as the JSON API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.web import i18n, scan_texts
from server.web.errors import ApiError, status_of
from server.web.local_input import BadLocalTime, parse_local_instant
from server.web.nodes_api import fleet, query_scans, sync_log_doc
from server.web.pages import render
from server.web.registry import ADMINS, STAFF_ROLES, Routes
from shared.campus_time import local
from shared.clock import from_unix

routes = Routes(tag="node-pages")

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "fleet": "门禁节点", "node": "节点", "building": "楼栋", "direction": "方向", "last_seen": "最近联系",
        "state": "状态", "queue": "待上传", "skew": "时钟偏差（秒）", "versions": "版本（软件/信任/吊销/规则）",
        "anomalies": "异常", "online": "在线", "late": "延迟", "offline": "离线", "sync_log": "同步记录",
        "received": "收到", "duplicates": "重复", "acked": "确认至", "gaps": "缺口", "errors": "错误",
        "kind": "类型", "detail": "说明", "scan_log": "通行记录", "from": "开始", "to": "结束",
        "verdict": "结果", "accept": "通过", "deny": "拒绝", "any": "全部", "person": "人员",
        "reason": "原因", "csv": "导出 CSV", "search": "查询", "entry": "进", "exit": "出", "silent": "长时间未联系",
        "disabled": "已停用", "camera": "摄像头", "newer": "较新的", "older": "更早的", "only": "显示",
        "only_all": "全部同步（含心跳）", "only_scans": "只看带通行记录的同步", "only_problems": "只看有缺口或错误的",
        "view_scans": "查看这些记录", "time_hint": "如 2026-12-05 08:00（北京时间），或只填日期",
        "bad_local_time": "时间格式不对，请写成 2026-12-05 08:00 或 2026-12-05。", "recent_scans": "最近的通行记录",
        "showing": "显示", "rows": "条", "earlier": "更早的记录",
        "flags": "标记", "flag_revoked": "吊销后放行", "flag_repeated": "重复进入", "node_time": "节点时钟",
        "corrected": "已按节点时钟偏差校正", "clock_untrusted": "节点时钟不可信（按服务器时间推算）",
        "trust_stale": "信任数据过旧时放行", "repeat_of": "前一次进入的记录",
        "time_note": "时间为服务器时间：节点时钟有偏差时已按同步时测得的偏差校正，并按此排序。",
    },
    "en": {
        "fleet": "Door nodes", "node": "Node", "building": "Building", "direction": "Direction",
        "last_seen": "Last seen", "state": "Status", "queue": "Queue", "skew": "Clock skew (s)",
        "versions": "Versions (software/trust/revocations/policy)", "anomalies": "Anomalies", "online": "online",
        "late": "late", "offline": "offline", "sync_log": "Sync log", "received": "Received",
        "duplicates": "Duplicates", "acked": "Acked to", "gaps": "Gaps", "errors": "Errors", "kind": "Kind",
        "detail": "Detail", "scan_log": "Scan log", "from": "From", "to": "To", "verdict": "Verdict",
        "accept": "accept", "deny": "deny", "any": "any", "person": "Person", "reason": "Reason",
        "csv": "Export CSV", "search": "Search", "entry": "entry", "exit": "exit", "silent": "silent too long",
        "disabled": "disabled", "camera": "Camera", "newer": "Newer", "older": "Older", "only": "Show",
        "only_all": "every sync (heartbeats too)", "only_scans": "syncs that carried scans",
        "only_problems": "syncs with gaps or errors", "view_scans": "view these scans",
        "time_hint": "e.g. 2026-12-05 08:00 (Beijing time), or a date alone",
        "bad_local_time": "Write the time as 2026-12-05 08:00 or 2026-12-05.", "recent_scans": "Recent scans",
        "showing": "Showing", "rows": "rows", "earlier": "Earlier scans",
        "flags": "Flags", "flag_revoked": "admitted while revoked", "flag_repeated": "repeated entry",
        "node_time": "node clock", "corrected": "corrected for the node's clock skew",
        "clock_untrusted": "node clock not trusted (estimated from server time)",
        "trust_stale": "admitted on stale trust data", "repeat_of": "the earlier entry's record",
        "time_note": "Times are server time: a node clock that was off is corrected by the skew measured "
                     "at its sync, and the log is ordered by it.",
    },
}


def _context(request: web.Request) -> dict[str, Any]:
    lang = i18n.lang_of(request)

    def t(key: str, fallback: str | None = None) -> str:
        return TEXT.get(lang, {}).get(key) or i18n.translate(lang, key, fallback)

    def fmt(at_s: float | None) -> str:
        return local(from_unix(int(at_s))).strftime("%Y-%m-%d %H:%M:%S") if at_s else ""

    def fmt_ms(at_ms: int | None) -> str:
        return local(from_unix(at_ms // 1000)).strftime("%Y-%m-%d %H:%M:%S") if at_ms else ""

    return {"t": t, "fmt": fmt, "fmt_ms": fmt_ms, "reason_text": lambda code: scan_texts.reason_text(lang, code),
            "kind_text": lambda kind: scan_texts.kind_text(lang, kind),
            "anomaly_text": lambda a: scan_texts.anomaly_text(lang, a.kind, a.detail, a.seq_from, a.seq_to)}


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
