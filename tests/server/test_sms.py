"""The SMS outbox: sent after commit, exactly once per message id, retried while the gateway fails."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.sms import FileGateway, HttpGateway, SmsError, SmsMessage
from server.storage.sms import SmsOutboxStore
from server.web import state
from shared.clock import FakeClock, to_unix
from tests.server.conftest import activate, add_person


class FlakyGateway:
    """Fails ``failures`` times, then delivers through ``inner`` (records each delivery)."""

    def __init__(self, failures: int, inner: FileGateway) -> None:
        self.failures = failures
        self.inner = inner
        self.calls = 0
        self.delivered: list[SmsMessage] = []

    async def send(self, message: SmsMessage) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise SmsError(f"gateway down (call {self.calls})")
        await self.inner.send(message)
        self.delivered.append(message)

    async def close(self) -> None:
        return None


async def test_outbox_survives_a_gateway_that_fails_twice(
    datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    gateway = FlakyGateway(failures=2, inner=FileGateway(datadir.sms_outbox_path, clock))
    app = create_app(datadir, clock=clock, sms_gateway=gateway, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False, run_jobs=False)
    await aiohttp_client(app)
    db, sender = app[state.SERVICES].db, app[state.SERVICES].sms_sender
    now_s = to_unix(clock.now())

    # Rolled back: never sent.
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await SmsOutboxStore.enqueue(conn, message_id="m-rolled-back", phone="13800138000", body="x",
                                         purpose="test", now_s=now_s)
            raise RuntimeError("the decision failed")
    # Committed, and enqueued twice under the same id: one message.
    for _ in range(2):
        async with db.transaction() as conn:
            await SmsOutboxStore.enqueue(conn, message_id="m-1", phone="13800138000", body="批准", purpose="test",
                                         now_s=now_s)

    assert await sender.run_once() == 0  # failure 1
    msg = await SmsOutboxStore(db).get("m-1")
    assert msg is not None and msg.status == "pending" and msg.attempts == 1 and "gateway down" in msg.last_error
    assert await sender.run_once() == 0  # not due yet: backoff
    assert gateway.calls == 1
    clock.advance(31)
    assert await sender.run_once() == 0  # failure 2
    clock.advance(61)
    assert await sender.run_once() == 1  # delivered
    clock.advance(3600)
    assert await sender.run_once() == 0
    assert [m.id for m in gateway.delivered] == ["m-1"]
    msg = await SmsOutboxStore(db).get("m-1")
    assert msg is not None and msg.status == "sent" and msg.attempts == 3
    assert await SmsOutboxStore(db).get("m-rolled-back") is None


async def test_admin_sees_outbox_status_and_can_retry(
    datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    gateway = FlakyGateway(failures=0, inner=FileGateway(datadir.sms_outbox_path, clock))
    app = create_app(datadir, clock=clock, sms_gateway=gateway, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False, run_jobs=False)
    client = await aiohttp_client(app)
    await add_person(app, "A1", role="school_admin", department=None)
    await activate(client, "A1")
    db = app[state.SERVICES].db
    async with db.transaction() as conn:
        await SmsOutboxStore.enqueue(conn, message_id="m-x", phone="13800138001", body="b", purpose="test",
                                     now_s=to_unix(clock.now()))
    gateway.failures, gateway.calls = 10**6, 0
    sender = app[state.SERVICES].sms_sender
    sender.max_attempts = 1
    await sender.run_once()
    r = await client.get("/api/v1/admin/sms", params={"status": "failed"})
    rows = (await r.json())["messages"]
    assert [m["id"] for m in rows] == ["m-x"] and rows[0]["attempts"] == 1
    gateway.failures = -1
    r = await client.post("/api/v1/admin/sms/m-x/retry", json={})
    assert r.status == 200
    await sender.run_once()
    r = await client.get("/api/v1/admin/sms", params={"status": "sent"})
    assert "m-x" in [m["id"] for m in (await r.json())["messages"]]
    r = await client.get("/api/v1/admin/audit", params={"action": "sms_retry"})
    assert (await r.json())["entries"][0]["detail"] == {"id": "m-x"}
    r = await client.get("/admin/sms")
    assert r.status == 200 and "13800138001" in await r.text()


async def test_interrupted_send_is_never_resent_automatically(
    aiohttp_client: Callable[..., Awaitable[TestClient]], app: object, clock: FakeClock
) -> None:
    from aiohttp import web

    assert isinstance(app, web.Application)
    await aiohttp_client(app)
    store = SmsOutboxStore(app[state.SERVICES].db)
    async with app[state.SERVICES].db.transaction() as conn:
        await SmsOutboxStore.enqueue(conn, message_id="m-crash", phone="13800138002", body="b", purpose="t",
                                     now_s=to_unix(clock.now()))
    assert [m.id for m in await store.claim_due(to_unix(clock.now()), 10)] == ["m-crash"]  # then "crash"
    assert await store.mark_interrupted() == 1
    assert await app[state.SERVICES].sms_sender.run_once() == 0
    msg = await store.get("m-crash")
    assert msg is not None and msg.status == "unknown"


async def test_file_gateway_appends_json_lines(tmp_path: object, clock: FakeClock) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    gw = FileGateway(tmp_path / "sms-outbox.jsonl", clock)
    await gw.send(SmsMessage("a", "13800138000", "你好"))
    await gw.send(SmsMessage("b", "13800138000", "再见"))
    lines = (tmp_path / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["body"] for x in lines] == ["你好", "再见"]
    assert gw.sent()[0]["at"] == clock.now().isoformat()


async def test_http_gateway_retries_with_backoff_then_succeeds() -> None:
    seen: list[dict[str, str]] = []
    statuses = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["Idempotency-Key"] == "m-1"
        assert request.headers["Authorization"] == "Bearer t0k"
        return httpx.Response(next(statuses))

    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    gw = HttpGateway("https://sms.example/send", token="t0k", retries=2, backoff_s=0.5,
                     transport=httpx.MockTransport(handler), sleep=sleep)
    await gw.send(SmsMessage("m-1", "13800138000", "hi"))
    await gw.close()
    assert len(seen) == 3 and seen[0] == {"id": "m-1", "phone": "13800138000", "body": "hi"}
    assert sleeps == [0.5, 1.0]


async def test_http_gateway_gives_up_and_translates_errors() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def no_sleep(_s: float) -> None:
        return None

    gw = HttpGateway("https://sms.example/send", retries=1, transport=httpx.MockTransport(down), sleep=no_sleep)
    with pytest.raises(SmsError) as info:
        await gw.send(SmsMessage("m-2", "13800138000", "hi"))
    assert info.value.code == "sms_failed" and "2 tries" in info.value.message
    gw2 = HttpGateway("https://sms.example/send", transport=httpx.MockTransport(lambda r: httpx.Response(400)),
                      sleep=no_sleep)
    with pytest.raises(SmsError) as info:
        await gw2.send(SmsMessage("m-3", "13800138000", "hi"))
    assert info.value.code == "sms_refused"
    await gw.close()
    await gw2.close()


async def test_background_sender_delivers_right_after_commit(
    datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    import asyncio

    app = create_app(datadir, clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_jobs=False)  # real sender task
    client = await aiohttp_client(app)
    await add_person(app, "S1")
    await client.post("/api/v1/auth/login", json={"username": "S1", "password": "12345X"})
    r = await client.post("/api/v1/auth/phone/code", json={"phone": "13800138009"})
    assert r.status == 200
    gw = FileGateway(datadir.sms_outbox_path, clock)
    for _ in range(100):  # woken by the commit: no poll interval to wait for
        if gw.sent():
            break
        await asyncio.sleep(0.02)
    assert [m["phone"] for m in gw.sent()] == ["13800138009"]
