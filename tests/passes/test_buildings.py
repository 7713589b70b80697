"""Buildings, groups and door rules (API, pages, CLI); pass scopes with dormitory groups; every
issued pass fits QR version 6 at M."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from campuspass.cli import main
from server.app import create_app
from server.arrivals import Arrivals
from server.config import ServerConfig
from server.datadir import DataDir
from server.passes import check_online
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.qr import MAX_VERSION, qr_version
from server.storage.buildings import Buildings
from server.storage.passes import Passes
from server.web import state
from shared.clock import FakeClock
from shared.config import from_mapping
from shared.decision import Reason
from shared.pass_format import decode_pass
from shared.policy import verify_policy_document
from tests.passes.conftest import approve, login, people, person


@pytest.fixture
def app(datadir: DataDir, clock: FakeClock) -> web.Application:
    """Two campus-wide groups, so a dormitory resident's pass carries the maximum of 3 scopes."""
    config = from_mapping(ServerConfig, {"passes": {"campus_groups": ["campus", "library"]}})
    return create_app(datadir, clock=clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False,
                      config=config, run_jobs=False)


async def test_buildings_api_rules_and_signed_policy(client: TestClient) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    await login(client, "c1")
    assert (await client.get("/api/v1/buildings")).status == 403
    await login(client, "a1")
    r = await client.post("/api/v1/building-groups",
                          json={"name": "dorm-east", "allowed_statuses": ["green"], "hours": ["06:00-23:30"]})
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/buildings", json={"code": "D7", "name": "Dormitory 7", "group": "dorm-east"})
    r = await client.post("/api/v1/buildings", json={"code": "LIB", "name": "Main Library", "group": "library"})
    r = await client.post("/api/v1/buildings", json={"code": "ARR", "name": "Arrival desk", "group": "arrival"})
    r = await client.post("/api/v1/building-groups", json={"name": "arrival", "allowed_statuses": ["black", "green"]})
    body = await r.json()
    groups = {g["name"]: g for g in body["groups"]}
    assert groups["dorm-east"]["hours"] == ["06:00-23:30"]
    assert groups["arrival"]["allowed_statuses"] == ["green", "black"]
    assert {b["code"]: b["group"] for b in body["buildings"]} == {
        "ARR": groups["arrival"]["id"], "D7": groups["dorm-east"]["id"], "LIB": groups["library"]["id"]}
    for bad in ({"name": "g", "allowed_statuses": ["red"]}, {"name": "g", "hours": ["7-23"]},
                {"name": "g", "allowed_statuses": []}, {"name": "", "hours": []}):
        r = await client.post("/api/v1/building-groups", json=bad)
        assert r.status == 422, bad
    r = await client.post("/api/v1/buildings", json={"code": "bad code!", "name": "x"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_building_code"

    doc = await (await client.get("/api/v1/buildings/policy")).json()
    policy = verify_policy_document(doc, app[state.DATADIR].trust_bundle(), doc["issued_at"])
    assert policy.version == body["version"]
    assert policy.for_building("D7").hours and policy.for_building("LIB").hours == ()



async def test_group_hours_are_stored_as_ascii_and_names_refuse_control_characters(client: TestClient) -> None:
    await people(client)
    await login(client, "a1")
    r = await client.post("/api/v1/building-groups",
                          json={"name": "g-odd", "hours": ["٠٨:٠٠-١٢:٠٠", "８:００-１２:３０", "+7:00-24:00"]})
    assert r.status == 200, await r.text()
    groups = {g["name"]: g for g in (await r.json())["groups"]}
    assert groups["g-odd"]["hours"] == ["08:00-12:00", "08:00-12:30", "07:00-24:00"]
    for bad in ({"name": "g\x00"}, {"name": "two\nlines"}, {"name": "g", "hours": ["08:00-09:00"] * 25}):
        r = await client.post("/api/v1/building-groups", json=bad)
        assert r.status == 422, bad
        assert (await r.json())["error"]["code"] == "invalid_field"
    for name in ("Lib\x00", "Lib\x1b[31m"):
        r = await client.post("/api/v1/buildings", json={"code": "L2", "name": name, "group": "g-odd"})
        assert r.status == 422, name
    r = await client.get("/api/v1/buildings")
    assert "L2" not in {b["code"] for b in (await r.json())["buildings"]}

async def test_dormitory_scope_and_version_6(client: TestClient, clock: FakeClock) -> None:
    app = client.server.app
    assert app is not None
    await people(client)
    repo = Buildings(app[state.SERVICES].db)
    await repo.add_building("D7", "Dormitory 7", "dorm-east")
    await repo.add_building("D9", "Dormitory 9", "dorm-west")
    await repo.add_building("LIB", "Main Library", "library")
    await login(client, "a1")
    r = await client.post("/api/v1/people/s1/dormitory", json={"group": "dorm-east"})
    assert r.status == 200 and (await r.json())["dormitory_group"] == "dorm-east"
    r = await client.post("/api/v1/people/s1/dormitory", json={"group": "no-such"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "unknown_group"

    texts = []
    for number in ("s1", "o1"):
        await approve(client, number)
        p, c1 = await person(app, number), await person(app, "c1")
        await Arrivals(app[state.SERVICES].passes).confirm_arrival(p.id, c1, clock.now(), method="number")
        row = await app[state.SERVICES].passes.store.get(p.id)
        assert row.current_text
        texts.append(row.current_text)
    resident, other = texts
    ids = dict(zip(["campus", "library", "dorm-east"],
                   await repo.group_ids(["campus", "library", "dorm-east"]), strict=True))
    assert decode_pass(resident).fields.scope == (ids["campus"], ids["library"], ids["dorm-east"])
    assert decode_pass(other).fields.scope == (ids["campus"], ids["library"])
    assert len(resident) == 154 and qr_version(resident) <= MAX_VERSION

    async def at(text: str, building: str) -> Reason:
        v = await check_online(app[state.DATADIR], Passes(app[state.SERVICES].db), repo, text, clock.now(), building)
        return v.reason

    assert await at(resident, "D7") is Reason.ACCEPTED
    assert await at(other, "D7") is Reason.OUT_OF_SCOPE
    assert await at(resident, "D9") is Reason.OUT_OF_SCOPE
    assert await at(other, "LIB") is Reason.ACCEPTED

    # every pass the server issued fits version 6-M
    rows = await app[state.SERVICES].db.fetch_all("SELECT COUNT(*) FROM passes")
    assert rows[0][0] >= 4
    for text in texts:
        assert qr_version(text) <= MAX_VERSION


async def test_buildings_page_forms(client: TestClient) -> None:
    await people(client)
    await login(client, "a1")
    r = await client.get("/admin/buildings")
    page = await r.text()
    assert r.status == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = await client.post("/admin/building-groups", allow_redirects=False, data={
        "csrf_token": token.group(1), "name": "teaching", "allowed_statuses": "green", "hours": "07:00-22:00"})
    assert r.status == 303
    r = await client.post("/admin/buildings", allow_redirects=False, data={
        "csrf_token": token.group(1), "code": "T1", "name": "Teaching 1", "group": "teaching"})
    assert r.status == 303
    page = await (await client.get("/admin/buildings")).text()
    assert "Teaching 1" in page and "07:00-22:00" in page
    r = await client.post("/admin/buildings", data={"csrf_token": token.group(1), "code": "no good", "name": "x"})
    assert r.status == 400
    r = await client.post("/admin/building-groups", data={"csrf_token": token.group(1), "name": "t", "hours": "25:00-26:00"})
    assert r.status == 422
    r = await client.post("/admin/buildings", data={"code": "T2", "name": "no csrf"})
    assert r.status == 403


def test_cli_building_group(datadir: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(datadir.root)
    assert main(["server", "building", "add", "--data", data, "D7", "Dormitory 7", "--group", "dorm-east"]) == 0
    assert main(["server", "building", "group", "--data", data, "dorm-east", "--statuses", "green",
                 "--hours", "06:00-23:30"]) == 0
    out = capsys.readouterr().out
    assert "dorm-east: statuses=green hours=06:00-23:30" in out
    assert main(["server", "building", "group", "--data", data, "arrival", "--statuses", "green,black"]) == 0
    assert main(["server", "building", "group", "--data", data, "dorm-east", "--hours", "always"]) == 0
    capsys.readouterr()
    assert main(["server", "building", "list", "--data", data]) == 0
    out = capsys.readouterr().out
    assert "arrival: statuses=green,black hours=always" in out
    assert "dorm-east: statuses=green hours=always" in out
    assert main(["server", "building", "group", "--data", data, "x", "--statuses", "purple"]) == 2
    assert "purple" in capsys.readouterr().err

