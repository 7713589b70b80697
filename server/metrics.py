"""The server's Prometheus metrics (prometheus_client), one registry per application.

Counters and histograms are updated where things happen (the request middleware, the sync
endpoint, the SMS sender); the figures that live in the database (check-ins today, applications
and passes by state, the outbox, every node's last heartbeat) are read once per scrape by
:meth:`ServerMetrics.refresh`. Metric names, labels and the alert rules built on them are listed
in docs/monitoring.md.

Label values are bounded: routes are the registered path patterns (``/api/v1/nodes/{node_id}/sync``,
never a raw path), statuses are HTTP codes, nodes are enrolled node ids.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from server.storage.gauges import Gauges

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request latency buckets (seconds): the check-in rush target is p99 < 200 ms."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

APPLICATION_STATES = ("draft", "submitted", "dept_approved", "approved", "arrived", "dept_rejected",
                      "school_rejected", "withdrawn", "expired", "revoked")
PASS_STATUSES = ("none", "black", "green", "hold")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "unknown")


class ServerMetrics:
    """Every server metric, registered in its own :class:`CollectorRegistry`.

    Args:
        registry: where to register (default: a fresh one, so two apps in one process, as in
            tests, never collide).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.requests = Counter("campuspass_http_requests", "HTTP requests answered, by method, route "
                                "pattern and status", ["method", "route", "status"], registry=r)
        self.latency = Histogram("campuspass_http_request_duration_seconds", "Time to answer an HTTP "
                                 "request (seconds), by method, route pattern and status",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.sync_requests = Counter("campuspass_sync_requests", "Door node sync requests, by result "
                                     "(ok or the refusal's error code)", ["result"], registry=r)
        self.scans_ingested = Counter("campuspass_scans_ingested", "Scan records stored from node "
                                      "uploads (duplicates of a retried batch not counted), by node",
                                      ["node"], registry=r)
        self.scans_duplicate = Counter("campuspass_scans_duplicate", "Scan records received again "
                                       "(a retried batch), by node", ["node"], registry=r)
        self.sms_sent = Counter("campuspass_sms_sent", "SMS delivered to the gateway, by provider",
                                ["provider"], registry=r)
        self.sms_failures = Counter("campuspass_sms_failures", "SMS send attempts that failed, by provider "
                                    "and outcome (retry, give_up, misconfigured)", ["provider", "outcome"],
                                    registry=r)
        self.checkins_today = Gauge("campuspass_checkins_today", "Check-ins of the current check-in day "
                                    "(Asia/Shanghai), normal or abnormal", ["kind"], registry=r)
        self.applications = Gauge("campuspass_applications", "Return applications by state", ["state"],
                                  registry=r)
        self.passes = Gauge("campuspass_passes", "People by pass status", ["status"], registry=r)
        self.outbox = Gauge("campuspass_sms_outbox", "SMS outbox messages by status", ["status"], registry=r)
        self.outbox_oldest_age = Gauge("campuspass_sms_outbox_oldest_pending_age_seconds", "Age of the oldest "
                                       "message waiting to be sent (0 when none)", registry=r)
        self.node_last_seen_age = Gauge("campuspass_node_last_seen_age_seconds", "Seconds since each enabled "
                                        "node's last authenticated request (-1: never seen)",
                                        ["node", "building"], registry=r)
        self.node_clock_offset = Gauge("campuspass_node_clock_offset_seconds", "Server minus node clock at "
                                       "the node's last sync (seconds)", ["node"], registry=r)
        self.node_queue_depth = Gauge("campuspass_node_queue_depth", "Scans the node holds not yet "
                                      "acknowledged, from its last heartbeat", ["node"], registry=r)
        self.node_oldest_unsynced_age = Gauge("campuspass_node_oldest_unsynced_age_seconds", "Age of the "
                                              "oldest scan a node holds unsynced (0 when none)", ["node"],
                                              registry=r)
        self.scans_recent = Gauge("campuspass_scans_recent", "Scans decided within the last "
                                  "[metrics] recent_scans_window_s, by verdict and reason (node time)",
                                  ["verdict", "reason"], registry=r)
        self.nodes_enabled = Gauge("campuspass_nodes_enabled", "Enrolled nodes that are enabled", registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (seconds)."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_sms(self, provider: str, outcome: str) -> None:
        """Count one gateway call: ``outcome`` is ``sent``, ``retry``, ``give_up`` or ``misconfigured``."""
        if outcome == "sent":
            self.sms_sent.labels(provider).inc()
        else:
            self.sms_failures.labels(provider, outcome).inc()

    def refresh(self, g: Gauges, now_s: int) -> None:
        """Set the database-backed gauges from one read (``now_s``: Unix seconds)."""
        for kind in ("normal", "abnormal"):
            self.checkins_today.labels(kind).set(g.checkins_today.get(kind, 0))
        for state in sorted(set(APPLICATION_STATES) | set(g.applications)):
            self.applications.labels(state).set(g.applications.get(state, 0))
        for status in sorted(set(PASS_STATUSES) | set(g.passes)):
            self.passes.labels(status).set(g.passes.get(status, 0))
        for status in sorted(set(OUTBOX_STATUSES) | set(g.outbox)):
            self.outbox.labels(status).set(g.outbox.get(status, 0))
        oldest = g.outbox_oldest_pending_at_s
        self.outbox_oldest_age.set(max(0, now_s - oldest) if oldest is not None else 0)
        for gauge in (self.node_last_seen_age, self.node_clock_offset, self.node_queue_depth,
                      self.node_oldest_unsynced_age):
            gauge.clear()  # a disabled or removed node leaves the series
        self.scans_recent.clear()
        for (verdict, reason), count in sorted(g.recent_scans.items()):
            self.scans_recent.labels(verdict, reason).set(count)
        enabled = [n for n in g.nodes if n.enabled]
        self.nodes_enabled.set(len(enabled))
        for n in enabled:
            seen = n.last_seen_at_s
            self.node_last_seen_age.labels(n.id, n.building).set(max(0, now_s - seen) if seen is not None else -1)
            if n.clock_skew_s is not None:
                self.node_clock_offset.labels(n.id).set(n.clock_skew_s)
            if n.queue_depth is not None:
                self.node_queue_depth.labels(n.id).set(n.queue_depth)
            unsynced = n.oldest_unsynced_at_s
            self.node_oldest_unsynced_age.labels(n.id).set(max(0, now_s - unsynced) if unsynced else 0)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def route_label(request: web.Request) -> str:
    """The route pattern that matched (``/api/v1/nodes/{node_id}/sync``), or ``unmatched``."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return "unmatched"
    return resource.canonical


def make_metrics_middleware(metrics: ServerMetrics, *,
                            perf_counter: Callable[[], float] = time.perf_counter) -> Any:
    """The outermost middleware: counts every answer (errors and redirects included) and its latency."""

    @web.middleware
    async def metrics_middleware(request: web.Request,
                                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                 ) -> web.StreamResponse:
        started = perf_counter()
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe_request(request.method, route_label(request), status, perf_counter() - started)

    return metrics_middleware
