"""SMS delivery: the gateway interface, the file and HTTP gateways, and the outbox sender
(the template providers, Alibaba Cloud and Tencent Cloud, are in :mod:`server.sms_providers`).

Senders of SMS never call a gateway: they enqueue into the outbox inside their own transaction
(:meth:`server.storage.sms.SmsOutboxStore.enqueue`) and call :meth:`SmsSender.wake`. The sender
delivers after commit, at most once per message id (a row is claimed ``sending`` before the
gateway call; a crash mid-call leaves it ``unknown`` for an admin, never resent blindly), and
retries with exponential backoff while the gateway fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from server.storage.sms import SmsOutboxStore
from shared.clock import Clock, to_unix
from shared.errors import CampusPassError

log = logging.getLogger(__name__)


OUTCOMES = ("retry", "give_up", "misconfigured", "unknown")
"""How a failed send is handled: ``retry`` (later, with backoff: throttling, a provider or network
fault before the request was taken), ``give_up`` (this message can never go: a bad number),
``misconfigured`` (no message can go until an admin fixes server.toml or the provider's console:
a bad key, signature name or template), ``unknown`` (the request went out and the answer was lost:
the provider may have sent it, so it is never resent automatically)."""


class SmsError(CampusPassError):
    """The gateway did not accept a message. Code ``sms_failed`` (``sms_refused`` for a refusal
    that retrying cannot cure).

    Attributes:
        outcome: one of :data:`OUTCOMES` (default ``retry``; ``give_up`` for ``sms_refused``).
        provider_code: the provider's own error code ("" when none).
    """

    code = "sms_failed"

    def __init__(self, message: str, *, code: str | None = None, outcome: str | None = None,
                 provider_code: str = "") -> None:
        super().__init__(message, code=code)
        self.outcome = outcome or ("give_up" if self.code == "sms_refused" else "retry")
        self.provider_code = provider_code


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One message to deliver: its outbox id (idempotency key), the number, the full text, and
    for template providers its purpose and the named values (server.sms_templates)."""

    id: str
    phone: str
    body: str
    purpose: str = ""
    params: dict[str, str] = field(default_factory=dict)


class SmsGateway(Protocol):
    """Delivers one message or raises :class:`SmsError`."""

    async def send(self, message: SmsMessage) -> None: ...

    async def close(self) -> None: ...


class FileGateway:
    """Appends each message as one JSON line ``{"id","phone","body","at"}`` to a file (default
    ``DATA/sms-outbox.jsonl``): the demo's and the tests' gateway.

    Args:
        path: the JSON-lines file (created if missing).
        clock: stamps ``at`` (ISO 8601 UTC).
    """

    name = "file"

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock

    async def send(self, message: SmsMessage) -> None:
        """Append the line (flushed and fsynced)."""
        line = json.dumps({"id": message.id, "phone": message.phone, "body": message.body,
                           "at": self.clock.now().isoformat()}, ensure_ascii=False)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._append, line)
        except OSError as exc:
            raise SmsError(f"cannot write {self.path.name}: {exc}") from exc

    def _append(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def close(self) -> None:
        """Nothing to release."""

    def sent(self) -> list[dict[str, str]]:
        """Every message written so far (for tests, the demo and the admin)."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]


Sleep = Callable[[float], Awaitable[None]]


class HttpGateway:
    """POSTs ``{"id","phone","body"}`` as JSON to a provider's HTTP endpoint.

    2xx is success; 4xx (except 408/429) is a permanent refusal; anything else, a timeout or a
    connection error is retried ``retries`` times with exponential backoff, then raised.

    Args:
        url: the endpoint.
        token: sent as ``Authorization: Bearer`` when not empty.
        timeout_s: per-request timeout (seconds).
        retries: extra attempts after the first.
        backoff_s: first retry delay (seconds); doubles each retry.
        transport: an httpx transport (``httpx.MockTransport`` in tests); None for the network.
        sleep: how to wait between retries (``asyncio.sleep``; tests pass a recorder).
    """

    name = "http"

    def __init__(self, url: str, *, token: str = "", timeout_s: float = 5.0, retries: int = 2,
                 backoff_s: float = 0.5, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        if not url.startswith(("http://", "https://")):
            raise SmsError(f"SMS gateway url {url!r} is not an http(s) URL", code="bad_config")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport, headers=headers)

    async def send(self, message: SmsMessage) -> None:
        """Deliver one message (the id doubles as the provider's idempotency key)."""
        delay = self.backoff_s
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(delay)
                delay *= 2
            try:
                resp = await self._client.post(
                    self.url, json={"id": message.id, "phone": message.phone, "body": message.body},
                    headers={"Idempotency-Key": message.id})
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= resp.status_code < 300:
                return
            last = f"HTTP {resp.status_code}"
            if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                raise SmsError(f"gateway refused message {message.id}: {last}", code="sms_refused")
        raise SmsError(f"gateway failed for message {message.id} after {self.retries + 1} tries: {last}")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def backoff_s(attempts: int, base_s: int = 30, cap_s: int = 3600) -> int:
    """Delay before outbox attempt ``attempts + 1``: 30 s, 60 s, 120 s, ... capped at an hour."""
    return int(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


class SmsSender:
    """Delivers due outbox messages through a gateway.

    Args:
        store: the outbox repository.
        gateway: where messages go.
        clock: decides what is due and when to retry.
        max_attempts: attempts before a message is marked ``failed`` (admins can retry it).
        poll_s: how often the background loop looks for due messages when not woken (seconds).
        on_outcome: told ``(provider, outcome)`` after each gateway call, ``outcome`` ``sent`` or
            one of :data:`OUTCOMES` (the metrics).
    """

    def __init__(self, store: SmsOutboxStore, gateway: SmsGateway, clock: Clock, *,
                 max_attempts: int = 12, poll_s: float = 5.0,
                 on_outcome: Callable[[str, str], None] | None = None) -> None:
        self.store = store
        self.provider = str(getattr(gateway, "name", type(gateway).__name__))
        self._on_outcome = on_outcome or (lambda _provider, _outcome: None)
        self.gateway = gateway
        self.clock = clock
        self.max_attempts = max_attempts
        self.poll_s = poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask the background loop to look now (call after committing an enqueue)."""
        self._wake.set()

    async def run_once(self, batch: int = 50) -> int:
        """Try every due message once; returns how many were delivered."""
        now_s = to_unix(self.clock.now())
        delivered = 0
        for msg in await self.store.claim_due(now_s, batch):
            try:
                await self.gateway.send(SmsMessage(msg.id, msg.phone, msg.body, msg.purpose, msg.params))
            except Exception as exc:  # any gateway failure is recorded, never lost
                attempts = msg.attempts + 1
                outcome = exc.outcome if isinstance(exc, SmsError) else "retry"
                error = str(exc)[:500]
                log.warning("SMS %s attempt %d failed (%s): %s", msg.id, attempts, outcome, exc)
                if outcome == "unknown":
                    await self.store.mark_unknown(msg.id, error)
                    self._on_outcome(self.provider, "unknown")
                    continue
                if outcome == "retry" and attempts >= self.max_attempts:
                    outcome = "give_up"
                retry_at = now_s + backoff_s(attempts) if outcome == "retry" else None
                await self.store.mark_failed(msg.id, error, retry_at, outcome)
                self._on_outcome(self.provider, outcome)
                continue
            await self.store.mark_sent(msg.id, to_unix(self.clock.now()))
            self._on_outcome(self.provider, "sent")
            delivered += 1
        return delivered

    async def run(self) -> None:
        """The background loop (until cancelled)."""
        interrupted = await self.store.mark_interrupted()
        if interrupted:
            log.warning("%d SMS left in flight by a previous run marked unknown", interrupted)
        while True:
            try:
                await self.run_once()
            except CampusPassError as exc:
                log.warning("SMS sender: %s", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
