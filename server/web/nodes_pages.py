"""Admin pages for door nodes: the fleet, one node's sync log, and the scan log (zh-CN first,
English; mobile-first tables). Data comes from the same functions as the JSON API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.web import i18n
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
        "disabled": "已停用", "camera": "摄像头",
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
        "disabled": "disabled", "camera": "Camera",
    },
}


def _context(request: web.Request) -> dict[str, Any]:
    lang = i18n.lang_of(request)

    def t(key: str, fallback: str | None = None) -> str:
        return TEXT.get(lang, {}).get(key) or i18n.translate(lang, key, fallback)

    def fmt(at_s: float | None) -> str:
        return local(from_unix(int(at_s))).strftime("%Y-%m-%d %H:%M:%S") if at_s else ""

    return {"t": t, "fmt": fmt}


@routes.page("GET", "/admin/nodes", roles=ADMINS, summary="door node fleet")
async def fleet_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "admin_nodes.html", {**_context(request), "nodes": await fleet(request)})


@routes.page("GET", "/admin/nodes/{node_id}", roles=ADMINS, summary="a node's sync log")
async def node_page(request: web.Request) -> web.StreamResponse:
    doc = await sync_log_doc(request, request.match_info["node_id"])
    return await render(request, "admin_node.html", {**_context(request), "doc": doc})


@routes.page("GET", "/admin/scans", roles=STAFF_ROLES, summary="scan log")
async def scans_page(request: web.Request) -> web.StreamResponse:
    rows = await query_scans(request) if request.query else []
    return await render(request, "admin_scans.html", {
        **_context(request), "rows": rows, "q": request.query,
        "csv_url": "/api/v1/scans?" + request.query_string + ("&" if request.query_string else "") + "format=csv",
    })
