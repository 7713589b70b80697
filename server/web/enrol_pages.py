"""The enrolment page for system admins (zh-CN first, English): make a one-time node enrolment
token (shown once), see recent tokens and cancel unused ones, disable or re-enable nodes. Same
functions as :mod:`server.web.enrol_api`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.storage.enrolment import EnrolmentTokens
from server.storage.nodes import Nodes
from server.web import auth, i18n, state
from server.web.enrol_api import SYSTEM_ADMIN, TokenBody, cancel_token, make_token, switch_node, token_info
from server.web.errors import ApiError, status_of
from server.web.pages import render
from server.web.registry import Routes
from shared.campus_time import local
from shared.clock import from_unix, to_unix

routes = Routes(tag="enrolment-pages")

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "门禁节点注册", "new_token": "生成一次性注册令牌", "name": "名称", "building": "楼栋代码",
        "direction": "方向", "entry": "进", "exit": "出", "node_id": "节点编号（可选）", "ttl": "有效期（小时）",
        "create": "生成", "token_once": "令牌只显示这一次。在树莓派上运行：", "tokens": "最近的令牌",
        "node": "节点", "state": "状态", "expires": "过期时间", "pending": "待使用", "used": "已使用",
        "expired": "已过期", "cancelled": "已作废", "cancel": "作废", "nodes": "已注册节点",
        "enabled": "启用", "disabled": "已停用", "disable": "停用", "enable": "启用", "fleet": "节点状态",
        "root": "根公钥（用 --root-key 固定）",
    },
    "en": {
        "title": "Door node enrolment", "new_token": "New one-time enrolment token", "name": "Name",
        "building": "Building code", "direction": "Direction", "entry": "entry", "exit": "exit",
        "node_id": "Node id (optional)", "ttl": "Valid for (hours)", "create": "Create",
        "token_once": "The token is shown only now. On the Raspberry Pi run:", "tokens": "Recent tokens",
        "node": "Node", "state": "State", "expires": "Expires", "pending": "pending", "used": "used",
        "expired": "expired", "cancelled": "cancelled", "cancel": "Cancel", "nodes": "Enrolled nodes",
        "enabled": "enabled", "disabled": "disabled", "disable": "Disable", "enable": "Enable",
        "fleet": "Fleet status", "root": "Root public key (pin it with --root-key)",
    },
}


async def _page(request: web.Request, extra: dict[str, Any], status: int = 200) -> web.StreamResponse:
    lang = i18n.lang_of(request)

    def t(key: str, fallback: str | None = None) -> str:
        return TEXT.get(lang, {}).get(key) or i18n.translate(lang, key, fallback)

    def fmt(at_s: int | None) -> str:
        return local(from_unix(at_s)).strftime("%Y-%m-%d %H:%M") if at_s else ""

    db = request.app[state.DB]
    now_s = to_unix(request.app[state.CLOCK].now())
    tokens = [token_info(r, now_s) for r in await EnrolmentTokens(db).recent(50)]
    server_url = f"{request.scheme}://{request.host}"
    return await render(request, "admin_enrolment.html", {
        "t": t, "fmt": fmt, "tokens": tokens, "nodes": await Nodes(db).all(), "server_url": server_url,
        "form": {}, **extra}, status=status)


@routes.page("GET", "/admin/enrolment", roles=SYSTEM_ADMIN, summary="door node enrolment")
async def enrolment_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, {})


@routes.page("POST", "/admin/enrolment", roles=SYSTEM_ADMIN, summary="create an enrolment token")
async def enrolment_create(request: web.Request) -> web.StreamResponse:
    form = await auth.read_form(request)
    values = {k: str(form.get(k, "")).strip() for k in ("name", "building", "direction", "node_id", "ttl_hours")}
    try:
        ttl = float(values["ttl_hours"] or "24")
    except ValueError:
        return await _page(request, {"error": "bad_ttl", "form": values}, status=422)
    body = TokenBody(values["name"], values["building"], values["direction"], values["node_id"] or None, ttl)
    try:
        new = await make_token(request, body)
    except ApiError as exc:
        return await _page(request, {"error": exc.code, "error_message": exc.message, "form": values},
                           status=status_of(exc))
    return await _page(request, {"new": new})


@routes.page("POST", "/admin/enrolment/tokens/{token_id}/cancel", roles=SYSTEM_ADMIN,
             summary="cancel an enrolment token")
async def enrolment_cancel(request: web.Request) -> web.StreamResponse:
    await cancel_token(request, request.match_info["token_id"])
    raise web.HTTPSeeOther("/admin/enrolment")


@routes.page("POST", "/admin/enrolment/nodes/{node_id}/{action:disable|enable}", roles=SYSTEM_ADMIN,
             summary="disable or enable a node")
async def enrolment_switch(request: web.Request) -> web.StreamResponse:
    await switch_node(request, request.match_info["node_id"], request.match_info["action"] == "enable")
    raise web.HTTPSeeOther("/admin/enrolment")
