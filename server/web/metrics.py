"""``/metrics`` (Prometheus, not public), ``/healthz`` and ``/readyz`` (load balancer probes).

``/metrics`` answers a client whose address is in ``[metrics] allow`` or who sends
``Authorization: Bearer <[metrics] token>``; anyone else gets 403 with a one-line reason. ``/healthz`` says the process answers; ``/readyz`` that it can also read its
database (503 otherwise), so a load balancer sends no traffic to a server that would fail it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sqlite3

from aiohttp import web

from server.metrics import CONTENT_TYPE
from server.storage import Database
from server.storage.gauges import GaugeQueries
from server.web import auth, state
from server.web.registry import PUBLIC, Routes
from shared.campus_time import checkin_day
from shared.clock import to_unix
from shared.errors import CampusPassError

log = logging.getLogger(__name__)

routes = Routes(tag="meta")


def scrape_allowed(request: web.Request) -> bool:
    """Whether this request may read ``/metrics`` (address allow-list or bearer token)."""
    config = request.app[state.CONFIG].metrics
    given = request.headers.get("Authorization", "")
    if config.token and given.startswith("Bearer ") and hmac.compare_digest(
            given[len("Bearer "):].strip().encode(), config.token.encode()):
        return True
    try:
        address = ipaddress.ip_address(auth.client_address(request).split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in config.allow)


@routes.page("GET", "/metrics", roles=PUBLIC, summary="Prometheus metrics (allow-listed addresses or bearer token)")
async def metrics(request: web.Request) -> web.StreamResponse:
    if not scrape_allowed(request):
        return web.Response(status=403, content_type="text/plain",
                            text="metrics: this address is not in [metrics] allow and no valid bearer token "
                                 "was sent\n")
    app = request.app
    now = app[state.CLOCK].now()
    now_s = to_unix(now)
    window_s = app[state.CONFIG].metrics.recent_scans_window_s
    gauges = await GaugeQueries(app[state.SERVICES].db).read(checkin_day(now).isoformat(), (now_s - window_s) * 1000)
    m = app[state.METRICS]
    m.refresh(gauges, now_s)
    return web.Response(body=m.exposition(), headers={"Content-Type": CONTENT_TYPE})


@routes.page("GET", "/healthz", roles=PUBLIC, summary="Liveness: the process answers")
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", content_type="text/plain")


async def readiness(db: Database) -> tuple[int, str]:
    """``(HTTP status, text)`` of the readiness probe: 200 when ``db`` can be read, else 503."""
    try:
        await GaugeQueries(db).ping()
    except (CampusPassError, sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's closed connection
        log.warning("not ready: %s", exc)
        return 503, "database unavailable\n"
    return 200, "ready\n"


@routes.page("GET", "/readyz", roles=PUBLIC, summary="Readiness: the database can be read")
async def readyz(request: web.Request) -> web.StreamResponse:
    status, text = await readiness(request.app[state.SERVICES].db)
    return web.Response(text=text, content_type="text/plain", status=status)
