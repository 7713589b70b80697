"""The door node's sync client (docs/architecture.md §8; wire format in docs/sync-protocol.md).

:class:`SyncClient` runs as its own task next to the scan loop (:meth:`Node.run` starts it
through the ``sync_factory`` seam; :func:`make_sync` builds it). A sync round uploads every
unsynced record in batches, each request signed with the node key
(:mod:`shared.node_auth`) and carrying the heartbeat; each answer acknowledges a sequence
number (the node marks records up to it synced), brings the server time (the node raises its
trusted-time bound and records its clock offset) and any newer trust bundle, revocation delta
and policy (verified against the pinned root by :class:`NodeStore` before use). Afterwards,
acknowledged records older than ``sync.keep_synced_s`` are purged.

Nothing here blocks a door decision: database work runs in aiosqlite's thread, JSON encoding
and gzip in a worker thread, HTTP through ``httpx.AsyncClient``. Everything the client needs to
resume after a crash or reboot is in the node database (unsynced flags, versions, offset).
On failure the client retries with exponential backoff and jitter; the online/offline change
is logged once (:meth:`Node.set_online`), not on every retry.

The network is a swappable ``httpx`` transport: tests and demos use :class:`DropResponses`
(loses replies after the server has committed) around the real one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from campuspass import __version__
from edge.config import NodeConfig
from edge.store import NodeStore
from edge.timekeeping import TimeAnchor
from shared.clock import Clock
from shared.errors import CampusPassError
from shared.keys import Ed25519PrivateKey
from shared.node_auth import body_sha256, new_nonce, sign_request
from shared.scanlog import ScanRecord
from shared.sync_answer import AnswerError, verify_answer
from shared.sync_contract import Heartbeat, SyncAnswer, SyncRequest

if TYPE_CHECKING:
    from edge.node import Node

log = logging.getLogger(__name__)

T = TypeVar("T")

GZIP_MIN_BYTES = 1024


class SyncFailed(CampusPassError):
    """A sync round did not complete. Codes: ``offline`` (no answer: connect error, timeout),
    ``refused`` (the server answered with an error envelope; the message has its code),
    ``bad_answer`` (the answer is unreadable or not signed for this request by the server)."""

    code = "offline"


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one sync round did.

    Attributes:
        requests: sync requests answered.
        sent: records uploaded (retransmissions included).
        acked_seq: highest sequence the server acknowledged (0: none yet).
        duplicates: records the server already held.
        gaps: gaps the server reported, ``(from_seq, to_seq)``.
        purged: local records purged after the round.
    """

    requests: int
    sent: int
    acked_seq: int
    duplicates: int
    gaps: tuple[tuple[int, int], ...]
    purged: int


class DropResponses(httpx.AsyncBaseTransport):
    """A transport that loses the first ``drop`` replies *after* the server handled the request
    (the response is read in full, then a read timeout is raised), as a network losing the
    reply on the way back does. Wraps the real transport.

    Args:
        inner: the transport that really sends (default ``httpx.AsyncHTTPTransport()``).
        drop: how many replies to lose.
        only_with_records: lose only replies to uploads carrying records.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, drop: int = 1,
                 only_with_records: bool = True) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.remaining = drop
        self.only_with_records = only_with_records
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        carries = bool(json.loads(_plain_body(request) or b"{}").get("records"))
        if self.remaining > 0 and response.status_code == 200 and (carries or not self.only_with_records):
            self.remaining -= 1
            self.dropped += 1
            await response.aclose()
            raise httpx.ReadTimeout("reply lost after the server answered", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _plain_body(request: httpx.Request) -> bytes:
    body = request.content
    return gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body


def _encode(request: SyncRequest) -> tuple[bytes, bytes | None]:
    """``(plain JSON body, gzip body or None)``; runs in a worker thread."""
    body = request.to_bytes()
    return body, (gzip.compress(body, compresslevel=1) if len(body) >= GZIP_MIN_BYTES else None)


@dataclass(frozen=True, slots=True)
class _Batch:
    """One prepared upload: its records, whether it is the round's last, its JSON and gzip bodies."""

    records: list[ScanRecord]
    last: bool
    body: bytes
    zipped: bytes | None


class SyncClient:
    """Keeps one node in sync with the server.

    Args:
        store: the node database.
        config: the node configuration (``node.server_url``, ``node.id``, ``[sync]``).
        key: the node's Ed25519 private key (``node.key``).
        clock: wall and monotonic clock (``SystemClock`` or ``FakeClock``).
        transport: the httpx transport (default: real HTTP; tests wrap it).
        on_online: called with True/False after each round (the node's status indication).
        health: returns ``{"camera", "decoder", "clock_trusted"}`` for the heartbeat.
        rng: jitter source.
        boot_id: this boot's id, kept with each server time (the node's clock checks use it).
    """

    def __init__(
        self,
        store: NodeStore,
        config: NodeConfig,
        key: Ed25519PrivateKey,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        on_online: Callable[[bool], None] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        rng: random.Random | None = None,
        boot_id: str = "",
    ) -> None:
        self.store = store
        self.config = config
        self.key = key
        self.clock = clock
        self.transport = transport
        self.on_online = on_online
        self.health = health or (lambda: {})
        self.rng = rng or random.Random()
        self.boot_id = boot_id
        self.offset_s = 0.0  # server − node, from the last answer (signing timestamps use it)
        self.failures = 0
        self.bad_answers = 0  # answers ignored because they did not verify (reported in the heartbeat)
        self.online: bool | None = None
        self._started_mono = clock.monotonic()
        self._last_error: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._offset_loaded = False
        self.wake = asyncio.Event()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            s = self.config.sync
            timeout = httpx.Timeout(connect=s.connect_timeout_s, read=s.read_timeout_s,
                                    write=s.read_timeout_s, pool=s.connect_timeout_s)
            self._client = httpx.AsyncClient(base_url=self.config.node.server_url.rstrip("/"), timeout=timeout,
                                             transport=self.transport)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ---- one request ------------------------------------------------------------------------

    def _heartbeat(self, queue_depth: int, oldest_unsynced_at_ms: int | None) -> Heartbeat:
        s = self.store
        health = self.health()
        return Heartbeat(
            node_time_ms=int(self.clock.now().timestamp() * 1000),
            queue_depth=queue_depth,
            oldest_unsynced_at_ms=oldest_unsynced_at_ms,
            clock_offset_s=round(self.offset_s, 3) if self._offset_loaded else None,
            software_version=__version__,
            trust_version=s.trust_bundle.version if s.trust_bundle else 0,
            revocation_version=s.revocations.version,
            policy_version=s.policies.version if s.policies else 0,
            camera=str(health.get("camera", "")),
            decoder=str(health.get("decoder", "")),
            uptime_s=round(self.clock.monotonic() - self._started_mono, 1),
            clock_trusted=bool(health.get("clock_trusted", True)),
            storage=str(s.health.state),
            storage_queued=s.health.queued,
            storage_dropped=s.health.dropped,
            bad_answers=self.bad_answers,
            chain_epoch=s.epoch,
        )

    async def _prepare(self, after: int | None, queue: int, first: bool) -> _Batch:
        """Read the next batch (after ``after``; None: the oldest unsynced) and encode its request
        (in a worker thread)."""
        s = self.config.sync
        batch = s.catch_up_batch_size if queue > 2 * s.batch_size else s.batch_size
        records = await self.store.unsynced(batch) if after is None else await self.store.records(after, batch)
        last = len(records) < batch
        heartbeat = self._heartbeat(queue, records[0].at_ms if records else None)
        # Documents (signed by the server on each request) only at the start and end of a round.
        body, zipped = await asyncio.to_thread(_encode, SyncRequest(heartbeat, tuple(records), first or last))
        return _Batch(records, last, body, zipped)

    async def _post(self, body: bytes, zipped: bytes | None) -> SyncAnswer:
        """Send one signed sync request; returns the answer once its signature is verified.

        The whole exchange has one deadline (``sync.request_deadline_s``): a reply dripped a byte
        at a time cannot hold a round. Nothing of an answer is used before
        :func:`shared.sync_answer.verify_answer` accepts it; a refused answer is counted in
        :attr:`bad_answers` (reported in the heartbeat).

        Raises:
            SyncFailed: no answer in time (``offline``), a refusal (``refused``), or an answer
                that is unreadable or fails verification (``bad_answer``).
        """
        path = f"/api/v1/nodes/{self.config.node.id}/sync"
        offset_s = self.offset_s
        deadline_s = self.config.sync.request_deadline_s
        for attempt in (1, 2):
            sent_at = self.clock.now().timestamp()
            nonce = new_nonce()
            headers = sign_request(self.key, self.config.node.id, "POST", path, body,
                                   int(round(sent_at + offset_s)), nonce)
            headers["Content-Type"] = "application/json"
            if zipped is not None:
                headers["Content-Encoding"] = "gzip"
            try:
                async with asyncio.timeout(deadline_s):
                    resp = await self._http().post(path, content=zipped if zipped is not None else body,
                                                   headers=headers)
            except TimeoutError as exc:
                raise SyncFailed(f"no complete answer from {self.config.node.server_url} within {deadline_s:g} s",
                                 code="offline") from exc
            except httpx.HTTPError as exc:
                raise SyncFailed(f"no answer from {self.config.node.server_url}: {type(exc).__name__}: {exc}",
                                 code="offline") from exc
            received_at = self.clock.now().timestamp()
            try:
                doc = resp.json()
            except ValueError:
                doc = None
            if resp.status_code == 200:
                try:
                    answer = verify_answer(doc, node_id=self.config.node.id, nonce=nonce,
                                           body_sha256=body_sha256(body), held=self.store.trust_bundle,
                                           pinned_root=self.store.root_public).answer
                except AnswerError as exc:
                    self.bad_answers += 1
                    log.warning("ignored a sync answer that does not verify (%d so far): %s",
                                self.bad_answers, exc.message)
                    raise SyncFailed(f"answer ignored: {exc.message}", code="bad_answer") from exc
                self.offset_s = answer.server_time_ms / 1000 - (sent_at + received_at) / 2
                return answer
            error = doc.get("error") if isinstance(doc, dict) else None
            error = error if isinstance(error, dict) else {}
            code = str(error.get("code", "http_error"))[:64]
            server_ms = error.get("server_time_ms")
            if code == "stale_timestamp" and type(server_ms) is int and attempt == 1:
                # The node clock is off (no battery clock): sign the retry with the server's time. An
                # error envelope is not signed, so this only shapes the retry's timestamp; the offset
                # kept (and the trusted-time floor) come from a verified answer only.
                offset_s = server_ms / 1000 - (sent_at + received_at) / 2
                log.warning("node clock is %+.0f s from server time; signing with server time", offset_s)
                continue
            raise SyncFailed(f"server refused the sync ({resp.status_code} {code}): "
                             f"{str(error.get('message', ''))[:200]}", code="refused")
        raise SyncFailed("server refused the sync twice for its timestamp", code="refused")

    async def _apply_time(self, answer: SyncAnswer) -> None:
        """Take the (verified) server time: the trusted-time floor follows it (down too, when
        poisoned), the anchor for the node's clock checks and the clock offset are kept
        (:meth:`NodeStore.apply_server_time`)."""
        anchor = TimeAnchor(answer.server_time_ms / 1000, self.clock.monotonic(), self.boot_id)
        await self.store.apply_server_time(anchor, self.offset_s)

    async def _apply(self, answer: SyncAnswer, first: bool) -> None:
        """Apply documents from a verified answer (each verified again by the store before use;
        a document the store refuses is logged and the others are still applied)."""
        if answer.trust_bundle is not None:
            bundle = await self._take("trust bundle", self.store.replace_trust_bundle(answer.trust_bundle))
            if bundle is not None:
                log.info("trust bundle v%d from the server", bundle.version)
        delta = answer.revocations
        before = self.store.revocations.version
        if delta is not None and (first or int(delta.get("version", 0)) > before):
            revs = await self._take("revocation delta", self.store.apply_revocation_delta(delta))
            if revs is not None and revs.version != before:
                log.info("revocations v%d -> v%d", before, revs.version)
        if answer.policy is not None:
            policy = await self._take("policy", self.store.replace_policy(answer.policy))
            if policy is not None:
                log.info("policy v%d from the server", policy.version)

    @staticmethod
    async def _take(what: str, applying: Awaitable[T]) -> T | None:
        """The result of applying one document, or None (logged) when the store refused it."""
        try:
            return await applying
        except CampusPassError as exc:
            log.error("refused the server's %s: %s", what, exc)
            return None

    # ---- a round ----------------------------------------------------------------------------

    async def sync_round(self) -> RoundResult:
        """Upload every unsynced record (batches of ``sync.batch_size``), apply what comes back,
        then purge acknowledged records older than ``sync.keep_synced_s``.

        Raises:
            SyncFailed: a request got no usable answer (what was acknowledged before stays so).
        """
        if not self._offset_loaded:
            held = await self.store.clock_offset()
            self.offset_s = held[0] if held is not None else 0.0
            self._offset_loaded = True
        requests = sent = duplicates = acked = 0
        gaps: list[tuple[int, int]] = []
        queue = (await self.store.stats()).unsynced  # counted once; kept up to date from the acks
        current = await self._prepare(None, queue, True)
        while True:
            # While the server stores this batch, the next one is read and encoded on the
            # assumption that all of this one is acknowledged (else it is thrown away).
            expected = current.records[-1].seq if current.records else 0
            upcoming = None if current.last else asyncio.create_task(
                self._prepare(expected, max(0, queue - len(current.records)), False))
            try:
                answer = await self._post(current.body, current.zipped)
                requests += 1
                sent += len(current.records)
                ack = answer.ack_seq
                duplicates += answer.duplicates
                gaps += [(g.from_seq, g.to_seq) for g in answer.gaps]
                if requests == 1 or current.last:  # the time bound and offset: start and end of a round
                    await self._apply_time(answer)
                await self._apply(answer, requests == 1)
                if ack > 0:
                    queue = max(0, queue - await self.store.mark_synced(ack))
                    acked = max(acked, ack)
            except BaseException:
                if upcoming is not None:
                    upcoming.cancel()
                    await asyncio.gather(upcoming, return_exceptions=True)
                raise
            if upcoming is None:
                break
            if ack >= expected:
                current = await upcoming
            else:  # the server holds less than was sent: start again from the oldest unsynced
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)
                current = await self._prepare(None, queue, False)
        now_ms = int(self.clock.now().timestamp() * 1000)
        purged = await self.store.purge_synced(self.config.sync.keep_synced_s, now_ms)
        return RoundResult(requests, sent, acked, duplicates, tuple(gaps), purged)

    def backoff_s(self, failures: int) -> float:
        """Delay after ``failures`` consecutive failures: doubling from ``backoff_initial_s`` up to
        ``backoff_max_s``, half of it fixed and half random (jitter spreads a fleet's retries)."""
        s = self.config.sync
        cap = min(s.backoff_max_s, s.backoff_initial_s * 2 ** max(0, failures - 1))
        return cap / 2 + self.rng.uniform(0, cap / 2)

    def _set_online(self, online: bool) -> None:
        if self.on_online is not None:
            self.on_online(online)
        elif online != self.online:
            log.info("server link: %s", "online" if online else "offline")
        self.online = online

    async def run_once(self) -> RoundResult | None:
        """One round with the online/offline bookkeeping; None when it failed."""
        try:
            result = await self.sync_round()
        except SyncFailed as exc:
            self.failures += 1
            if exc.message != self._last_error:
                log.warning("sync failed: %s", exc.message)
                self._last_error = exc.message
            self._set_online(False)
            return None
        except CampusPassError as exc:  # the node database refused something: report, retry later
            self.failures += 1
            if exc.message != self._last_error:
                log.error("sync round stopped: %s", exc)
                self._last_error = exc.message
            self._set_online(False)
            return None
        self.failures = 0
        self._last_error = None
        self._set_online(True)
        return result

    async def run(self) -> None:
        """Sync forever: every ``sync.interval_s`` while online, with backoff while not."""
        try:
            while True:
                result = await self.run_once()
                delay = self.config.sync.interval_s if result is not None else self.backoff_s(self.failures)
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            await self.aclose()


def make_sync(node: Node) -> SyncClient:
    """The sync component for a :class:`Node` (the ``sync_factory`` seam of :mod:`edge.runner`).

    Raises:
        BundleError, CampusPassError: ``node.key`` is missing or not an Ed25519 key.
    """
    from edge.bundle import load_node_key

    def health() -> dict[str, Any]:
        return {"camera": node.supervisor.health.state, "decoder": node.decoder.name,
                "clock_trusted": node.time.clock_trusted()}

    return SyncClient(node.store, node.config, load_node_key(node.config), clock=node.clock,
                      on_online=node.set_online, health=health, boot_id=node.time.boot_id)
