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



async def _page(request: web.Request, extra: dict[str, Any], status: int = 200) -> web.StreamResponse:
    def fmt(at_s: int | None) -> str:
        return local(from_unix(at_s)).strftime("%Y-%m-%d %H:%M") if at_s else ""

    db = request.app[state.SERVICES].db
    now_s = to_unix(request.app[state.CLOCK].now())
    tokens = [token_info(r, now_s) for r in await EnrolmentTokens(db).recent(50)]
    server_url = f"{request.scheme}://{request.host}"
    return await render(request, "admin_enrolment.html", {
        "t": i18n.page_texts(request, "enrol"), "fmt": fmt, "tokens": tokens, "nodes": await Nodes(db).all(), "server_url": server_url,
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
