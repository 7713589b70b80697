"""Door node enrolment (issue 8; service in :mod:`server.enrolment`), as JSON and as the system
admin's page.

* ``POST /api/v1/nodes/enroll`` (no session: the one-time token is the credential) registers the
  node's public key and answers with its bundle documents.
* System admins make, list and cancel enrolment tokens under ``/api/v1/admin/enrolment-tokens``.
* Admins disable and re-enable nodes (``POST /api/v1/nodes/{node_id}/disable`` and ``/enable``); a
  disabled node's signed requests are refused with ``node_disabled``.
* ``/admin/enrolment`` (system admins, zh-CN first): make a one-time token (shown once), see recent
  tokens and cancel unused ones, disable or re-enable nodes, through the same functions
  (:func:`make_token`, :func:`cancel_token`, :func:`switch_node`) as the API.

Every change is written to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from server.enrolment import (
    EnrolError,
    create_token,
    enrol_with_token,
    set_node_enabled,
)
from server.storage.audit import AuditLog
from server.storage.enrolment import EnrolmentTokens, TokenRow
from server.storage.nodes import NodeRegistrationError, Nodes
from server.web import auth, i18n, state
from server.web.errors import ApiError, HttpError, InvalidField, NotFound, status_of
from server.web.registry import ADMINS, PUBLIC, Routes
from server.web.rendering import render
from shared.campus_time import local
from shared.clock import from_unix, to_unix
from shared.errors import CampusPassError
from shared.keys import b64u_decode, b64u_encode

routes = Routes(tag="enrolment")

SYSTEM_ADMIN: tuple[str, ...] = ("system_admin",)

#: HTTP status of each enrolment refusal (everything else: 400).
STATUS = {
    "unknown_token": 401, "token_used": 409, "token_expired": 410, "token_cancelled": 410,
    "node_exists": 409, "token_pending": 409, "bad_key": 422, "unknown_node": 404, "bad_ttl": 422,
    "bad_direction": 422, "bad_node_id": 422, "unknown_building": 422, "bad_name": 422,
}


def as_api_error(exc: CampusPassError) -> ApiError:
    """The enrolment error with its HTTP status (see :data:`STATUS`)."""
    return HttpError(exc.message, code=exc.code, status=STATUS.get(exc.code, 400))


async def _audit(request: web.Request, action: str, detail: dict[str, Any], now_s: int) -> None:
    user = await auth.current_user(request)
    async with request.app[state.SERVICES].db.transaction() as conn:
        await AuditLog.add(conn, at_s=now_s, actor_id=user.id if user else None,
                           actor_number=user.person.number if user else "node", action=action,
                           detail=detail, address=auth.client_address(request))


# ---- the node --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolBody:
    """What a new node sends: the one-time token and its Ed25519 public key (32 bytes, unpadded
    base64url). The private key stays on the node."""

    token: str
    public_key: str
    software_version: str = ""


@dataclass(frozen=True)
class EnrolledNodeOut:
    """The node as registered (its ``node.toml`` identity)."""

    id: str
    name: str
    building: str
    direction: str


@dataclass(frozen=True)
class EnrolOut:
    """The node's identity and bundle documents: root key to pin (base64url), trust bundle, signed
    revocation delta since 0, signed building policy, server time (Unix seconds)."""

    node: EnrolledNodeOut
    root_public: str
    trust_bundle: dict[str, Any]
    revocations: dict[str, Any]
    policy: dict[str, Any]
    server_time_s: int


@routes.api("POST", "/api/v1/nodes/enroll", roles=PUBLIC, body=EnrolBody, response=EnrolOut,
            summary="Enrol a door node with a one-time token")
async def enroll(request: web.Request, body: EnrolBody) -> web.Response:
    """Consumes the token (single use, expires) and registers the public key as the node the token
    names. Refusals: 401 ``unknown_token``, 409 ``token_used``, 410 ``token_expired`` /
    ``token_cancelled``, 409 ``node_exists``, 422 ``bad_key``."""
    try:
        public_key = b64u_decode(body.public_key)
    except CampusPassError:
        raise InvalidField("body.public_key is not base64url", code="bad_key") from None
    now = request.app[state.CLOCK].now()
    try:
        result = await enrol_with_token(request.app[state.DATADIR], request.app[state.SERVICES].db, token=body.token,
                                        public_key=public_key, now=now, address=auth.client_address(request))
    except (EnrolError, NodeRegistrationError) as exc:
        raise as_api_error(exc) from None
    await _audit(request, "node_enrolled", {"node_id": result.node.id, "building": result.node.building,
                                            "software_version": body.software_version[:40],
                                            "public_key": b64u_encode(public_key)}, to_unix(now))
    return web.json_response(result.to_json())


# ---- tokens (system admins) --------------------------------------------------------------------


@dataclass(frozen=True)
class TokenBody:
    """A token for one node: display name, building code, direction, optional node id (default: the
    name when it is a valid id, else ``<building>-<direction>-<hex>``) and lifetime in hours."""

    name: str
    building: str
    direction: str
    node_id: str | None = None
    ttl_hours: float = 24.0


@dataclass(frozen=True)
class TokenInfo:
    """An enrolment token (without its text). ``state``: pending, used, expired or cancelled;
    times Unix seconds."""

    id: int
    node_id: str
    name: str
    building: str
    direction: str
    state: str
    created_at_s: int
    created_by: str
    expires_at_s: int
    used_at_s: int | None


@dataclass(frozen=True)
class NewTokenOut:
    """A new token: its text (shown only now), the token's details and the root key the node
    should pin (``campuspass provision enroll --root-key``)."""

    token: str
    info: TokenInfo
    root_public: str


@dataclass(frozen=True)
class TokensOut:
    """``GET /api/v1/admin/enrolment-tokens``: newest first."""

    tokens: list[TokenInfo]


def token_info(row: TokenRow, now_s: int) -> TokenInfo:
    """The API view of a token row at ``now_s``."""
    return TokenInfo(row.id, row.node_id, row.name, row.building, row.direction, row.state(now_s),
                     row.created_at_s, row.created_by, row.expires_at_s, row.used_at_s)


async def make_token(request: web.Request, body: TokenBody) -> NewTokenOut:
    """Create a token for ``body`` as the current user, audited (the API and the page use this).

    Raises:
        ApiError: 422 ``bad_ttl`` / ``bad_direction`` / ``bad_node_id`` / ``unknown_building``,
            409 ``node_exists`` / ``token_pending``.
    """
    user = await auth.require_user(request)
    now = request.app[state.CLOCK].now()
    if not 0 < body.ttl_hours <= 24 * 30:
        raise InvalidField(f"ttl_hours = {body.ttl_hours}; expected more than 0 and at most 720", code="bad_ttl")
    dd = request.app[state.DATADIR]
    try:
        new = await create_token(dd, request.app[state.SERVICES].db, name=body.name.strip(),
                                 building=body.building.strip(), direction=body.direction, now=now,
                                 ttl_s=round(body.ttl_hours * 3600), created_by=user.person.number,
                                 node_id=(body.node_id or "").strip() or None)
    except CampusPassError as exc:
        raise as_api_error(exc) from None
    now_s = to_unix(now)
    await _audit(request, "enrolment_token_created", {"token_id": new.row.id, "node_id": new.row.node_id,
                                                      "expires_at_s": new.row.expires_at_s}, now_s)
    return NewTokenOut(new.token, token_info(new.row, now_s), b64u_encode(dd.root_public()))


@routes.api("POST", "/api/v1/admin/enrolment-tokens", roles=SYSTEM_ADMIN, body=TokenBody, response=NewTokenOut,
            summary="Create a one-time door node enrolment token")
async def tokens_create(request: web.Request, body: TokenBody) -> web.Response:
    """The token text is in this answer only (the server keeps its SHA-256). Give it to whoever
    installs the node: ``campuspass provision enroll --server-url URL --token TOKEN``."""
    return web.json_response(asdict(await make_token(request, body)))


@routes.api("GET", "/api/v1/admin/enrolment-tokens", roles=SYSTEM_ADMIN, response=TokensOut,
            summary="Recent enrolment tokens")
async def tokens_list(request: web.Request) -> web.Response:
    """The newest 100 tokens with their state (never their text)."""
    now_s = to_unix(request.app[state.CLOCK].now())
    rows = await EnrolmentTokens(request.app[state.SERVICES].db).recent()
    return web.json_response(asdict(TokensOut([token_info(r, now_s) for r in rows])))


async def cancel_token(request: web.Request, token_id: str) -> None:
    """Cancel a pending token, audited.

    Raises:
        NotFound: no pending token with that id.
    """
    now_s = to_unix(request.app[state.CLOCK].now())
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses; 18 digits fit SQLite's INTEGER
    valid = token_id.isascii() and token_id.isdigit() and len(token_id) <= 18
    if not valid or not await EnrolmentTokens(request.app[state.SERVICES].db).cancel(int(token_id), now_s):
        raise NotFound(f"no unused enrolment token {token_id!r}", code="unknown_token")
    await _audit(request, "enrolment_token_cancelled", {"token_id": int(token_id)}, now_s)


@routes.api("POST", "/api/v1/admin/enrolment-tokens/{token_id}/cancel", roles=SYSTEM_ADMIN,
            summary="Cancel an unused enrolment token")
async def tokens_cancel(request: web.Request) -> web.Response:
    """A cancelled token is refused with ``token_cancelled``."""
    await cancel_token(request, request.match_info["token_id"])
    return web.json_response({"cancelled": True})


# ---- disabling nodes (admins) --------------------------------------------------------------------


@dataclass(frozen=True)
class NodeStateOut:
    """A node's id and whether it is enabled."""

    id: str
    enabled: bool


async def switch_node(request: web.Request, node_id: str, enabled: bool) -> NodeStateOut:
    """Enable or disable ``node_id``, audited.

    Raises:
        ApiError: 404 ``unknown_node``.
    """
    try:
        row = await set_node_enabled(request.app[state.SERVICES].db, node_id, enabled)
    except EnrolError as exc:
        raise as_api_error(exc) from None
    await _audit(request, "node_enabled" if enabled else "node_disabled", {"node_id": node_id},
                 to_unix(request.app[state.CLOCK].now()))
    return NodeStateOut(row.id, row.enabled)


@routes.api("POST", "/api/v1/nodes/{node_id}/disable", roles=ADMINS, response=NodeStateOut,
            summary="Disable a door node (its requests are refused from now on)")
async def node_disable(request: web.Request) -> web.Response:
    """For a lost, stolen or retired node. Its signed requests get 403 ``node_disabled``."""
    return web.json_response(asdict(await switch_node(request, request.match_info["node_id"], False)))


@routes.api("POST", "/api/v1/nodes/{node_id}/enable", roles=ADMINS, response=NodeStateOut,
            summary="Enable a door node again")
async def node_enable(request: web.Request) -> web.Response:
    """Undo a disable (the node keeps its key)."""
    return web.json_response(asdict(await switch_node(request, request.match_info["node_id"], True)))


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
