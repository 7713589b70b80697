"""The door node's Prometheus metrics (prometheus_client), served at ``/metrics`` on the status endpoint.

Counters and the decode-time histogram are updated as frames are decoded and decisions
committed; the state gauges (queue depth, unsynced scans, trust age, camera, storage, clock) are
set from the node at each scrape by :meth:`NodeMetrics.refresh`. Names and the alert rules that
use them: docs/monitoring.md. Label values are bounded: verdict (accept/deny) and reason (the
closed set of shared.decision reason codes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from edge.storage_health import StorageHealth

DECODE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
"""Decode time buckets (seconds): a 1280x720 frame decodes in a few ms on a laptop, tens on a Pi."""

CAMERA_STATES = ("starting", "ok", "down", "ended")
STORAGE_STATES = ("ok", "fault")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeMetrics:
    """Every node metric in its own registry.

    Args:
        registry: where to register (default: a fresh one per node).
        perf_counter: the duration source for decode times (seconds; default
            :func:`time.perf_counter`: decode time is work done, not wall time).
    """

    def __init__(self, registry: CollectorRegistry | None = None,
                 perf_counter: Callable[[], float] = time.perf_counter) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.perf_counter = perf_counter
        self.decisions = Counter("campuspass_node_decisions", "Door decisions logged, by verdict and reason",
                                 ["verdict", "reason"], registry=r)
        self.decode_seconds = Histogram("campuspass_node_decode_seconds", "Time to decode one camera frame "
                                        "(seconds)", buckets=DECODE_BUCKETS_S, registry=r)
        self.storage_held = Gauge("campuspass_node_storage_held", "Decisions held in memory during a "
                                  "storage fault, waiting to be written back", registry=r)
        self.storage_dropped = Gauge("campuspass_node_storage_dropped", "Scans denied unrecorded because "
                                     "the memory queue was full (since the process started)", registry=r)
        self.storage_faults = Gauge("campuspass_node_storage_faults", "Storage faults that began since the "
                                    "process started", registry=r)
        self.queue_depth = Gauge("campuspass_node_write_queue_depth", "Decisions waiting to be written to "
                                 "the local log", registry=r)
        self.unsynced = Gauge("campuspass_node_unsynced_scans", "Logged scans not yet acknowledged by the "
                              "server (NaN while the database cannot be read)", registry=r)
        self.trust_age = Gauge("campuspass_node_trust_age_seconds", "Age of the newest trust data (bundle, "
                               "revocations, policy) the node holds (seconds)", registry=r)
        self.trust_stale_after = Gauge("campuspass_node_trust_stale_after_seconds", "The node's configured "
                                       "trust.stale_after_s", registry=r)
        self.trust_stale = Gauge("campuspass_node_trust_stale", "1 while the node's trust data is older than "
                                 "its bound", registry=r)
        self.camera_state = Gauge("campuspass_node_camera_state", "1 for the camera's current state",
                                  ["state"], registry=r)
        self.storage_state = Gauge("campuspass_node_storage_state", "1 for the local log's disk state (ok, "
                                   "fault)", ["state"], registry=r)
        self.clock_trusted = Gauge("campuspass_node_clock_trusted", "1 while the system clock is at or above "
                                   "the trusted-time floor", registry=r)
        self.online = Gauge("campuspass_node_online", "1 while the last sync reached the server", registry=r)

    def observe_decision(self, verdict: str, reason: str) -> None:
        """Count one logged decision."""
        self.decisions.labels(verdict, reason).inc()

    def refresh(self, *, queue_depth: int, unsynced: int | None, trust_age_s: float, stale_after_s: float,
                trust_stale: bool, camera: str, storage: StorageHealth, clock_trusted: bool, online: bool) -> None:
        """Set the state gauges (called at each scrape)."""
        self.queue_depth.set(queue_depth)
        self.unsynced.set(float("nan") if unsynced is None else unsynced)
        self.trust_age.set(trust_age_s)
        self.trust_stale_after.set(stale_after_s)
        self.trust_stale.set(1 if trust_stale else 0)
        for state in CAMERA_STATES:
            self.camera_state.labels(state).set(1 if camera == state else 0)
        for state in STORAGE_STATES:
            self.storage_state.labels(state).set(1 if storage.state == state else 0)
        self.storage_held.set(storage.queued)
        self.storage_dropped.set(storage.dropped)
        self.storage_faults.set(storage.faults)
        self.clock_trusted.set(1 if clock_trusted else 0)
        self.online.set(1 if online else 0)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
