"""Several server processes on one PostgreSQL database (docs/deploy.md, "Several processes"): a
session made on one process works on the others, a login throttle trips after the same number of
failures spread over them, every queued SMS is sent exactly once though every process runs a
sender, and ``--workers N`` starts N processes on one port (refused on SQLite). Real processes,
real loopback HTTP, the session's real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from campuspass.cli import main
from campuspass.processes import free_port
from provisioning.init import init_data_dir
from server.datadir import DataDir
from server.passwords import PasswordHasher
from server.storage.people import NewPerson, People
from server.storage.sms import SmsOutboxStore
from shared.clock import SystemClock, to_unix
from tests.conftest import use_database
from tests.pg import PgCluster

PASSWORD = "12345X"


class Server:
    """One ``campuspass server run`` child on its own port; stopped by its own pid."""

    def __init__(self, data: Path, port: int, *extra: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "campuspass", "server", "run", "--data", str(data), "--port", str(port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

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
