"""Node enrolment: both ways end with a node whose signed requests the server accepts (real
loopback HTTP against ``create_app``, requests signed with ``shared.node_auth``); used, expired,
cancelled and unknown tokens are refused with their own codes; a disabled node is refused;
``edge check-config`` accepts the bundle ``provision node`` writes."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from edge.bundle import BundleError, check_bundle, load_node_key
from edge.config import load_node_config
from provisioning.enrol import provision_node
from provisioning.enrol_client import EnrolClientError, enroll
from server.app import create_app
from server.datadir import DataDir
from server.enrolment import EnrolError, create_token, hash_token
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.web import state
from shared.clock import FakeClock, to_unix
from shared.errors import ConfigError
from shared.keys import Ed25519PrivateKey, b64u_encode, public_key_bytes
from shared.node_auth import sign_request
from tests.server.conftest import activate, add_person

AiohttpClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def app(dd: DataDir, clock: FakeClock) -> web.Application:
    return create_app(dd, clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False, run_jobs=False)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, app: web.Application) -> TestClient:
    client = await aiohttp_client(app)
    await Buildings(app[state.SERVICES].db).add_building("D7", "Dormitory 7", "dorms")
    return client


async def login_system_admin(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await add_person(app, "it001", role="system_admin", department=None)
    await activate(client, "it001")


async def signed_sync(client: TestClient, node_id: str, key: Ed25519PrivateKey, clock: FakeClock) -> tuple[int, dict]:
    """One signed sync request (an empty batch with a heartbeat), as a door node sends it."""
    now_ms = int(clock.now().timestamp() * 1000)
    body = json.dumps({"heartbeat": {"node_time_ms": now_ms, "queue_depth": 0, "software_version": "test",
                                     "trust_version": 1, "revocation_version": 0, "policy_version": 0},
                       "records": []}).encode()
    path = f"/api/v1/nodes/{node_id}/sync"
    headers = sign_request(key, node_id, "POST", path, body, to_unix(clock.now()))
    resp = await client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
    return resp.status, await resp.json()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- provision node (server side) --------------------------------------------------------------


async def test_provisioned_node_signs_requests_the_server_accepts(
    client: TestClient, dd: DataDir, clock: FakeClock, tmp_path: Path,
) -> None:
    app = client.server.app
    assert app is not None
    out = tmp_path / "bundle"
    result = await provision_node(dd, app[state.SERVICES].db, name="d7-east-1", building="D7", direction="entry",
                                  server_url="https://pass.example.edu/", out=out, now=clock.now())
    assert result.node.id == "d7-east-1"
    assert sorted(p.name for p in out.iterdir()) == [
        "node.key", "node.toml", "policy.json", "revocations.json", "root.pub", "trust-bundle.json"]
    assert mode(out / "node.key") == 0o600 and mode(out) == 0o700
    config = load_node_config(out / "node.toml")
    assert (config.node.id, config.node.building, config.node.direction, config.node.server_url) == (
        "d7-east-1", "D7", "entry", "https://pass.example.edu")
    key = load_node_key(config)
    node = await Nodes(app[state.SERVICES].db).get("d7-east-1")
    assert node is not None and node.public_key == public_key_bytes(key)
    assert (out / "root.pub").read_text().strip() == b64u_encode(dd.root_public())

    status, doc = await signed_sync(client, "d7-east-1", key, clock)
    assert status == 200, doc
    # someone else's key under this node's name is refused
    from shared.keys import generate_key

    status, doc = await signed_sync(client, "d7-east-1", generate_key(), clock)
    assert (status, doc["error"]["code"]) == (401, "bad_node_signature")


async def test_provision_node_refuses_unknown_building_and_taken_id(
    client: TestClient, dd: DataDir, clock: FakeClock, tmp_path: Path,
) -> None:
    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    with pytest.raises(Exception) as err:
        await provision_node(dd, db, name="x1", building="NOPE", direction="entry", server_url="", out=tmp_path / "a",
                             now=clock.now())
    assert getattr(err.value, "code", "") == "unknown_building"
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    await provision_node(dd, db, name="x1", building="D7", direction="exit", server_url="", out=tmp_path / "b",
                         now=clock.now())
    with pytest.raises(Exception) as err:
        await provision_node(dd, db, name="x1", building="D7", direction="exit", server_url="",
                             out=tmp_path / "c", now=clock.now())
    assert getattr(err.value, "code", "") == "node_exists"
    assert not (tmp_path / "c" / "node.key").exists()
    # the bundle folder is never overwritten
    with pytest.raises(Exception) as err:
        await provision_node(dd, db, name="x2", building="D7", direction="exit", server_url="", out=tmp_path / "b",
                             now=clock.now())
    assert getattr(err.value, "code", "") == "bundle_exists"
    assert await Nodes(db).get("x2") is None


# ---- one-time token (on the Pi) ----------------------------------------------------------------


async def test_token_enrolment_end_to_end_over_http(client: TestClient, dd: DataDir, clock: FakeClock,
                                                    tmp_path: Path) -> None:
    app = client.server.app
    assert app is not None
    await login_system_admin(client)
    resp = await client.post("/api/v1/admin/enrolment-tokens",
                             json={"name": "7号楼东门", "building": "D7", "direction": "entry",
                                   "node_id": "d7-east-2", "ttl_hours": 2})
    assert resp.status == 200, await resp.text()
    made = await resp.json()
    token = made["token"]
    assert made["info"]["state"] == "pending" and made["root_public"] == b64u_encode(dd.root_public())

    url = str(client.make_url("/"))
    out = tmp_path / "pi-bundle"
    enrolled = await enroll(url, token, out, pinned_root=dd.root_public())
    assert enrolled.node_id == "d7-east-2"
    config = load_node_config(out / "node.toml")
    assert config.node.name == "7号楼东门" and config.node.server_url == url.rstrip("/")
    check_bundle(config)
    key = load_node_key(config)
    assert public_key_bytes(key) == enrolled.public_key
    assert mode(out / "node.key") == 0o600
    node = await Nodes(app[state.SERVICES].db).get("d7-east-2")
    assert node is not None and node.public_key == public_key_bytes(key)

    status, doc = await signed_sync(client, "d7-east-2", key, clock)
    assert status == 200, doc

    # single use
    with pytest.raises(EnrolClientError) as err:
        await enroll(url, token, tmp_path / "again")
    assert err.value.code == "token_used"
    assert not (tmp_path / "again" / "node.key").exists()

    listing = await (await client.get("/api/v1/admin/enrolment-tokens")).json()
    assert [(t["node_id"], t["state"]) for t in listing["tokens"]] == [("d7-east-2", "used")]
    # only the hash is stored
    assert token.encode() not in dd.db_path.read_bytes()
    rows = await app[state.SERVICES].db.fetch_all("SELECT token_hash FROM enrolment_tokens")
    assert [r[0] for r in rows] == [hash_token(token)]


async def test_expired_unknown_and_cancelled_tokens_are_refused(client: TestClient, dd: DataDir,
                                                                 clock: FakeClock, tmp_path: Path) -> None:
    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    url = str(client.make_url("/"))
    expiring = await create_token(dd, db, name="d7-a", building="D7", direction="entry", now=clock.now(),
                                  ttl_s=3600)
    clock.advance(3600)
    with pytest.raises(EnrolClientError) as err:
        await enroll(url, expiring.token, tmp_path / "x")
    assert err.value.code == "token_expired"

    with pytest.raises(EnrolClientError) as err:
        await enroll(url, "cpe1_not-a-token-we-ever-made", tmp_path / "x")
    assert err.value.code == "unknown_token"

    await login_system_admin(client)
    cancelled = await create_token(dd, db, name="d7-b", building="D7", direction="exit", now=clock.now())
    resp = await client.post(f"/api/v1/admin/enrolment-tokens/{cancelled.row.id}/cancel", json={})
    assert resp.status == 200, await resp.text()
    with pytest.raises(EnrolClientError) as err:
        await enroll(url, cancelled.token, tmp_path / "x")
    assert err.value.code == "token_cancelled"
    assert await Nodes(db).all() == []
    assert not (tmp_path / "x" / "node.key").exists()

    # the raw endpoint: status codes and the one envelope
    for token, status, code in ((expiring.token, 410, "token_expired"), ("nope", 401, "unknown_token")):
        resp = await client.post("/api/v1/nodes/enroll", json={"token": token, "public_key": "A" * 43})
        assert resp.status == status
        assert (await resp.json())["error"]["code"] == code
    resp = await client.post("/api/v1/nodes/enroll", json={"token": 5})
    assert resp.status == 422


async def test_a_wrong_pinned_root_refuses_the_server(client: TestClient, dd: DataDir, clock: FakeClock,
                                                      tmp_path: Path) -> None:
    app = client.server.app
    assert app is not None
    new = await create_token(dd, app[state.SERVICES].db, name="d7-c", building="D7", direction="entry", now=clock.now())
    with pytest.raises(Exception) as err:
        await enroll(str(client.make_url("/")), new.token, tmp_path / "b", pinned_root=bytes(32))
    assert getattr(err.value, "code", "") == "root_mismatch"
    assert not (tmp_path / "b" / "node.key").exists()
    # the server consumed the token before the client saw the root: the message says what to do
    assert "token is now used" in str(err.value) and "disable node d7-c" in str(err.value)


async def test_token_creation_checks(client: TestClient, dd: DataDir, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    for kwargs, code in (
        ({"building": "NOPE"}, "unknown_building"),
        ({"ttl_s": 10}, "bad_ttl"),
        ({"direction": "sideways"}, "bad_direction"),
        ({"node_id": "bad id!"}, "bad_node_id"),
    ):
        args = {"name": "n1", "building": "D7", "direction": "entry", **kwargs}
        with pytest.raises(Exception) as err:
            await create_token(dd, db, now=clock.now(), **args)  # type: ignore[arg-type]
        assert getattr(err.value, "code", "") == code
    await create_token(dd, db, name="n1", building="D7", direction="entry", now=clock.now())
    with pytest.raises(EnrolError) as err2:
        await create_token(dd, db, name="n1", building="D7", direction="entry", now=clock.now())
    assert err2.value.code == "token_pending"

    resp = await client.post("/api/v1/admin/enrolment-tokens", json={"name": "n", "building": "D7",
                                                                     "direction": "entry"})
    assert resp.status == 401  # not logged in
    await add_person(app, "sa001", role="school_admin", department=None)
    await activate(client, "sa001")
    resp = await client.post("/api/v1/admin/enrolment-tokens", json={"name": "n", "building": "D7",
                                                                     "direction": "entry"})
    assert resp.status == 403  # system admins only


# ---- disabling ---------------------------------------------------------------------------------


async def test_a_disabled_node_is_refused_until_enabled(client: TestClient, dd: DataDir, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    app = client.server.app
    assert app is not None
    await provision_node(dd, app[state.SERVICES].db, name="d7-west", building="D7", direction="exit",
                         server_url="http://127.0.0.1:8080", out=tmp_path / "b", now=clock.now())
    key = load_node_key(load_node_config(tmp_path / "b" / "node.toml"))
    assert (await signed_sync(client, "d7-west", key, clock))[0] == 200

    await login_system_admin(client)
    resp = await client.post("/api/v1/nodes/d7-west/disable", json={})
    assert resp.status == 200 and (await resp.json()) == {"id": "d7-west", "enabled": False}
    status, doc = await signed_sync(client, "d7-west", key, clock)
    assert (status, doc["error"]["code"]) == (403, "node_disabled")

    resp = await client.post("/api/v1/nodes/d7-west/enable", json={})
    assert resp.status == 200
    assert (await signed_sync(client, "d7-west", key, clock))[0] == 200

    resp = await client.post("/api/v1/nodes/nobody/disable", json={})
    assert (resp.status, (await resp.json())["error"]["code"]) == (404, "unknown_node")
    audit = await app[state.SERVICES].db.fetch_all("SELECT action FROM audit_log ORDER BY id")
    assert [r[0] for r in audit if r[0].startswith("node_")] == ["node_disabled", "node_enabled"]


async def test_enrolment_routes_are_in_the_openapi_document(client: TestClient) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["paths"]["/api/v1/nodes/enroll"]["post"]["x-roles"] == ["anyone"]
    assert "requestBody" in doc["paths"]["/api/v1/nodes/enroll"]["post"]
    assert set(doc["paths"]["/api/v1/admin/enrolment-tokens"]) == {"get", "post"}
    assert "post" in doc["paths"]["/api/v1/nodes/{node_id}/disable"]


# ---- the enrolment page --------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOKEN = re.compile(r"--token (cpe1_[A-Za-z0-9_-]+)")


async def test_enrolment_page_makes_a_token_shown_once(client: TestClient, dd: DataDir, clock: FakeClock,
                                                       tmp_path: Path) -> None:
    await login_system_admin(client)
    fleet = await (await client.get("/admin/nodes")).text()
    assert 'href="/admin/enrolment"' in fleet  # the fleet page links here for system admins
    page = await client.get("/admin/enrolment")
    assert page.status == 200
    html = await page.text()
    assert "门禁节点注册" in html  # zh-CN first
    csrf = _CSRF.search(html)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "name": "Dorm 7 east", "building": "D7", "direction": "entry",
            "node_id": "", "ttl_hours": "24"}
    resp = await client.post("/admin/enrolment", data=form)
    assert resp.status == 200
    html = await resp.text()
    token = _TOKEN.search(html)
    assert token is not None
    assert token.group(1) not in await (await client.get("/admin/enrolment")).text()  # shown once

    enrolled = await enroll(str(client.make_url("/")), token.group(1), tmp_path / "b", pinned_root=dd.root_public())
    assert enrolled.node_id.startswith("d7-entry-")
    listed = await (await client.get("/admin/enrolment")).text()
    assert enrolled.node_id in listed

    resp = await client.post("/admin/enrolment", data={**form, "building": "NOPE"})
    assert resp.status == 422
    resp = await client.post("/admin/enrolment", data={**form, "csrf_token": "forged"})
    assert resp.status == 403

    resp = await client.post(f"/admin/enrolment/nodes/{enrolled.node_id}/disable",
                             data={"csrf_token": csrf.group(1)}, allow_redirects=False)
    assert resp.status == 303
    app = client.server.app
    assert app is not None
    node = await Nodes(app[state.SERVICES].db).get(enrolled.node_id)
    assert node is not None and not node.enabled


async def test_two_nodes_racing_with_one_token_enrol_once(client: TestClient, dd: DataDir, clock: FakeClock) -> None:
    import asyncio

    from server.enrolment import enrol_with_token
    from shared.keys import generate_key

    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    new = await create_token(dd, db, name="d7-race", building="D7", direction="entry", now=clock.now())
    keys = [public_key_bytes(generate_key()) for _ in range(2)]
    results = await asyncio.gather(
        *(enrol_with_token(dd, db, token=new.token, public_key=k, now=clock.now()) for k in keys),
        return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert getattr(lost[0], "code", "") == "token_used"
    node = await Nodes(db).get("d7-race")
    assert node is not None and node.public_key == won[0].node.public_key
    with pytest.raises(EnrolError) as err:
        await create_token(dd, db, name="", building="D7", direction="entry", now=clock.now())
    assert err.value.code == "bad_name"


async def test_the_door_nodes_own_sync_client_runs_on_an_enrolled_bundle(
    client: TestClient, dd: DataDir, clock: FakeClock, tmp_path: Path,
) -> None:
    """The real node: its store seeds from the bundle ``provision enroll`` wrote, and its sync
    client (``edge.sync``) completes a round with the key made on the Pi; disabled, it cannot."""
    from edge.node import open_store
    from edge.sync import SyncClient, SyncFailed

    app = client.server.app
    assert app is not None
    new = await create_token(dd, app[state.SERVICES].db, name="d7-node", building="D7", direction="entry",
                             now=clock.now())
    await enroll(str(client.make_url("/")), new.token, tmp_path / "b", pinned_root=dd.root_public())
    config = load_node_config(tmp_path / "b" / "node.toml")
    store = await open_store(config)
    sync = SyncClient(store, config, load_node_key(config), clock=clock)
    try:
        result = await sync.sync_round()
        assert result.requests == 1
        node = await Nodes(app[state.SERVICES].db).get("d7-node")
        assert node is not None and node.last_seen_at_s == to_unix(clock.now())

        await login_system_admin(client)
        assert (await client.post("/api/v1/nodes/d7-node/disable", json={})).status == 200
        with pytest.raises(SyncFailed):
            await sync.sync_round()
    finally:
        await sync.aclose()
        await store.close()


async def test_cancelling_a_token_with_a_non_ascii_or_huge_id_is_404(client: TestClient) -> None:
    await login_system_admin(client)
    # '²' passes str.isdigit() but not int(); 30 digits overflow SQLite's INTEGER
    for token_id in ("%C2%B2", "9" * 30):
        resp = await client.post(f"/api/v1/admin/enrolment-tokens/{token_id}/cancel", json={})
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["code"] == "unknown_token"
        page = await client.get("/admin/enrolment")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert csrf is not None
        resp = await client.post(f"/admin/enrolment/tokens/{token_id}/cancel", data={"csrf_token": csrf.group(1)})
        assert resp.status == 404, await resp.text()


async def test_concurrent_token_requests_for_one_node_make_one_token(client: TestClient, dd: DataDir,
                                                                       clock: FakeClock) -> None:
    import asyncio

    app = client.server.app
    assert app is not None
    db = app[state.SERVICES].db
    results = await asyncio.gather(*[
        create_token(dd, db, name="d7-race", building="D7", direction="entry", now=clock.now(), node_id="d7-race")
        for _ in range(6)], return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, EnrolError)]
    assert len(made) == 1 and len(refused) == 5, results
    assert {e.code for e in refused} == {"token_pending"}


# ---- plain http ------------------------------------------------------------------------------


async def test_plain_http_to_another_machine_is_refused_unless_allowed(
    client: TestClient, dd: DataDir, clock: FakeClock, tmp_path: Path,
) -> None:
    app = client.server.app
    assert app is not None
    with pytest.raises(BundleError) as err:
        await provision_node(dd, app[state.SERVICES].db, name="d7-plain", building="D7", direction="entry",
                             server_url="http://10.20.0.5:8080", out=tmp_path / "plain", now=clock.now())
    assert err.value.code == "plain_http" and "https://" in err.value.message
    assert not (tmp_path / "plain").exists() and await Nodes(app[state.SERVICES].db).get("d7-plain") is None
    with pytest.raises(BundleError) as err:
        await enroll("http://pass.example.edu", "token", tmp_path / "plain2")
    assert err.value.code == "plain_http"

    await provision_node(dd, app[state.SERVICES].db, name="d7-plain", building="D7", direction="entry",
                         server_url="http://10.20.0.5:8080", out=tmp_path / "plain", now=clock.now(),
                         allow_plain_http=True)
    config = load_node_config(tmp_path / "plain" / "node.toml")
    assert config.node.server_url == "http://10.20.0.5:8080" and config.node.allow_plain_http
    text = (tmp_path / "plain" / "node.toml").read_text().replace("allow_plain_http = true", "")
    (tmp_path / "plain" / "node.toml").write_text(text)
    with pytest.raises(ConfigError, match="plain http"):
        load_node_config(tmp_path / "plain" / "node.toml")
