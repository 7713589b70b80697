"""Pieces of the sync tests: a real server on 127.0.0.1 that can go down and come back, an
enrolled node bundle, and fast offline scans through the node store's append path."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from edge.bundle import write_bundle
from edge.config import NodeConfig, load_node_config, node_config_from_mapping
from edge.store import NodeStore
from server.app import create_app
from server.datadir import DataDir
from server.passes import issue_pass
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.storage.passes import Passes
from server.sync import SyncService
from server.web import state
from shared.clock import FakeClock, to_unix
from shared.keys import Ed25519PrivateKey, generate_key, public_key_bytes
from shared.pass_format import PassStatus
from shared.scanlog import ScanRecord, uuid7

# 2026-03-02 10:00 Asia/Shanghai.
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server keeps it across restarts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(app: web.Application, port: int) -> web.AppRunner:
    """Run ``app`` on 127.0.0.1:``port``; returns its runner (:func:`stop` stops it)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def stop(runner: web.AppRunner | None) -> None:
    """Stop what :func:`serve` started (nothing when None); returns None, the runner's new value."""
    if runner is not None:
        await runner.cleanup()


class LoopbackServer:
    """The campuspass server app on 127.0.0.1:``port``, stoppable and restartable (a new app on
    the same data directory each start, like a process restart)."""

    def __init__(self, datadir: DataDir, clock: FakeClock, port: int | None = None) -> None:
        self.datadir = datadir
        self.clock = clock
        self.port = port or free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app

    async def start(self) -> None:
        self.runner = await serve(create_app(self.datadir, clock=self.clock, hasher=PasswordHasher(FAST_TEST_PARAMS),
                                             run_sms_sender=False, run_jobs=False), self.port)

    async def stop(self) -> None:
        self.runner = await stop(self.runner)

    async def scan_count(self, node_id: str | None = None) -> int:
        row = await self.app[state.SERVICES].db.fetch_one(
            "SELECT COUNT(*) FROM scans" + (" WHERE node_id = ?" if node_id else ""), (node_id,) if node_id else ())
        assert row is not None
        return int(row[0])


async def add_buildings(server: LoopbackServer) -> dict[str, int]:
    """Buildings D7 (group dorms) and LIB (group library); returns ``{group name: id}``."""
    b = Buildings(server.app[state.SERVICES].db)
    await b.add_building("D7", "Dormitory 7", "dorms")
    await b.add_building("LIB", "Library", "library")
    return {g.name: g.id for g in await b.groups()}


@dataclass
class EnrolledNode:
    config: NodeConfig
    key: Ed25519PrivateKey


async def enrol_node(server: LoopbackServer, folder: Path, node_id: str = "d7-east", building: str = "D7",
                     status_port: int = 0, **sync: Any) -> EnrolledNode:
    """Register a node on the server and write its bundle (as provisioning does); ``status_port``
    0: no status endpoint."""
    app = server.app
    now_s = to_unix(server.clock.now())
    key = generate_key()
    await Nodes(app[state.SERVICES].db).register(node_id, building=building, public_key=public_key_bytes(key), now_s=now_s,
                                        name=f"{building} door")
    docs = await SyncService(app[state.SERVICES].db, server.datadir, app[state.CONFIG].sync).enrolment_documents(now_s)
    data: dict[str, Any] = {
        "node": {"id": node_id, "name": node_id, "building": building, "data_dir": "data",
                 "server_url": server.url},
        "camera": {"source": "dir:incoming"},
        "gpio": {"pin_factory": "mock"},
        "status": {"port": status_port},
        "sync": {"interval_s": 0.05, "backoff_initial_s": 0.05, "backoff_max_s": 0.2, "connect_timeout_s": 2.0,
                 "read_timeout_s": 10.0, **sync},
    }
    cfg = node_config_from_mapping(data, folder)
    assert docs["revocations"] is not None and docs["policy"] is not None
    path = write_bundle(folder, cfg, server.datadir.root_public(), key, server.datadir.trust_bundle(),
                        docs["revocations"], docs["policy"])
    return EnrolledNode(load_node_config(path), key)


async def open_node_store(cfg: NodeConfig) -> NodeStore:
    """The node store, seeded from the bundle, without fsync per scan (fast test logs)."""
    from edge.bundle import read_bundle, read_root_public

    store = await NodeStore.open(cfg.db_path, read_root_public(cfg.path(cfg.files.root_pub)), synchronous="OFF")
    await store.seed(read_bundle(cfg))
    return store


async def offline_scans(store: NodeStore, node_id: str, n: int, clock: FakeClock, *, step_ms: int = 50
                        ) -> list[ScanRecord]:
    """Append ``n`` decisions through the store's normal append path (time advancing ``step_ms``)."""
    out = []
    for _ in range(n):
        clock.advance(step_ms / 1000)
        at_ms = int(clock.now().timestamp() * 1000)
        out.append(await store.append_scan(
            scan_id=str(uuid7(at_ms)), node_id=node_id, at_ms=at_ms, mono_ms=int(clock.monotonic() * 1000),
            clock_trusted=True, serial=os.urandom(8).hex(), subject=os.urandom(8).hex(),
            text_sha256=os.urandom(32).hex(), verdict="accept", reason="accepted", direction="entry"))
    return out


async def green_pass(server: LoopbackServer, group_id: int, subject: bytes | None = None) -> tuple[str, bytes]:
    """A green pass signed by the server for ``group_id``; returns ``(text, serial)``."""
    now = server.clock.now()
    issued = await issue_pass(server.datadir, Passes(server.app[state.SERVICES].db), subject=subject or os.urandom(8),
                              status=PassStatus.GREEN, scope=(group_id,), valid_from=now - timedelta(hours=1),
                              valid_until=now + timedelta(days=1), now=now, issued_by="test")
    return issued.text, issued.fields.serial


async def active_person(server: LoopbackServer, number: str, role: str, *, department: str | None = None,
                        departments: tuple[str, ...] = (), subject: bytes | None = None,
                        password: str = "correct-horse-9") -> bytes:
    """A person who finished first-login setup (own password, verified phone); returns their subject."""
    from server.storage.people import NewPerson, People

    app = server.app
    db = app[state.SERVICES].db
    now_s = to_unix(server.clock.now())
    phc = await app[state.HASHER].hash(password)
    subject = subject or os.urandom(8)
    async with db.transaction() as conn:
        for code in {*departments, *([department] if department else [])}:
            await People.upsert_department(conn, code, f"Dept {code}")
        await People.upsert(conn, NewPerson(number, f"Person {number}", role, department,  # type: ignore[arg-type]
                                            None, None, phc, subject), now_s)
        if departments:
            await People.set_counsellor_departments(conn, number, departments)
    person = await People(db).by_number(number)
    assert person is not None
    async with db.transaction() as conn:
        await People.set_password(conn, person.id, phc, now_s)
        await People.set_verified_phone(conn, person.id, "13800138000", now_s)
    return person.subject


async def login(server: LoopbackServer, number: str, password: str = "correct-horse-9") -> httpx.AsyncClient:
    """An HTTP client logged in as ``number`` (session cookie kept)."""
    client = httpx.AsyncClient(base_url=server.url)
    r = await client.post("/api/v1/auth/login", json={"username": number, "password": password})
    assert r.status_code == 200, r.text
    return client
