"""The door node runner: camera → decoder → decision → log → lights and relay (docs/architecture.md §7).

:class:`Node` is built from a :class:`NodeConfig` with every I/O part injectable (camera,
decoder, pin factory, clock, store, sync), so tests and the end-to-end test drive it as a
library. Pipeline inside :meth:`Node.run`::

    camera thread: read + decode ──texts──▶ event loop: judge (dedup, decide) ──queue──▶
        log writer (aiosqlite thread, commit) ──▶ lights / relay

Capture and decode run in the camera thread, never on the event loop; the log writer runs
behind its own queue, so a slow disk write delays only the light of that decision, never a
frame. A decision is shown only after its record is committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge.bundle import read_bundle, read_root_public
from edge.camera import Camera, CameraHung, CameraSupervisor, make_camera
from edge.config import NodeConfig
from edge.memory import MemoryTrimmer
from edge.metrics import NodeMetrics
from edge.outputs import DoorOutputs, Indication, NodeStatus, indication_for
from edge.pins import make_pin_factory
from edge.recovery import damage_flag, open_checked, read_epoch, write_epoch
from edge.store import NodeStore, StoreError
from edge.tasks import TaskBody, TaskSupervisor
from edge.timekeeping import TrustedInstant, TrustedTime, read_boot_id
from qrdecode.decoders import Decoder, make_decoder
from shared.clock import Clock, SystemClock
from shared.decision import Verdict, decide
from shared.dedup import RepeatFilter
from shared.errors import CampusPassError, PassFormatError
from shared.pass_format import decode_pass
from shared.policy import BuildingPolicy
from shared.scanlog import ScanRecord, uuid7

log = logging.getLogger(__name__)

TICK_S = 0.02

#: Exit status of ``edge run`` when the scheduled integrity check found the database damaged
#: (systemd starts the node again; the start moves the file aside).
EXIT_DATABASE_DAMAGED = 3

#: Exit status of ``edge run`` when more camera driver calls are stuck than the watchdog allows
#: (:class:`edge.camera.CameraHung`): only a new process frees them; systemd starts one.
EXIT_CAMERA_HUNG = 4


class SyncComponent(Protocol):
    """The sync seam: started by :meth:`Node.run` next to the scan loop, cancelled at stop.

    A sync component talks to the server and calls :class:`NodeStore` methods and
    :meth:`Node.set_online`; it must never block a door decision.
    """

    async def run(self) -> None: ...


SyncFactory = Callable[["Node"], SyncComponent]


@dataclass(frozen=True, slots=True)
class Judgement:
    """A decision made, not yet logged: the verdict and what the record will hold."""

    verdict: Verdict
    text_sha256: str
    when: TrustedInstant
    captured_mono_s: float
    trust_stale: bool = False


@dataclass(frozen=True, slots=True)
class DoorDecision:
    """A logged and shown decision.

    Attributes:
        record: the committed scan record.
        verdict: the decision (fields only when the signature verified).
        indication: the light pattern shown.
        latency_s: from frame capture to the light (monotonic seconds).
    """

    record: ScanRecord
    verdict: Verdict
    indication: Indication
    latency_s: float


def _dedup_key(text: str) -> bytes | str:
    try:
        return decode_pass(text).fields.serial
    except PassFormatError:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Node:
    """One door node.

    Args:
        config: the node configuration.
        store: the opened, seeded node store.
        camera: frame source (default: from ``camera.source``).
        decoder: QR decoder (default: from ``decoder.name``).
        outputs: door outputs (default: built with ``pin_factory``).
        pin_factory: gpiozero pin factory (default: from ``gpio.pin_factory``).
        clock: wall and monotonic clock (default: the system clock).
        sync_factory: builds the sync component (None: no sync; a no-op when no server URL).
        metrics: the node's Prometheus metrics (default: a fresh :class:`NodeMetrics`).
        tasks: the supervisor of the background tasks (default: restart backoff 0.5..30 s).
        boot_id: this boot's id (default: the kernel's, :func:`read_boot_id`); tests pass their own.

    Raises:
        CampusPassError: code ``unknown_building`` when the policy lacks ``node.building``.
    """

    def __init__(
        self,
        config: NodeConfig,
        store: NodeStore,
        *,
        camera: Camera | None = None,
        decoder: Decoder | None = None,
        outputs: DoorOutputs | None = None,
        pin_factory: Any = None,
        clock: Clock | None = None,
        sync_factory: SyncFactory | None = None,
        metrics: NodeMetrics | None = None,
        tasks: TaskSupervisor | None = None,
        boot_id: str | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or NodeMetrics()
        self.store = store
        self.clock = clock or SystemClock()
        if outputs is None:
            factory = pin_factory if pin_factory is not None else make_pin_factory(config.gpio.pin_factory)
            outputs = DoorOutputs(config.gpio, factory, self.clock.monotonic())
        self.outputs = outputs  # built first: the relay is locked from the start
        self.outputs.lock()
        try:
            self.camera = camera or make_camera(
                config.camera.source, config.base_dir, config.camera.width_px, config.camera.height_px
            )
            self.decoder = decoder or make_decoder(config.decoder.name, config.decoder.retry_budget_s)
            if not store.seeded:
                raise CampusPassError("the node store is not seeded", code="not_seeded")
            self._policy_doc = store.policies
            self._policy = self._building_policy()
        except BaseException:
            self.outputs.close()
            raise
        self.time = TrustedTime(self.clock, store, read_boot_id() if boot_id is None else boot_id)
        self.repeats = RepeatFilter(config.scan.repeat_window_s)
        self.supervisor = CameraSupervisor(
            self.camera, stall_s=config.camera.stall_s, reopen_max_s=config.camera.reopen_max_s,
            monotonic=self.clock.monotonic,
        )
        self.supervisor.on_change = lambda _health: self.refresh_status()
        self.sync: SyncComponent | None = (
            sync_factory(self) if sync_factory is not None and config.node.server_url else None
        )
        self.tasks = tasks or TaskSupervisor(monotonic=self.clock.monotonic)
        self.tasks.on_change = self.refresh_status
        self.extra_tasks: dict[str, TaskBody] = {}
        self.memory = MemoryTrimmer()  # freed frame buffers back to the system (edge.memory)
        self.online = False
        self.last_decision: DoorDecision | None = None
        self.decisions = 0
        self.frames_decoded = 0
        self.latencies_s: deque[float] = deque(maxlen=10000)
        self._write_queue: asyncio.Queue[Judgement] | None = None
        self._decode_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="decode")
        self._stop = asyncio.Event()
        self._stopping = False
        self._camera_down_logged = False
        self._drop_logged = False
        self.exit_code = 0

    # ---- policy and trust ----------------------------------------------------------------

    def _building_policy(self) -> BuildingPolicy:
        assert self.store.policies is not None
        return self.store.policies.for_building(self.config.node.building)

    def _current_policy(self) -> BuildingPolicy:
        docs = self.store.policies
        if docs is not self._policy_doc:
            self._policy_doc = docs
            try:
                self._policy = self._building_policy()
            except CampusPassError as exc:
                log.error("new policy has no building %s; keeping the previous rules: %s",
                          self.config.node.building, exc.message)
        return self._policy

    def trust_age_s(self, now_s: float) -> float:
        """Seconds since the server signed the newest revocation data held."""
        return max(0.0, now_s - self.store.revocations_issued_at_s)

    def trust_stale(self, now_s: float) -> bool:
        """True when the revocation data is older than ``trust.stale_after_s``."""
        return self.trust_age_s(now_s) > self.config.trust.stale_after_s

    # ---- status indication (sync drives ``set_online``) ------------------------------------

    def set_online(self, online: bool) -> None:
        """Tell the node whether the server answered the last sync (logged once per change)."""
        if online != self.online:
            log.info("server link: %s", "online" if online else "offline")
            self.online = online
        self.refresh_status()

    def is_online(self) -> bool:
        """True when the last sync round was answered and, once :meth:`run` started it, the sync
        task is running (a node whose sync task crashed or ended never reports itself online)."""
        started = "sync" in self.tasks.health
        return self.online and self.sync is not None and (not started or self.tasks.running("sync"))

    def wanted_status(self) -> NodeStatus:
        """The status indication now: fault (camera down) > storage fault > trust stale >
        offline > online."""
        if self.supervisor.health.state == "down":
            return NodeStatus.FAULT
        if self.store.health.state != "ok":
            return NodeStatus.STORAGE_FAULT
        if self.trust_stale(self.time.now().at.timestamp()):
            return NodeStatus.TRUST_STALE
        return NodeStatus.ONLINE if self.is_online() else NodeStatus.OFFLINE

    def refresh_status(self) -> None:
        """Apply :meth:`wanted_status` to the outputs; lock the relay during a camera outage."""
        status = self.wanted_status()
        if status is NodeStatus.FAULT:
            self.outputs.lock()
        self.outputs.set_status(status, self.clock.monotonic())

    # ---- the decision path ------------------------------------------------------------------

    def judge(self, texts: list[str], captured_mono_s: float) -> list[Judgement]:
        """Decide every new code in a frame (repeats within the window are skipped).

        Never raises for any text: foreign codes are denials with their reason.
        """
        out = []
        for text in texts:
            if not self.repeats.is_new(_dedup_key(text), captured_mono_s):
                continue
            when = self.time.now()
            now_s = when.at.timestamp()
            stale = self.trust_stale(now_s)
            fresh = self.config.trust.fail_mode == "open" or not stale
            assert self.store.trust_bundle is not None
            verdict = decide(
                text, self.store.trust_bundle, self.store.revocations, self._current_policy(), when.at,
                revocations_fresh=fresh,
            )
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            out.append(Judgement(verdict, digest, when, captured_mono_s, stale))
        return out

    async def commit(self, j: Judgement) -> DoorDecision:
        """Log a judgement, then show it on the lights and relay.

        The record is committed to SQLite before the light shows it; during a storage fault it
        is sealed into the chain and held in memory instead (see :class:`NodeStore`).

        Raises:
            StoreError: ``log_queue_full``: the decision could not be recorded at all; a denial
                is shown and the relay stays locked (docs/edge-node.md, "Storage faults").
        """
        at_ms = int(j.when.at.timestamp() * 1000)
        try:
            record = await self._append(j, at_ms)
        except StoreError as exc:
            if exc.code == "log_queue_full" and not self._stopping:
                self.outputs.show(Indication.INVALID, self.clock.monotonic())
            raise
        self.metrics.observe_decision(record.verdict, record.reason)
        indication = indication_for(j.verdict.accepted, j.verdict.reason)
        if indication is Indication.ACCEPT and self.supervisor.health.state == "down":
            indication = Indication.INVALID  # never unlock while the node is in fault
        log.info(
            "scan seq=%d %s %s reason=%s clock_trusted=%s%s",
            record.seq, record.direction, record.verdict, record.reason, record.clock_trusted,
            " trust_stale" if record.trust_stale else "",
        )
        mono = self.clock.monotonic()
        if not self._stopping:  # decisions drained at shutdown are logged, never shown (no relay blip)
            self.outputs.show(indication, mono)
        latency = max(0.0, mono - j.captured_mono_s)
        self.latencies_s.append(latency)
        decision = DoorDecision(record, j.verdict, indication, latency)
        self.last_decision = decision
        self.decisions += 1
        if self.store.health.state != "ok":
            self.refresh_status()
        return decision

    async def _append(self, j: Judgement, at_ms: int) -> ScanRecord:
        f = j.verdict.fields
        return await self.store.append_scan(
            scan_id=str(uuid7(at_ms)),
            node_id=self.config.node.id,
            at_ms=at_ms,
            mono_ms=int(j.when.mono_s * 1000),
            clock_trusted=j.when.trusted,
            serial=f.serial.hex() if f is not None else None,
            subject=f.subject.hex() if f is not None else None,
            text_sha256=j.text_sha256,
            verdict="accept" if j.verdict.accepted else "deny",
            reason=j.verdict.reason.value,
            direction=self.config.node.direction,
            raise_floor=j.when.verified,
            trust_stale=j.trust_stale,
        )

    async def decode(self, frame: np.ndarray) -> list[str]:
        """Decode ``frame`` in the decode thread (never on the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode_executor, self._decode_counted, frame)

    async def process_frame(self, frame: np.ndarray, captured_mono_s: float | None = None
                            ) -> list[DoorDecision]:
        """Decode, decide, log and show one frame (the library entry point for tests)."""
        mono = self.clock.monotonic() if captured_mono_s is None else captured_mono_s
        texts = await self.decode(frame)
        return [await self.commit(j) for j in self.judge(texts, mono)]

    def tick(self) -> None:
        """Advance the light patterns to the clock's monotonic time."""
        self.outputs.tick(self.clock.monotonic())

    # ---- the running node ----------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler)."""
        self._stop.set()

    def queue_depth(self) -> int:
        """Decisions waiting to be written to the log."""
        return 0 if self._write_queue is None else self._write_queue.qsize()

    def _decode_counted(self, frame: np.ndarray) -> list[str]:
        started = self.metrics.perf_counter()
        texts = self.decoder.decode(frame)
        self.metrics.decode_seconds.observe(self.metrics.perf_counter() - started)
        self.frames_decoded += 1
        return texts

    async def _scan_loop(self, writes: asyncio.Queue[Judgement | None]) -> None:
        # Capture and decode share the camera thread (one hop per frame); judging happens here
        # on the loop (microseconds); logging waits in its own queue, never holding up a frame.
        try:
            async for texts, mono in self.supervisor.frames(self._decode_counted):
                for j in self.judge(texts, mono):  # type: ignore[arg-type]
                    writes.put_nowait(j)
        except CameraHung as exc:
            self.outputs.lock()
            log.critical("%s; exiting with status %d so that the service manager starts the node again",
                         exc.message, EXIT_CAMERA_HUNG)
            self.exit_code = EXIT_CAMERA_HUNG

    async def _writer(self, writes: asyncio.Queue[Judgement | None]) -> None:
        while (j := await writes.get()) is not None:
            try:
                await self.commit(j)
            except StoreError as exc:
                if exc.code != "log_queue_full":
                    raise
                if not self._drop_logged:  # counted in store.health.dropped; logged once per fault
                    log.error("%s; denying every scan until the disk takes writes again", exc.message)
                    self._drop_logged = True
            except Exception:
                # Not a disk fault (those are held by the store): deny, and let the supervisor
                # log it and start the writer again.
                self.outputs.show(Indication.INVALID, self.clock.monotonic())
                raise

    async def _storage_mender(self) -> None:
        """Every ``storage.retry_s`` during a storage fault: write the held decisions back."""
        while True:
            await asyncio.sleep(self.config.storage.retry_s)
            if self.store.health.state != "ok":
                if await self.store.write_back():
                    self._drop_logged = False
                self.refresh_status()

    async def _integrity_watch(self) -> None:
        """Every ``storage.integrity_check_s``: SQLite's full ``integrity_check``. Damage stops
        the node with :data:`EXIT_DATABASE_DAMAGED` and leaves the flag the next start acts on."""
        while True:
            await asyncio.sleep(self.config.storage.integrity_check_s)
            problems = await self.store.integrity_problems(full=True)
            if problems:
                log.error("node database damaged: %s; stopping so that the next start moves it aside",
                          "; ".join(problems[:3]))
                await asyncio.to_thread(damage_flag(self.config.db_path).write_text,
                                        "\n".join(problems) + "\n", "utf-8")
                self.exit_code = EXIT_DATABASE_DAMAGED
                self.stop()
                return

    async def _ticker(self) -> None:
        n = 0
        while True:
            if n % 25 == 0:  # about every 0.5 s: trust may have gone stale, sync may have answered
                self.refresh_status()
            n += 1
            self.outputs.tick(self.clock.monotonic())
            await asyncio.sleep(TICK_S)

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until :meth:`stop`, SIGTERM/SIGINT, or the end of a replay camera.

        The relay is locked on every way out (return, exception, cancellation), and the
        outputs are closed. The store stays open (its owner closes it).
        """
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        if handle_signals and threading.current_thread() is threading.main_thread() and sys.platform != "win32":
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(RuntimeError):
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
        writes: asyncio.Queue[Judgement | None] = asyncio.Queue()
        self._write_queue = writes  # type: ignore[assignment]
        self.refresh_status()
        log.info(
            "node %s at %s (%s) running: camera %s, decoder %s, trust age %.0f s, clock trusted %s",
            self.config.node.id, self.config.node.building, self.config.node.direction, self.camera.name,
            self.decoder.name, self.trust_age_s(self.time.now().at.timestamp()), self.time.clock_trusted(),
        )
        self.tasks.start("ticker", self._ticker)
        self.tasks.start("storage", self._storage_mender)
        self.tasks.start("integrity", self._integrity_watch)
        if self.memory.available:
            self.tasks.start("memory", self.memory.run)
        if self.sync is not None:
            self.tasks.start("sync", self.sync.run)
        for name, body in self.extra_tasks.items():
            self.tasks.start(name, body)
        writer = self.tasks.start("writer", lambda: self._writer(writes))
        scan = asyncio.create_task(self._scan_loop(writes), name="scan")
        stop = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            await asyncio.wait({scan, stop}, return_when=asyncio.FIRST_COMPLETED)
            if scan.done():
                scan.result()  # re-raise a crash of the scan loop
            else:
                scan.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scan
            self._stopping = True
            self.outputs.lock()
            await writes.put(None)
            await asyncio.wait({writer}, timeout=10.0)
            if self.store.health.state != "ok":
                await self.store.write_back()  # a last try for decisions held in memory
        finally:
            self.outputs.lock()
            for task in (scan, stop):
                task.cancel()
            await self.tasks.stop()
            for task in (scan, stop):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for signum in installed:
                loop.remove_signal_handler(signum)
            self.outputs.close()
            self._decode_executor.shutdown(wait=False, cancel_futures=True)
            if self.store.pending:
                log.error("node %s stopped with %d decisions not written: the disk still fails",
                          self.config.node.id, self.store.pending)
            log.info("node %s stopped; relay locked", self.config.node.id)

    def _on_signal(self, sig: int) -> None:
        log.info("signal %s: stopping", signal.Signals(sig).name)
        self.outputs.lock()
        self.stop()

    def refresh_metrics(self, unsynced: int | None) -> NodeMetrics:
        """Set the metrics' state gauges from the node now (``unsynced``: from the store's stats;
        None when the database cannot be read)."""
        when = self.time.now()
        now_s = when.at.timestamp()
        self.metrics.refresh(queue_depth=self.queue_depth(), unsynced=unsynced, trust_age_s=self.trust_age_s(now_s),
                             stale_after_s=self.config.trust.stale_after_s, trust_stale=self.trust_stale(now_s),
                             camera=self.supervisor.health.state, storage=self.store.health,
                             clock_trusted=when.trusted, online=self.online)
        return self.metrics

    def status(self, queue_depth: int | None = None, unsynced: int | None = None) -> dict[str, Any]:
        """The node's status as JSON (the status endpoint's body)."""
        when = self.time.now()
        now_s = when.at.timestamp()
        last = self.last_decision
        return {
            "node": {"id": self.config.node.id, "building": self.config.node.building,
                     "direction": self.config.node.direction},
            "status": self.outputs.status.value,
            "online": self.is_online(),
            "camera": {"source": self.camera.name, **self.supervisor.health.as_json(when.mono_s)},
            "decoder": self.decoder.name,
            "last_decision": None if last is None else {
                "seq": last.record.seq, "scan_id": last.record.scan_id, "at_ms": last.record.at_ms,
                "verdict": last.record.verdict, "reason": last.record.reason,
            },
            "decisions": self.decisions,
            "frames_decoded": self.frames_decoded,
            "queue_depth": self.queue_depth() if queue_depth is None else queue_depth,
            "unsynced": unsynced,
            "trust": {
                "age_s": round(self.trust_age_s(now_s)),
                "stale": self.trust_stale(now_s),
                "fail_mode": self.config.trust.fail_mode,
                "bundle_version": self.store.trust_bundle.version if self.store.trust_bundle else None,
                "revocation_version": self.store.revocations.version,
                "policy_version": self.store.policies.version if self.store.policies else None,
            },
            "clock": {"trusted": when.trusted, "floor_s": self.store.time_floor_s},
            "storage": self.store.health.as_json(),
            "database": {
                "epoch": self.store.epoch,
                "recovered": None if self.store.recovery is None else {
                    "reason": self.store.recovery.reason, "detail": self.store.recovery.detail,
                    "kept_as": [p.name for p in self.store.recovery.moved_to],
                },
            },
            "tasks": self.tasks.as_json(),
            "outputs": self.outputs.state(),
        }


async def open_store(config: NodeConfig, *, clock: Clock | None = None) -> NodeStore:
    """Open the node database from ``config``, recovering from damage (:mod:`edge.recovery`),
    and seed it from the bundle on first start or after a recovery (a new chain epoch then).

    Raises:
        BundleError, StoreError, DocumentError, TrustError: unusable bundle or database.
        OSError: a damaged database cannot be moved aside.
    """
    root_public = read_root_public(config.path(config.files.root_pub))
    now = (clock or SystemClock()).now()
    store, recovery = await open_checked(
        config.db_path, root_public, now, reserve_bytes=config.storage.reserve_bytes,
        queue_max=config.storage.queue_max)
    try:
        if not store.seeded:
            await store.seed(read_bundle(config))
            log.info("node database seeded from the provisioning bundle")
            if recovery is not None:
                await store.start_epoch(recovery.epoch)
        if recovery is not None or read_epoch(config.data_dir) != store.epoch:
            write_epoch(config.data_dir, store.epoch)
    except BaseException:
        await store.close()
        raise
    store.recovery = recovery
    return store
