"""Login throttling: an account is slowed then blocked with a clear message; so is an address;
attempts are counted before the hash runs, so concurrent guesses cannot exceed the allowance;
a stranger's failures never keep the owner out; the initial six-digit password cannot be
brute-forced."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import AuthConfig, load_server_config
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, Argon2Params, PasswordHasher
from server.storage.people import People
from server.storage.sms import SmsOutboxStore
from server.storage.throttle import FailureCount
from server.throttle import Limits, verdict
from server.web import state
from shared.clock import FakeClock, to_unix
from tests.server.conftest import add_person


class CountingHasher(PasswordHasher):
    """The real Argon2id hasher, counting how many verifications ran."""

    def __init__(self, params: Argon2Params | None = None) -> None:
        super().__init__(params)
        self.verified = 0

    async def verify(self, password: str, phc: str) -> bool:
        self.verified += 1
        return await super().verify(password, phc)


async def _login(client: TestClient, number: str, password: str, *, address: str | None = None,
                 sms_code: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    body = {"username": number, "password": password}
    if sms_code is not None:
        body["sms_code"] = sms_code
    headers = {"X-Forwarded-For": address} if address else {}
    r = await client.post("/api/v1/auth/login", json=body, headers=headers)
    return r.status, await r.json()


def _behind_proxy(datadir: DataDir, clock: FakeClock, hasher: PasswordHasher) -> web.Application:
    """The app with the loopback test client as a trusted proxy: X-Forwarded-For sets the address."""
    config = load_server_config(datadir.config_path)
    config = dataclasses.replace(config, auth=dataclasses.replace(config.auth, trusted_proxies=["127.0.0.1"]))
    return create_app(datadir, clock=clock, config=config, hasher=hasher, run_sms_sender=False, run_jobs=False)


async def test_concurrent_wrong_logins_reach_the_hash_at_most_the_allowance(
    aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir, clock: FakeClock
) -> None:
    """40 wrong guesses sent at once against production Argon2id parameters: each is counted
    before its hash runs, so only the slow-down allowance (5) is ever hashed; the rest are 429."""
    hasher = CountingHasher()  # production parameters (19 MiB, 2 passes)
    assert hasher.params == Argon2Params()
    client = await aiohttp_client(_behind_proxy(datadir, clock, hasher))
    app = client.server.app
    assert app is not None
    await add_person(app, "S40", id_last6="12345X")
    hasher.verified = 0
    results = await asyncio.gather(*(_login(client, "S40", f"{i:06d}", address="10.9.9.9") for i in range(40)))
    statuses = sorted(status for status, _ in results)
    allowance = app[state.CONFIG].auth.account_slow_after
    assert hasher.verified <= allowance
    assert statuses.count(401) == hasher.verified
    assert statuses.count(429) == 40 - hasher.verified
    assert {body["error"]["code"] for status, body in results if status == 429} <= {"login_slowed", "login_blocked"}


async def test_owner_logs_in_from_another_address_while_a_stranger_keeps_failing(
    aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir, clock: FakeClock
) -> None:
    client = await aiohttp_client(_behind_proxy(datadir, clock, PasswordHasher(FAST_TEST_PARAMS)))
    app = client.server.app
    assert app is not None
    await add_person(app, "S5")
    for i in range(10):
        clock.advance(31)
        status, _ = await _login(client, "S5", f"22222{i}", address="203.0.113.66")
        assert status == 401
    for _ in range(4):  # the stranger renews the block with one try at the end of each block
        status, body = await _login(client, "S5", "000000", address="203.0.113.66")
        assert status == 429 and body["error"]["code"] == "login_blocked"
        clock.advance(15 * 60 + 1)
        status, _ = await _login(client, "S5", "999999", address="203.0.113.66")
        assert status == 401
        status, _ = await _login(client, "S5", "12345X", address="198.51.100.7")  # the owner, elsewhere
        assert status == 200
        await client.post("/api/v1/auth/logout", json={})


async def test_guessing_from_many_addresses_blocks_passwords_but_the_owner_gets_in_by_sms_code(
    aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir, clock: FakeClock
) -> None:
    client = await aiohttp_client(_behind_proxy(datadir, clock, PasswordHasher(FAST_TEST_PARAMS)))
    app = client.server.app
    assert app is not None
    await add_person(app, "S6")
    async with app[state.SERVICES].db.transaction() as conn:
        person = await People(app[state.SERVICES].db).by_number("S6")
        assert person is not None
        await People.set_verified_phone(conn, person.id, "13800138006", to_unix(clock.now()))
    total = app[state.CONFIG].auth.account_total_block_after
    for i in range(total):
        status, _ = await _login(client, "S6", f"{i:06d}", address=f"192.0.2.{i + 1}")
        assert status == 401
    status, body = await _login(client, "S6", "12345X", address="198.51.100.7")
    assert status == 429 and body["error"]["code"] == "login_blocked"
    assert "one-time login code" in body["error"]["message"]

    # A code is sent only to the bound phone; the answer says nothing about the account.
    r = await client.post("/api/v1/auth/login/code", json={"username": "S6"},
                          headers={"X-Forwarded-For": "198.51.100.7"})
    assert r.status == 200
    unknown = await client.post("/api/v1/auth/login/code", json={"username": "nobody"},
                                headers={"X-Forwarded-For": "198.51.100.7"})
    assert await unknown.json() == await r.json()
    sent = [m for m in await SmsOutboxStore(app[state.SERVICES].db).recent() if m.purpose == "login_code"]
    assert len(sent) == 1 and sent[0].phone == "13800138006"
    code = sent[0].body.split("验证码是 ")[1][:6]

    # A stranger cannot use a guessed code; the owner's code works once.
    status, body = await _login(client, "S6", "12345X", address="192.0.2.99", sms_code="000000" if code != "000000" else "111111")
    assert status == 403 and body["error"]["code"] == "wrong_code"
    status, body = await _login(client, "S6", "12345X", address="198.51.100.7", sms_code=code)
    assert status == 200, body
    await client.post("/api/v1/auth/logout", json={})
    status, body = await _login(client, "S6", "12345X", address="198.51.100.7", sms_code=code)
    assert status == 403 and body["error"]["code"] == "wrong_code"


async def test_account_is_slowed_then_blocked(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S1", id_last6="12345X")
    for i in range(5):
        status, _ = await _login(client, "S1", f"00000{i}")
        assert status == 401
    status, body = await _login(client, "S1", "12345X")  # even the right password waits
    assert status == 429 and body["error"]["code"] == "login_slowed"
    assert 1 <= body["error"]["retry_after_s"] <= 30
    for i in range(5, 10):
        clock.advance(31)
        status, _ = await _login(client, "S1", f"00000{i}")
        assert status == 401
    status, body = await _login(client, "S1", "12345X")
    assert status == 429 and body["error"]["code"] == "login_blocked"
    assert "blocked for 15 more minute" in body["error"]["message"]
    clock.advance(14 * 60)
    status, body = await _login(client, "S1", "12345X")
    assert status == 429 and body["error"]["code"] == "login_blocked"
    clock.advance(61)
    status, body = await _login(client, "S1", "12345X")
    assert status == 200
    # Success cleared the account counter.
    await client.post("/api/v1/auth/logout", json={})
    status, _ = await _login(client, "S1", "bad")
    assert status == 401


async def test_address_is_blocked_after_many_failures_across_accounts(
    aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir, clock: FakeClock
) -> None:
    config = load_server_config(datadir.config_path)
    config = dataclasses.replace(config, auth=dataclasses.replace(config.auth, address_slow_after=4,
                                                                  address_block_after=6))
    app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False, run_jobs=False)
    client = await aiohttp_client(app)
    for i in range(6):
        clock.advance(31)
        status, _ = await _login(client, f"nobody{i}", "000000")
        assert status == 401
    status, body = await _login(client, "someone-else", "000000")
    assert status == 429 and body["error"]["code"] == "login_blocked"


def test_initial_password_space_cannot_be_searched_in_a_year() -> None:
    """With the default limits, the guesses one account allows per day make the 1.1 million
    six-character initial passwords out of reach."""
    cfg = AuthConfig()
    limits = Limits(cfg.account_slow_after, cfg.account_block_after, cfg.slow_wait_s, cfg.block_s)
    now, failures, guesses = 0, 0, 0
    while now < 86400:
        kind, wait = verdict(FailureCount(failures, now - 1) if failures else None, limits, now,
                             cfg.forget_after_s)
        if kind == "ok":
            guesses += 1
            failures += 1
            now += 1
        else:
            now += wait
    assert guesses < 120
    assert 1_100_000 / guesses / 365 > 10  # years for an even chance to be > 5
