"""Door nodes (docs/architecture.md §8; docs/sync-protocol.md): the signed sync protocol for
nodes, and for admins the fleet, each node's sync log and the scan log, as JSON and as pages
(zh-CN first, mobile-first tables) from the same data functions (:func:`fleet`,
:func:`sync_log_doc`, :func:`query_scans`).

Node routes are public in the session sense: they authenticate by request signature
(:func:`authenticate_node`, :mod:`shared.node_auth`) instead of a cookie.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from server.storage.nodes import NodeRow, Nodes
from server.storage.people import People
from server.storage.scans import ScanLog, ScanView, SyncLogRow
from server.sync import SYNC_MAX_BODY_BYTES, SyncService, read_request
from server.web import auth, i18n, state
from server.web.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    HttpError,
    InvalidField,
    NotFound,
    TooLarge,
    status_of,
)
from server.web.local_input import BadLocalTime, parse_local_instant
from server.web.registry import ADMINS, PUBLIC, STAFF_ROLES, Routes, decode_json, wire_shape
from server.web.rendering import render
from shared.campus_time import local
from shared.clock import from_unix, to_unix
from shared.errors import CampusPassError, WireFormatError
from shared.keys import public_key_from_bytes
from shared.node_auth import NodeAuthError, body_sha256, parse_headers, verify_request
from shared.sync_answer import sign_answer
from shared.sync_contract import AnswerBinding, SyncAnswer, SyncRequest

routes = Routes(tag="nodes")

_STATUS = {"node_disabled": 403}


def service(request: web.Request) -> SyncService:
    """The sync service of this app."""
    app = request.app
    return SyncService(app[state.SERVICES].db, app[state.DATADIR], app[state.CONFIG].sync)


def _now_ms(request: web.Request) -> int:
    return int(request.app[state.CLOCK].now().timestamp() * 1000)


async def _read_body(request: web.Request, limit_bytes: int = SYNC_MAX_BODY_BYTES) -> bytes:
    """The request body, decoded (gzip), at most ``limit_bytes``; read in chunks so that a body
    that inflates past the limit is refused as soon as it does (413 ``body_too_large``)."""
    if request.content_length is not None and request.content_length > limit_bytes:
        raise TooLarge(f"body of {request.content_length} bytes is too large; at most {limit_bytes}",
                       code="body_too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit_bytes:
                raise TooLarge(f"the decoded body is larger than {limit_bytes} bytes", code="body_too_large")
            chunks.append(chunk)
    except web.HTTPException:
        raise
    except TooLarge:
        raise
    except Exception as exc:  # aiohttp's payload errors: bad gzip, truncated body
        raise BadRequest(f"the body cannot be read: {exc}", code="bad_encoding") from None
    return b"".join(chunks)


async def authenticate_node(request: web.Request) -> tuple[NodeRow, bytes, str]:
    """Check the request signature (``shared.node_auth``) and return the node, raw body and nonce.

    Raises:
        ApiError: 401 ``node_auth_missing`` / ``unknown_node`` / ``bad_node_signature`` /
            ``stale_timestamp`` (with ``server_time_ms``) / ``replayed_nonce`` / ``node_mismatch``,
            403 ``node_disabled``.
    """
    now_ms = _now_ms(request)
    now_s = now_ms // 1000
    window_s = request.app[state.CONFIG].sync.timestamp_window_s
    nodes = Nodes(request.app[state.SERVICES].db)
    node: NodeRow | None = None
    try:
        signed = parse_headers(request.headers)
        node = await nodes.get(signed.node_id)
        if node is None:
            raise NodeAuthError(f"node {signed.node_id!r} is not enrolled", code="unknown_node")
        body = await _read_body(request)

        verify_request(signed, public_key_from_bytes(node.public_key), request.method, request.raw_path, body,
                       now_s, window_s)
        if not await nodes.use_nonce(node.id, signed.nonce, now_s, window_s):
            raise NodeAuthError(f"nonce {signed.nonce} was already used: a replayed request",
                                code="replayed_nonce")
        if not node.enabled:
            raise NodeAuthError(f"node {node.id} is disabled", code="node_disabled")
        path_id = request.match_info.get("node_id")
        if path_id is not None and path_id != node.id:
            raise NodeAuthError(f"the path names node {path_id!r} but the request is signed by {node.id!r}",
                                code="node_mismatch")
    except NodeAuthError as exc:
        if node is not None:
            await service(request).log_refusal(node.id, exc.code, now_s)
        raise HttpError(exc.message, code=exc.code, status=_STATUS.get(exc.code, 401),
                       detail={"server_time_ms": now_ms}) from None
    return node, body, signed.nonce


@routes.api("POST", "/api/v1/nodes/{node_id}/sync", roles=PUBLIC, body=SyncRequest, response=SyncAnswer,
            raw_body=True, max_body_bytes=SYNC_MAX_BODY_BYTES, summary="Node sync: upload a batch of scans with a heartbeat, download newer documents")
async def node_sync(request: web.Request) -> web.Response:
    """Signed by the node (headers in docs/sync-protocol.md); gzip bodies accepted. Scans are stored
    idempotently by scan_id; ``ack_seq`` is the highest sequence held contiguously. The whole answer
    is signed by the current issuer key and bound to the request (``key_id``, ``request``,
    ``signature``: docs/sync-protocol.md)."""
    metrics = request.app[state.METRICS]
    try:
        node, answer, signed = await _sync(request)
    except CampusPassError as exc:
        metrics.sync_requests.labels(exc.code).inc()
        raise
    metrics.sync_requests.labels("ok").inc()
    metrics.scans_ingested.labels(node.id).inc(answer.inserted)
    metrics.scans_duplicate.labels(node.id).inc(answer.duplicates)
    return web.json_response(signed)


async def _sync(request: web.Request) -> tuple[NodeRow, SyncAnswer, dict[str, Any]]:
    node, raw, nonce = await authenticate_node(request)
    svc = service(request)
    try:
        body = read_request(decode_json(raw), node.id, svc.config.max_batch)
    except WireFormatError as exc:
        raise InvalidField(exc.message, code=exc.code) from None
    now_ms = _now_ms(request)
    ack, inserted, gaps = await svc.upload(node, body.records, body.heartbeat, now_ms)
    docs = await svc.documents(body.heartbeat, now_ms // 1000) if body.documents else {}
    received = len(body.records)
    answer = SyncAnswer(ack, received, inserted, received - inserted, tuple(gaps), now_ms,
                        trust_bundle=docs.get("trust_bundle"), revocations=docs.get("revocations"),
                        policy=docs.get("policy"))
    signer = request.app[state.DATADIR].current_signer(from_unix(now_ms // 1000))
    signed = sign_answer(answer, AnswerBinding(node.id, nonce, body_sha256(raw)), key_id=signer.key_id, key=signer.key)
    return node, answer, signed.to_json()


# ---- admins --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetNode:
    """One node as the fleet shows it (times Unix seconds)."""

    id: str
    name: str
    building: str
    direction: str
    enabled: bool
    status: str
    last_seen_at_s: int | None
    queue_depth: int | None
    oldest_unsynced_at_s: int | None
    clock_skew_s: float | None
    software_version: str
    trust_version: int | None
    revocation_version: int | None
    policy_version: int | None
    acked_seq: int
    anomalies: int
    silent: bool
    camera: str


@dataclass(frozen=True)
class FleetOut:
    """``GET /api/v1/nodes``."""

    nodes: list[FleetNode]
    server_time_s: int


async def fleet(request: web.Request) -> list[FleetNode]:
    """Every node with its status: ``online`` (seen within ``online_within_s``), ``late``,
    ``offline`` (not seen for ``silent_after_s``, or never): offline counts as a ``silent`` anomaly."""
    cfg = request.app[state.CONFIG].sync
    now_s = to_unix(request.app[state.CLOCK].now())
    counts = await ScanLog(request.app[state.SERVICES].db).anomaly_counts()
    out = []
    for n in await Nodes(request.app[state.SERVICES].db).all():
        age = None if n.last_seen_at_s is None else now_s - n.last_seen_at_s
        status = ("offline" if age is None or age > cfg.silent_after_s
                  else "online" if age <= cfg.online_within_s else "late")
        silent = status == "offline" and n.enabled
        out.append(FleetNode(
            n.id, n.name, n.building, n.direction, n.enabled, status, n.last_seen_at_s, n.queue_depth,
            n.oldest_unsynced_at_s, n.clock_skew_s, n.software_version, n.trust_version, n.revocation_version,
            n.policy_version, n.acked_seq, counts.get(n.id, 0) + int(silent), silent,
            str(n.heartbeat.get("camera", "")),
        ))
    return out


@routes.api("GET", "/api/v1/nodes", roles=ADMINS, response=FleetOut, summary="The door node fleet")
async def nodes_list(request: web.Request) -> web.Response:
    """Every node: building, direction, last seen, online/late/offline, queue depth, clock skew,
    versions, anomaly count."""
    doc = FleetOut(await fleet(request), to_unix(request.app[state.CLOCK].now()))
    return web.json_response(asdict(doc))


SyncLogEntry = wire_shape(SyncLogRow, "SyncLogEntry", module=__name__, drop=("heartbeat",), doc=(
    "One sync of a node (id: the paging key, ``?before=<id>`` answers the syncs older than this one)."))


@dataclass(frozen=True)
class AnomalyOut:
    """A recorded anomaly."""

    kind: str
    at_s: int
    seq_from: int | None
    seq_to: int | None
    detail: str


@dataclass(frozen=True)
class SyncLogOut:
    """``GET /api/v1/nodes/{node_id}/sync-log``."""

    node: FleetNode
    syncs: list[SyncLogEntry]  # type: ignore[valid-type]
    anomalies: list[AnomalyOut]
    next_before: int | None  # ``?before=`` of the next (older) page; None on the last page


SYNC_LOG_QUERY = {
    "before": "only syncs older than this sync id (the previous page's next_before)",
    "only": "scans (syncs that carried records), problems (gaps or errors), or empty for all",
    "limit": "syncs per page (default 50, at most 500)",
}
SYNC_LOG_ONLY = ("scans", "problems")


def _int_param(query: Any, name: str, default: int | None, low: int, high: int) -> int | None:
    value = query.get(name) or ""
    if value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidField(f"{name} = {value[:20]!r}; expected a whole number")
    return min(high, max(low, int(value)))


async def sync_log_doc(request: web.Request, node_id: str) -> SyncLogOut:
    """The node's fleet entry, one page of its syncs (newest first; ``before``, ``only``,
    ``limit`` of :data:`SYNC_LOG_QUERY`) and its anomalies.

    Raises:
        NotFound: no such node. InvalidField: a bad query parameter.
    """
    node = next((n for n in await fleet(request) if n.id == node_id), None)
    if node is None:
        raise NotFound(f"no node {node_id!r}")
    q = request.query
    only = q.get("only") or None
    if only is not None and only not in SYNC_LOG_ONLY:
        raise InvalidField(f"only = {only[:20]!r}; expected one of {list(SYNC_LOG_ONLY)}")
    limit = _int_param(q, "limit", 50, 1, 500) or 50
    before = _int_param(q, "before", None, 0, 2**62)
    log = ScanLog(request.app[state.SERVICES].db)
    rows = await log.sync_log(node_id, limit + 1, before_id=before, only=only)
    syncs = [SyncLogEntry(**{k: v for k, v in asdict(s).items() if k != "heartbeat"}) for s in rows[:limit]]
    anomalies = [AnomalyOut(a.kind, a.at_s, a.seq_from, a.seq_to, a.detail) for a in await log.anomalies(node_id)]
    return SyncLogOut(node, syncs, anomalies, syncs[-1].id if len(rows) > limit else None)


@routes.api("GET", "/api/v1/nodes/{node_id}/sync-log", roles=ADMINS, response=SyncLogOut, query=SYNC_LOG_QUERY,
            summary="A node's sync log (paged) and anomalies")
async def node_sync_log(request: web.Request) -> web.Response:
    """Each sync (newest first): time, records received, duplicates, acknowledged-to, gaps, errors,
    clock skew; and the node's anomalies."""
    return web.json_response(asdict(await sync_log_doc(request, request.match_info["node_id"])))


# ---- scan log --------------------------------------------------------------------------------

SCAN_QUERY = {
    "building": "building code",
    "from": "start, ISO 8601 with offset or Unix seconds",
    "to": "end, ISO 8601 with offset or Unix seconds",
    "verdict": "accept or deny",
    "person": "student/staff number (school admins and counsellors only)",
    "limit": "most rows (default 1000, at most 10000)",
    "node": "node id",
    "received": "Unix seconds the server received the scans (one sync of the node's sync log)",
    "flag": "revoked (admitted while revoked) or repeated (repeated entries)",
    "format": "json (default) or csv",
}


def _instant_ms(name: str, value: str | None) -> int | None:
    from datetime import datetime

    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit():
        if len(value) > 11:
            raise InvalidField(f"{name} = {value[:20]!r}; expected Unix seconds (at most 11 digits)")
        return int(value) * 1000
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(f"{name} = {value[:40]!r}; expected ISO 8601 with an offset or Unix seconds") from None
    if parsed.tzinfo is None:
        raise InvalidField(f"{name} = {value[:40]!r} has no UTC offset; add one (e.g. +08:00)")
    try:
        return int(parsed.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise InvalidField(f"{name} = {value[:40]!r} is out of range") from None


async def query_scans(request: web.Request, query: Any = None) -> list[ScanView]:
    """Scans visible to the current user for the query parameters of :data:`SCAN_QUERY`.

    Who sees the person: school admins (everyone), counsellors (only people of their
    departments, and only those scans); system admins see scans without persons.

    Raises:
        InvalidField: a bad parameter; Forbidden: a person search by a system admin.

    ``query`` replaces the request's query parameters (the scan log page passes its own after
    reading local times typed by a person).
    """
    user = await auth.require_user(request)
    q = request.query if query is None else query
    verdict = q.get("verdict") or None
    if verdict not in (None, "accept", "deny"):
        raise InvalidField(f"verdict = {verdict!r}; expected accept or deny")
    flag = q.get("flag") or None
    if flag not in (None, "revoked", "repeated"):
        raise InvalidField(f"flag = {flag[:40]!r}; expected revoked or repeated")
    try:
        limit = min(10000, max(1, int(q.get("limit", "1000")[:12])))
    except ValueError:
        raise InvalidField(f"limit = {q.get('limit')!r}; expected a number") from None
    departments: list[str] | None = None
    with_person = True
    if user.role == "counsellor":
        departments = list(user.person.departments)
    elif user.role == "system_admin":
        with_person = False
    subject = None
    number = (q.get("person") or "").strip()
    if number:
        if not with_person:
            raise Forbidden("system admins cannot search scans by person")
        person = await People(request.app[state.SERVICES].db).by_number(number)
        if person is None:
            return []
        subject = person.subject
    return await ScanLog(request.app[state.SERVICES].db).search(
        building=q.get("building") or None, from_ms=_instant_ms("from", q.get("from")),
        to_ms=_instant_ms("to", q.get("to")), verdict=verdict, subject=subject, departments=departments,
        with_person=with_person, limit=limit, node_id=q.get("node") or None,
        received_at_s=_int_param(q, "received", None, 0, 2**40), flag=flag)


@dataclass(frozen=True)
class ScansOut:
    """``GET /api/v1/scans``."""

    scans: list[ScanView]  # person fields null unless the role may see them


CSV_COLUMNS = [f for f in ScanView.__dataclass_fields__]


@routes.api("GET", "/api/v1/scans", roles=STAFF_ROLES, response=ScansOut, query=SCAN_QUERY,
            summary="Search the scan log (JSON, or CSV with format=csv)")
async def scans_search(request: web.Request) -> web.StreamResponse:
    """Newest first by ``at_ms``, the scan's time on the server's clock (the node's time,
    ``node_at_ms``, corrected for the clock skew measured at its upload). ``admitted_revoked``
    marks an accept of a pass revoked before that time, ``repeat_of`` an entry repeating an
    earlier entry of the same person within ``[sync] repeat_window_s``. The person is shown to
    school admins, and to counsellors for their own departments (whose scans alone they see);
    system admins see no persons."""
    rows = await query_scans(request)
    fmt = request.query.get("format", "json")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([_csv_value(getattr(r, c)) for c in CSV_COLUMNS])
        return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="scans.csv"'})
    if fmt != "json":
        raise InvalidField(f"format = {fmt!r}; expected json or csv")
    return web.json_response({"scans": [asdict(r) for r in rows]})


def _csv_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula injection into spreadsheets
    return "" if value is None else value


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
