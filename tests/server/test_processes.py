"""Several server processes on one PostgreSQL database (docs/deploy.md, "Several processes"): a
session made on one process works on the others, a login throttle trips after the same number of
failures spread over them, every queued SMS is sent exactly once though every process runs a
sender, ``--workers N`` starts N processes on one port (refused on SQLite), and a process killed
with SIGKILL in the middle of a node's upload and of check-ins loses nothing that was acknowledged
(what was not is sent again through another process and lands once). Real processes, real
loopback HTTP, the session's real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import httpx
import psycopg
import pytest

from campuspass.cli import main
from campuspass.processes import free_port
from edge.bundle import write_bundle
from edge.config import load_node_config, node_config_from_mapping
from edge.sync import SyncClient, SyncFailed
from provisioning.init import init_data_dir
from server.config import load_server_config
from server.datadir import DataDir
from server.passwords import PasswordHasher
from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.storage.people import NewPerson, People
from server.storage.postgres import WRITE_LOCK_KEY
from server.storage.sessions import Sessions
from server.storage.sms import SmsOutboxStore
from server.sync import SyncService
from shared.clock import FakeClock, SystemClock, to_unix
from shared.keys import generate_key, public_key_bytes
from tests.conftest import use_database
from tests.pg import PgCluster
from tests.sync.helpers import EnrolledNode, offline_scans, open_node_store

PASSWORD = "12345X"
# A PHC string that never verifies: these accounts only use sessions made for them.
NO_LOGIN = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoYmVuYw"


class Server:
    """One ``campuspass server run`` child on its own port; stopped by its own pid."""

    def __init__(self, data: Path, port: int, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "campuspass", "server", "run", "--data", str(data), "--port", str(port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_listening(self, lines: int = 1, timeout_s: float = 60) -> list[str]:
        """Read output until ``lines`` 'listening' lines came (or fail with the output)."""
        assert self.process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while sum("listening on" in s for s in seen) < lines:
            assert time.monotonic() < deadline, "".join(seen)
            line = self.process.stdout.readline().decode(errors="replace")
            assert line, f"server exited: {''.join(seen)}"
            seen.append(line)
        return seen

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@pytest.fixture
def pg_data(tmp_path: Path, pg_cluster: PgCluster) -> Iterator[DataDir]:
    """A data directory on a fresh PostgreSQL database, with students S1..S3 (password 12345X)."""
    datadir = use_database(init_data_dir(tmp_path / "data", SystemClock(), admin=None).datadir,
                           url := pg_cluster.create_database())

    async def people() -> None:
        db = await datadir.open_database()
        try:
            phc = await PasswordHasher().hash(PASSWORD)
            async with db.transaction() as conn:
                await People.upsert_department(conn, "CS", "Computer Science")
                for number in ("S1", "S2", "S3"):
                    await People.upsert(conn, NewPerson(number, number, "student", "CS", None, None, phc,
                                                        secrets.token_bytes(8)), to_unix(SystemClock().now()))
        finally:
            await db.close()

    asyncio.run(people())
    try:
        yield datadir
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture
def three(pg_data: DataDir) -> Iterator[list[Server]]:
    servers = [Server(pg_data.root, free_port()) for _ in range(3)]
    try:
        for s in servers:
            s.wait_listening()
        yield servers
    finally:
        for s in servers:
            s.stop()


def login(url: str, number: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/auth/login", json={"username": number, "password": password}, timeout=30)


def test_a_session_made_on_one_process_works_on_the_others(three: list[Server]) -> None:
    r = login(three[0].url, "S1", PASSWORD)
    assert r.status_code == 200, r.text
    for server in three:
        me = httpx.get(f"{server.url}/api/v1/me", cookies=r.cookies, timeout=30)
        assert me.status_code == 200, me.text
        assert me.json()["user"]["number"] == "S1"
    out = httpx.post(f"{three[1].url}/api/v1/auth/logout", json={}, cookies=r.cookies, timeout=30)
    assert out.status_code == 200, out.text
    for server in three:  # logged out on one process: out on all
        assert httpx.get(f"{server.url}/api/v1/me", cookies=r.cookies, timeout=30).status_code == 401


def test_the_login_throttle_counts_failures_over_every_process(three: list[Server]) -> None:
    for i in range(5):  # account_slow_after = 5, one failure per process in turn
        assert login(three[i % 3].url, "S2", f"00000{i}").status_code == 401
    for server in three:
        r = login(server.url, "S2", PASSWORD)  # even the right password waits, on every process
        assert r.status_code == 429 and r.json()["error"]["code"] == "login_slowed", r.text


def test_every_queued_sms_is_sent_exactly_once(pg_data: DataDir, three: list[Server]) -> None:
    ids = [f"test:{i}" for i in range(60)]

    async def enqueue() -> None:
        db = await pg_data.open_database()
        try:
            now_s = to_unix(SystemClock().now())
            for start in range(0, len(ids), 10):  # in batches, while the senders are draining
                async with db.transaction() as conn:
                    for message_id in ids[start:start + 10]:
                        await SmsOutboxStore.enqueue(conn, message_id=message_id, phone="13800138000",
                                                     body=f"hello {message_id}", purpose="test", now_s=now_s)
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = await db.fetch_one("SELECT COUNT(*) FROM sms_outbox WHERE id LIKE 'test:%' AND status = 'sent'")
                if row is not None and row[0] == len(ids):
                    break
                await asyncio.sleep(0.2)
        finally:
            await db.close()

    asyncio.run(enqueue())
    sent = Counter(json.loads(line)["id"] for line in pg_data.sms_outbox_path.read_text().splitlines() if line)
    assert {i: sent[i] for i in ids} == {i: 1 for i in ids}


def test_workers_share_one_port_and_stop_together(pg_data: DataDir) -> None:
    server = Server(pg_data.root, free_port(), "--workers", "2")
    try:
        lines = server.wait_listening(2)
        assert sum("listening on" in line for line in lines) == 2
        for _ in range(6):  # new connections each time: spread by the kernel
            assert httpx.get(f"{server.url}/api/v1/me", timeout=30).status_code == 401
    finally:
        assert server.stop() == 0


def test_workers_on_sqlite_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = init_data_dir(tmp_path / "data", SystemClock(), admin=None).datadir.root
    assert main(["server", "run", "--data", str(data), "--port", "0", "--workers", "3"]) == 2
    err = capsys.readouterr().err
    assert "--workers 3 needs PostgreSQL" in err and "listening" not in err


# ---- kill -9 of one process in the middle of a batch ------------------------------------------------

STUDENTS = 36
VICTIM = "campuspass-victim"  # the killed process's PostgreSQL application_name (libpq reads PGAPPNAME)


def answers(i: int) -> dict[str, object]:
    """Student ``i``'s check-in: a temperature of its own, so the stored row shows which answer landed."""
    return {"location_kind": "on_campus", "region_code": None, "temperature_c": round(36.0 + (i % 10) / 10, 1),
            "symptoms": ["none"], "case_contact_14d": False, "risk_area_14d": False, "case_status": "none",
            "remarks": f"s{i}", "attest": True}


async def kill_scene(datadir: DataDir, tmp: Path) -> tuple[list[str], EnrolledNode]:
    """Students K00.. (active, one session each; returns their tokens) and the node d7-east."""
    db = await datadir.open_database()
    try:
        now_s = to_unix(SystemClock().now())
        async with db.transaction() as conn:
            await People.upsert_department(conn, "CS", "Computer Science")
            for i in range(STUDENTS):
                await People.upsert(conn, NewPerson(f"K{i:02d}", f"K{i:02d}", "student", "CS", None, None,
                                                    NO_LOGIN, secrets.token_bytes(8)), now_s)
        ids = {p.number: p.id for p in await People(db).in_departments(None, limit=1000)}
        tokens = [secrets.token_urlsafe(32) for _ in range(STUDENTS)]
        async with db.transaction() as conn:
            for i in range(STUDENTS):
                await People.set_password(conn, ids[f"K{i:02d}"], NO_LOGIN, now_s)
                await People.set_verified_phone(conn, ids[f"K{i:02d}"], f"139{i:08d}", now_s)
        await Sessions(db).create_many([(t, ids[f"K{i:02d}"], secrets.token_urlsafe(24))
                                        for i, t in enumerate(tokens)], now_s, now_s + 86400, "test")
        await Buildings(db).add_building("D7", "Dormitory 7", "dorms")
        key = generate_key()
        await Nodes(db).register("d7-east", building="D7", public_key=public_key_bytes(key), now_s=now_s)
        docs = await SyncService(db, datadir, load_server_config(datadir.config_path).sync).enrolment_documents(now_s)
    finally:
        await db.close()
    cfg = node_config_from_mapping({
        "node": {"id": "d7-east", "building": "D7", "data_dir": "data", "server_url": "http://127.0.0.1:9"},
        "camera": {"source": "dir:incoming"}, "gpio": {"pin_factory": "mock"}, "status": {"port": 0},
        "sync": {"connect_timeout_s": 5.0, "read_timeout_s": 30.0, "request_deadline_s": 40.0},
    }, tmp)
    assert docs["revocations"] is not None and docs["policy"] is not None
    path = write_bundle(tmp, cfg, datadir.root_public(), key, datadir.trust_bundle(), docs["revocations"],
                        docs["policy"])
    return tokens, EnrolledNode(load_node_config(path), key)


async def until_victim_waits(conn: psycopg.AsyncConnection[Any], n: int, timeout_s: float = 30) -> None:
    """Until at least ``n`` of the victim's database sessions wait for the write lock (fails after
    ``timeout_s``)."""
    waiting = 0
    for _ in range(int(timeout_s / 0.05)):
        cur = await conn.execute(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = %s", (VICTIM,))
        row = await cur.fetchone()
        assert row is not None
        if (waiting := int(row[0])) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {waiting} of the victim's transactions wait for the write lock; expected {n}")


async def test_kill_9_in_the_middle_of_a_batch_loses_nothing_acknowledged(pg_data: DataDir, tmp_path: Path) -> None:
    """A node uploads through each process in turn and students check in at all three; one process
    is killed (SIGKILL) while its upload and check-ins are inside their transactions. Every 2xx is
    in the database exactly once; what got no answer is sent again (the node's next round, the
    student's second tap) through another process and lands exactly once.

    Determinism: the test holds the write lock (the advisory lock every write transaction takes,
    docs/deploy.md) while the victim's requests arrive, waits until PostgreSQL shows them waiting
    for it, kills the process and only then releases the lock: the victim's requests are always
    cut mid-transaction, and the survivors' requests queued behind the same lock all complete."""
    tokens, node = await kill_scene(pg_data, tmp_path / "node")
    ports = [free_port() for _ in range(3)]
    servers = [Server(pg_data.root, ports[0]), Server(pg_data.root, ports[1]),
               Server(pg_data.root, ports[2], env={"PGAPPNAME": VICTIM})]
    store = await open_node_store(node.config)
    clock = SystemClock()
    node_clock = FakeClock(clock.now() - timedelta(minutes=10))
    lock = await psycopg.AsyncConnection.connect(pg_data_url(pg_data), autocommit=True)
    acked: dict[int, int] = {}  # student → the process index that answered 200
    unanswered: list[int] = []
    try:
        for s in servers:
            await asyncio.to_thread(s.wait_listening)
        a, b, victim = servers

        def through(server: Server) -> SyncClient:
            cfg = replace(node.config, node=replace(node.config.node, server_url=server.url))
            return SyncClient(store, cfg, node.key, clock=clock)

        async def checkin(http: httpx.AsyncClient, i: int, k: int) -> None:
            try:
                r = await http.post(f"{servers[k].url}/api/v1/checkins/today", json=answers(i),
                                    headers={"Cookie": f"cp_session={tokens[i]}"})
            except httpx.TransportError:
                unanswered.append(i)
                return
            assert r.status_code == 200, r.text
            acked[i] = k

        async with httpx.AsyncClient(timeout=60) as http:
            # Before: the node syncs through A, a third of the students check in at all three.
            await offline_scans(store, "d7-east", 600, node_clock)
            sync_a = through(a)
            assert (await sync_a.sync_round()).acked_seq == 600
            await sync_a.aclose()
            await asyncio.gather(*(checkin(http, i, i % 3) for i in range(12)))
            assert sorted(acked) == list(range(12)) and not unanswered

            # The kill: with the write lock held, the node uploads 1,500 scans (two batches) through
            # the victim, six students check in there and six at A and B.
            await offline_scans(store, "d7-east", 1500, node_clock)
            await lock.execute(f"SELECT pg_advisory_lock({WRITE_LOCK_KEY})")
            sync_v = through(victim)
            upload = asyncio.create_task(sync_v.sync_round())
            to_victim = [asyncio.create_task(checkin(http, i, 2)) for i in range(12, 18)]
            to_others = [asyncio.create_task(checkin(http, i, i % 2)) for i in range(18, 24)]
            await until_victim_waits(lock, 7)  # the upload and six check-ins, mid-transaction
            victim.process.kill()
            assert await asyncio.to_thread(victim.process.wait, 10) == -signal.SIGKILL
            await lock.execute(f"SELECT pg_advisory_unlock({WRITE_LOCK_KEY})")
            with pytest.raises(SyncFailed) as failed:
                await upload
            assert failed.value.code == "offline"
            await sync_v.aclose()
            await asyncio.gather(*to_victim, *to_others)
            assert sorted(unanswered) == list(range(12, 18))  # none of the victim's was answered ...
            assert sorted(acked) == [*range(12), *range(18, 24)]  # ... and every survivor's was
            assert (await store.stats()).unsynced == 1500  # nothing of the cut batch was acknowledged

            # After: the node's next round (through B) and the students' second tap (at A or B)
            # carry what was not answered; the rest of the students check in at the survivors.
            sync_b = through(b)
            assert (await sync_b.sync_round()).acked_seq == 2100
            await sync_b.aclose()
            retry, unanswered[:] = list(unanswered), []
            await asyncio.gather(*(checkin(http, i, i % 2) for i in [*retry, *range(24, STUDENTS)]))
            assert not unanswered and sorted(acked) == list(range(STUDENTS))
    finally:
        await lock.close()
        await store.close()
        for s in servers:
            s.stop()

    db = await pg_data.open_database(migrate=False)
    try:
        scans = await db.fetch_all("SELECT seq, scan_id FROM scans WHERE node_id = 'd7-east' ORDER BY seq")
        rows = await db.fetch_all(
            "SELECT p.number, COUNT(*), MIN(c.temperature_c), MIN(c.remarks), MAX(c.revisions) FROM checkins c"
            " JOIN people p ON p.id = c.person_id WHERE p.number LIKE 'K%' GROUP BY p.number ORDER BY p.number")
    finally:
        await db.close()
    node_scans = await node_scan_ids(node.config.db_path)
    assert [(int(r[0]), r[1]) for r in scans] == node_scans and len(node_scans) == 2100  # each once, none lost
    assert [(r[0], int(r[1]), float(r[2]), r[3], int(r[4])) for r in rows] == [
        (f"K{i:02d}", 1, answers(i)["temperature_c"], f"s{i}", 1) for i in range(STUDENTS)]


def pg_data_url(datadir: DataDir) -> str:
    """The ``[database] url`` of ``datadir``'s ``server.toml``."""
    return load_server_config(datadir.config_path).database.url


async def node_scan_ids(db_path: Path) -> list[tuple[int, str]]:
    """``(seq, scan_id)`` of every record the node holds, in order."""
    async with aiosqlite.connect(db_path) as conn:
        return [(int(r[0]), str(r[1])) for r in await conn.execute_fetchall("SELECT seq, scan_id FROM scans ORDER BY seq")]
