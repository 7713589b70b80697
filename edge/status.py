"""The node's status endpoint: ``GET /healthz``, ``GET /status`` and ``GET /metrics`` (aiohttp).

``/healthz`` answers ``{"ok": true}`` (200) while the camera delivers, the log is written and
every background task runs, else ``{"ok": false, ...}`` with 503 and what is wrong. ``/status`` is
:meth:`Node.status` plus the number of unsynced records. ``/metrics`` is the node's Prometheus
metrics (:mod:`edge.metrics`). Errors use the one envelope ``{"error": {"code", "message"}}``.
The endpoint binds ``status.host`` (127.0.0.1 by default; the node's management address when
Prometheus scrapes it): it shows no pass data, names or keys, and changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

from aiohttp import web

from edge.metrics import CONTENT_TYPE
from edge.node import Node
from shared.errors import CampusPassError

NODE_KEY = web.AppKey("node", Node)


@web.middleware
async def error_envelope(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Turn HTTP errors into ``{"error": {"code", "message"}}``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        code = "not_found" if exc.status == 404 else "method_not_allowed" if exc.status == 405 else "http_error"
        return web.json_response({"error": {"code": code, "message": exc.reason}}, status=exc.status)


async def healthz(request: web.Request) -> web.Response:
    """200 ``{"ok": true}`` when healthy, else 503 with the reason."""
    node = request.app[NODE_KEY]
    camera = node.supervisor.health.state
    storage = node.store.health.state
    crashed = sorted(name for name, h in node.tasks.health.items() if h.state == "restarting")
    ok = camera in ("ok", "starting", "ended") and storage == "ok" and not crashed
    body: dict[str, object] = {"ok": ok, "camera": camera, "storage": storage, "tasks_down": crashed,
                               "status": node.outputs.status.value}
    return web.json_response(body, status=200 if ok else 503)


async def status(request: web.Request) -> web.Response:
    """The full status JSON (see :meth:`Node.status`)."""
    node = request.app[NODE_KEY]
    try:
        unsynced: int | None = (await node.store.stats()).unsynced
    except (CampusPassError, sqlite3.Error, OSError):  # a failing disk: report the rest
        unsynced = None
    return web.json_response(node.status(unsynced=unsynced))


async def metrics(request: web.Request) -> web.Response:
    """The node's Prometheus metrics in the text format."""
    node = request.app[NODE_KEY]
    try:
        unsynced: int | None = (await node.store.stats()).unsynced
    except (CampusPassError, sqlite3.Error, OSError):  # a failing disk: report the rest
        unsynced = None
    body = node.refresh_metrics(unsynced).exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def make_status_app(node: Node) -> web.Application:
    """The status application for ``node``."""
    app = web.Application(middlewares=[error_envelope])
    app[NODE_KEY] = node
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    return app


async def start_status_server(node: Node, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Serve the status app on ``host``:``port``; the caller cleans up the returned runner."""
    runner = web.AppRunner(make_status_app(node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
