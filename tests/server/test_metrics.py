"""Server /metrics, /healthz and /readyz: requests counted by route pattern and status, figures
from the database at each scrape, the allow-list and bearer token, readiness when the database
is gone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.config import AuthConfig, MetricsConfig, ServerConfig, load_server_config
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage import Database
from server.storage.sms import SmsOutboxStore
from server.web import state
from server.web.metrics import readiness
from shared.clock import FakeClock, to_unix
from shared.errors import ConfigError
from tests.workflow.conftest import Login, checkin_body, login  # noqa: F401

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: TestClient, **headers: str) -> Samples:
    r = await client.get("/metrics", headers=headers)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(await r.text()) for s in family.samples}


async def test_requests_are_counted_by_route_pattern_and_status(client: TestClient) -> None:
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get("/api/v1/nodes/n-1/sync-log")).status == 401  # not logged in
    assert (await client.get("/no/such/page")).status == 404
    samples = await scrape(client)
    requests = {k[1]: v for k, v in samples.items() if k[0] == "campuspass_http_requests_total"}
    assert requests[(("method", "GET"), ("route", "/healthz"), ("status", "200"))] == 2
    assert requests[(("method", "GET"), ("route", "/api/v1/nodes/{node_id}/sync-log"), ("status", "401"))] == 1
    assert requests[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    assert not any("n-1" in value for labels in requests for _, value in labels)  # patterns, never raw paths
    count = samples[("campuspass_http_request_duration_seconds_count",
                     (("method", "GET"), ("route", "/healthz"), ("status", "200")))]
    assert count == 2


async def test_figures_from_the_database(client: TestClient, login: Login, clock: FakeClock) -> None:  # noqa: F811
    app = client.server.app
    assert app is not None
    student = await login("2026001")
    assert (await student.post("/api/v1/checkins/today", json=checkin_body())).status in (200, 201)
    other = await login("2026002")
    assert (await other.post("/api/v1/checkins/today", json=checkin_body(temperature_c=38.2))).status in (200, 201)
    async with app[state.SERVICES].db.transaction() as conn:
        await SmsOutboxStore.enqueue(conn, message_id="m-1", phone="13800000009", body="x", purpose="test",
                                     now_s=to_unix(clock.now()))
    clock.advance(400)
    samples = await scrape(client)
    assert samples[("campuspass_checkins_today", (("kind", "normal"),))] == 1
    assert samples[("campuspass_checkins_today", (("kind", "abnormal"),))] == 1
    assert samples[("campuspass_sms_outbox", (("status", "pending"),))] >= 1
    assert samples[("campuspass_sms_outbox_oldest_pending_age_seconds", ())] == 400
    assert samples[("campuspass_sms_outbox", (("status", "sent"),))] == 2  # the two phone codes
    assert samples[("campuspass_applications", (("state", "approved"),))] == 0
    assert samples[("campuspass_sms_sent_total", (("provider", "file"),))] == 2

    await app[state.SERVICES].sms_sender.run_once()  # delivers m-1
    samples = await scrape(client)
    assert samples[("campuspass_sms_outbox_oldest_pending_age_seconds", ())] == 0
    assert samples[("campuspass_sms_sent_total", (("provider", "file"),))] == 3


@pytest.fixture
def guarded(datadir: DataDir, clock: FakeClock, aiohttp_client: Callable[..., Awaitable[TestClient]]
            ) -> Callable[[], Awaitable[TestClient]]:
    config = ServerConfig(metrics=MetricsConfig(allow=["10.0.0.0/8"], token="s3cret-metrics-token"),
                          auth=AuthConfig(trusted_proxies=["127.0.0.1"]))

    async def make() -> TestClient:
        return await aiohttp_client(create_app(datadir, clock=clock, config=config,
                                               hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False, run_jobs=False))

    return make


async def test_metrics_answer_only_allowed_addresses_or_the_token(
        guarded: Callable[[], Awaitable[TestClient]]) -> None:
    client = await guarded()
    r = await client.get("/metrics")  # loopback is not in this allow-list
    assert r.status == 403 and "[metrics] allow" in await r.text()
    assert "campuspass_" not in await r.text()
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"})).status == 403
    await scrape(client, Authorization="Bearer s3cret-metrics-token")
    # Behind the trusted proxy the client is the forwarded address: one inside 10/8 is let in.
    await scrape(client, **{"X-Forwarded-For": "10.20.30.40"})
    assert (await client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"})).status == 403
    assert (await client.get("/healthz")).status == 200  # probes stay open


async def test_readyz_says_503_once_the_database_is_gone(client: TestClient, tmp_path: Path) -> None:
    r = await client.get("/readyz")
    assert r.status == 200 and await r.text() == "ready\n"
    assert (await client.get("/healthz")).status == 200
    db = await Database.open(tmp_path / "other.sqlite3")
    assert await readiness(db) == (200, "ready\n")
    await db.close()  # as after a fatal storage error
    assert await readiness(db) == (503, "database unavailable\n")


def test_bad_metrics_config_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('[metrics]\nallow = ["10.0.0.0/33"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "10.0.0.0/33" in err.value.message
    path.write_text('[metrics]\ntoken = "short"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert "16 characters" in err.value.message
