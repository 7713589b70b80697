"""Separation of duties (ARCHITECTURE §10): the role × power table in docs/security.md is the
one the server enforces (``server.duties``); every route of the OpenAPI document, called as every
role, lets exactly the roles of its power past the role check; the escalations a system admin
or a school admin could try are refused; SMS pages mask one-time codes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.duties import POWERS, ROLES, ROUTE_POWERS
from server.roster import RosterError, import_roster
from server.storage.people import People
from server.storage.sms import SmsOutboxStore
from server.web import state
from shared.clock import to_unix
from tests.server.conftest import activate, add_person

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
COLUMNS = ("anonymous", *ROLES)
NUMBERS = {"student": "R-S", "staff": "R-ST", "counsellor": "R-C", "school_admin": "R-SA", "system_admin": "R-SY"}
PATH_VALUES = {"number": "R-T", "id": "999999", "node_id": "no-such-node", "token_id": "999999", "code": "NOPE"}


def docs_table() -> dict[str, frozenset[str]]:
    """The separation-of-duties table of docs/security.md: power → roles marked ✓."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Separation of duties", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    header = next(line for line in section.splitlines() if line.startswith("| power"))
    assert [c.strip() for c in header.strip("|").split("|")][1:-1] == list(COLUMNS)
    out = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        power = cells[0].strip("`")
        out[power] = frozenset(role for role, mark in zip(COLUMNS, cells[1:-1], strict=True) if mark == "✓")
    return out


def test_the_documented_table_is_the_enforced_one() -> None:
    assert docs_table() == POWERS


async def _clients(aiohttp_client: Callable[..., Awaitable[TestClient]], app: web.Application
                   ) -> dict[str, TestClient]:
    first = await aiohttp_client(app)
    clients = {"anonymous": first}
    await add_person(app, "R-T")
    for role, number in NUMBERS.items():
        department = "CS" if role in ("student", "staff", "counsellor") else None
        await add_person(app, number, role=role, department=department,
                         departments=("CS",) if role == "counsellor" else ())
        c = await aiohttp_client(first.server)
        await activate(c, number)
        clients[role] = c
    return clients


def _path(template: str) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: PATH_VALUES[m.group(1)], template)


async def test_every_route_lets_exactly_the_roles_of_its_power_through(
    aiohttp_client: Callable[..., Awaitable[TestClient]], app: web.Application
) -> None:
    clients = await _clients(aiohttp_client, app)
    doc = await (await clients["anonymous"].get("/api/v1/openapi.json")).json()
    routes = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]
    missing = [f"{m} {p}" for m, p in routes if f"{m} {p}" not in ROUTE_POWERS]
    assert missing == [], f"routes without a power in server.duties.ROUTE_POWERS: {missing}"
    assert len(routes) >= 60
    wrong = []
    for method, template in routes:
        power = ROUTE_POWERS[f"{method} {template}"]
        for role in COLUMNS:
            if template == "/api/v1/auth/logout" and role != "anonymous":
                continue  # would end the session the rest of the table needs
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
            r = await clients[role].request(method, _path(template), **kwargs)
            body = await r.json() if r.content_type == "application/json" else {}
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            refused = (r.status, code) == ((401, "not_logged_in") if role == "anonymous" else (403, "forbidden"))
            if refused == (role in POWERS[power]):
                wrong.append(f"{role} {method} {template}: {r.status} {code} (power {power})")
            assert r.status < 500, f"{role} {method} {template}: {r.status}"
    assert wrong == []


async def test_escalations_are_refused(aiohttp_client: Callable[..., Awaitable[TestClient]],
                                       app: web.Application) -> None:
    clients = await _clients(aiohttp_client, app)
    sa, sy = clients["school_admin"], clients["system_admin"]
    # No admin resets another admin's (or its own) password through the web.
    for client, target in ((sa, "R-SY"), (sy, "R-SA"), (sa, "R-SA"), (sy, "R-SY")):
        r = await client.post(f"/api/v1/admin/people/{target}/reset-password", json={})
        assert r.status == 403, target
    assert (await (await sa.post("/api/v1/admin/people/R-SY/reset-password", json={})).json()
            )["error"]["code"] == "command_line_only"
    # The system admin resets nobody (it knows the roster's ID digits: it could log in as them).
    r = await sy.post("/api/v1/admin/people/R-T/reset-password", json={})
    assert r.status == 403
    r = await sa.post("/api/v1/admin/people/R-T/reset-password", json={})
    assert r.status == 200
    # The system admin sees no person, pass or serial to join with the person-free scan log.
    for path in ("/api/v1/people", "/api/v1/people/R-T", "/api/v1/people/R-T/pass"):
        assert (await sy.get(path)).status == 403, path
    # A roster grants no admin role and changes no admin account.
    db = app[state.SERVICES].db
    header = "number,name,id_last6,department_code,department_name,role\n"
    try:
        await import_roster(db, app[state.HASHER], (header + "X1,Eve,123456,CS,CS,school_admin\n").encode(),
                            now_s=to_unix(app[state.CLOCK].now()), actor_number="R-SY")
        raise AssertionError("a roster granted school_admin")
    except RosterError as exc:
        assert "role" in str(exc.problems[0])
    try:
        await import_roster(db, app[state.HASHER], (header + "R-SA,Eve,654321,CS,CS,student\n").encode(),
                            now_s=to_unix(app[state.CLOCK].now()), actor_number="R-SY")
        raise AssertionError("a roster changed an admin account")
    except RosterError as exc:
        assert "admin account" in str(exc.problems[0])
    person = await People(db).by_number("R-SA")
    assert person is not None and person.role == "school_admin"
    assert await People(db).by_number("X1") is None


async def test_sms_pages_mask_one_time_codes(aiohttp_client: Callable[..., Awaitable[TestClient]],
                                            app: web.Application) -> None:
    clients = await _clients(aiohttp_client, app)
    await add_person(app, "R-P")
    other = await aiohttp_client(clients["anonymous"].server)
    r = await other.post("/api/v1/auth/login", json={"username": "R-P", "password": "12345X"})
    assert r.status == 200
    r = await other.post("/api/v1/auth/phone/code", json={"phone": "13912345678"})
    assert r.status == 200
    rows = await SmsOutboxStore(app[state.SERVICES].db).recent()
    live = next(m for m in rows if m.phone == "13912345678")
    code = re.search(r"\d{6}", live.body)
    assert code is not None
    for role in ("school_admin", "system_admin"):
        text = await (await clients[role].get("/api/v1/admin/sms")).text()
        assert code.group() not in text, role
        page = await (await clients[role].get("/admin/sms")).text()
        assert code.group() not in page, role
    shown = await (await clients["system_admin"].get("/api/v1/admin/sms")).json()
    assert all("****" in m["phone"] for m in shown["messages"])
