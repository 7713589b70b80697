"""Login throttling: an account is slowed then blocked with a clear message; so is an address;
the initial six-digit password cannot be brute-forced."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import AuthConfig, load_server_config
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.throttle import FailureCount
from server.throttle import Limits, verdict
from shared.clock import FakeClock
from tests.server.conftest import add_person


async def _login(client: TestClient, number: str, password: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = await client.post("/api/v1/auth/login", json={"username": number, "password": password})
    return r.status, await r.json()


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


async def test_blocked_account_stays_blocked_for_other_addresses_until_reset(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "S2")
    for i in range(10):
        clock.advance(31)
        await _login(client, "S2", f"11111{i}")
    status, body = await _login(client, "S2", "12345X")
    assert status == 429 and body["error"]["code"] == "login_blocked"
    # Another account from the same address is unaffected (the address limit is higher).
    await add_person(app, "S3")
    status, _ = await _login(client, "S3", "12345X")
    assert status == 200


async def test_address_is_blocked_after_many_failures_across_accounts(
    aiohttp_client: Callable[..., Awaitable[TestClient]], datadir: DataDir, clock: FakeClock
) -> None:
    config = load_server_config(datadir.config_path)
    config = dataclasses.replace(config, auth=dataclasses.replace(config.auth, address_slow_after=4,
                                                                  address_block_after=6))
    app = create_app(datadir, clock=clock, config=config, hasher=PasswordHasher(FAST_TEST_PARAMS),
                     run_sms_sender=False)
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
