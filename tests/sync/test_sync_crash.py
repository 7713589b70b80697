"""Power cuts: real ``campuspass edge run`` processes killed with SIGKILL at random points.

A node process scans passes dropped into its watched folder while it syncs with a real server
on 127.0.0.1 every 50 ms; it is killed (SIGKILL: no handler, no flush, no lock release) at a
random moment, started again, and so on. After every kill, before the next start:

* the node database passes ``verify_log`` (SQLite integrity and an unbroken hash chain);
* every decision the process logged (``scan seq=N ...``, logged after the commit and before the
  light shows it) is in the database with the same verdict and reason: nothing was lit that is
  not stored.

At the end a last run drains the log to the server, and the server holds every record of the
node exactly once (same scan ids, sequence numbers 1..M without a gap or a duplicate).

The random seed is in every assertion message; ``CRASH_SEED=...`` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
from pathlib import Path

import httpx

from campuspass.processes import campuspass_argv
from edge.logcheck import verify_log
from provisioning.init import init_data_dir
from server.qr import qr_png
from server.web import state
from shared.clock import SystemClock

from .helpers import LoopbackServer, add_buildings, enrol_node, free_port, green_pass

RUNS = 5
PER_RUN = 40  # more images than a run lives to decide: each kill lands mid-stream
SCAN_LINE = re.compile(r"scan seq=(\d+) \S+ (accept|deny) reason=(\S+)")
LIGHTS_LINE = re.compile(r"lights: (accept|not_cleared|expired|invalid)$")


def node_rows(db: Path) -> dict[int, tuple[str, str, str]]:
    """``{seq: (scan_id, verdict, reason)}`` of the node database (read-only)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {int(r[0]): (r[1], r[2], r[3])
                for r in conn.execute("SELECT seq, scan_id, verdict, reason FROM scans")}
    finally:
        conn.close()


class NodeProcess:
    """One ``edge run`` child: stderr (the log) collected line by line."""

    def __init__(self, config_path: Path, status_url: str) -> None:
        self.config_path = config_path
        self.status_url = status_url
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *campuspass_argv("edge", "run", "--config", str(self.config_path)),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def status(self, client: httpx.AsyncClient) -> dict | None:
        try:
            return (await client.get(self.status_url, timeout=2)).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            return None

    async def wait_camera(self, client: httpx.AsyncClient, timeout_s: float = 20.0) -> None:
        """Until the watched folder is open (files dropped earlier would not be frames)."""
        async with asyncio.timeout(timeout_s):
            while True:
                assert self.proc is not None and self.proc.returncode is None, "\n".join(self.lines[-20:])
                body = await self.status(client)
                if body is not None and body["camera"]["state"] == "ok":
                    return
                await asyncio.sleep(0.05)

    async def finish(self, sig: int) -> int:
        assert self.proc is not None and self._reader is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(20):
            code = await self.proc.wait()
            await self._reader
        return code


async def feed(folder: Path, images: list[bytes], rng: random.Random, tag: str) -> None:
    """Drop pass images into the watched folder (written aside, renamed into place), every
    10..40 ms: a stream that the kill interrupts."""
    for i, png in enumerate(images):
        tmp = folder / f".{tag}-{i:03d}.png.tmp"
        tmp.write_bytes(png)
        os.replace(tmp, folder / f"{tag}-{i:03d}.png")
        await asyncio.sleep(rng.uniform(0.01, 0.04))


def check_after_kill(db: Path, lines: list[str], where: str) -> int:
    """The invariants after a kill; returns how many decisions the process logged."""
    report = verify_log(db)
    assert report.ok, f"{where}: {report.summary()}"
    rows = node_rows(db)
    logged = 0
    last_scan: int | None = None
    for line in lines:
        if m := SCAN_LINE.search(line):
            seq, verdict, reason = int(m[1]), m[2], m[3]
            assert seq in rows, f"{where}: seq {seq} was logged (and then shown) but is not stored"
            assert rows[seq][1:] == (verdict, reason), f"{where}: seq {seq} stored as {rows[seq]}"
            last_scan, logged = seq, logged + 1
        elif m := LIGHTS_LINE.search(line):
            assert last_scan is not None, f"{where}: lights shown without a stored decision: {line}"
            last_scan = None  # one result pattern per decision
    return logged


async def test_sigkill_at_random_points_loses_nothing_shown_and_uploads_once(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    clock = SystemClock()
    datadir = (await asyncio.to_thread(init_data_dir, tmp_path / "server", clock, admin=None)).datadir
    server = LoopbackServer(datadir, clock)  # type: ignore[arg-type]
    await server.start()
    try:
        groups = await add_buildings(server)
        port = free_port()
        node = await enrol_node(server, tmp_path / "node", status_port=port)
        folder = node.config.base_dir / "incoming"
        db = node.config.db_path
        config_path = node.config.base_dir / "node.toml"
        status_url = f"http://127.0.0.1:{port}/status"
        images = [qr_png((await green_pass(server, groups["dorms"]))[0], scale_px=4)
                  for _ in range(PER_RUN * RUNS + 3)]
        logged_total = 0
        async with httpx.AsyncClient() as client:
            for run in range(RUNS):
                where = f"seed {seed}, run {run + 1}"
                proc = NodeProcess(config_path, status_url)
                await proc.start()
                await proc.wait_camera(client)
                feeder = asyncio.create_task(feed(folder, images[run * PER_RUN:(run + 1) * PER_RUN], rng, f"r{run}"))
                await asyncio.sleep(rng.uniform(0.4, 0.9) if run == 0 else rng.uniform(0.05, 0.9))
                code = await proc.finish(signal.SIGKILL)
                feeder.cancel()
                assert code == -signal.SIGKILL, f"{where}: exit {code}\n" + "\n".join(proc.lines[-20:])
                logged_total += check_after_kill(db, proc.lines, where)

            # A last, clean run: everything left unsynced reaches the server, then SIGTERM.
            where = f"seed {seed}, final run"
            proc = NodeProcess(config_path, status_url)
            await proc.start()
            await proc.wait_camera(client)
            before = len(node_rows(db))
            await feed(folder, images[RUNS * PER_RUN:], rng, "final")
            async with asyncio.timeout(20):
                while True:
                    body = await proc.status(client)
                    rows = node_rows(db)
                    if (body is not None and body["unsynced"] == 0 and body["queue_depth"] == 0
                            and len(rows) == before + 3 and await server.scan_count("d7-east") == len(rows)):
                        break
                    await asyncio.sleep(0.1)
            assert await proc.finish(signal.SIGTERM) == 0, where
        assert check_after_kill(db, proc.lines, where) >= 3

        rows = node_rows(db)
        assert sorted(rows) == list(range(1, len(rows) + 1)), where
        stored = await server.app[state.SERVICES].db.fetch_all(
            "SELECT seq, scan_id, verdict, reason FROM scans WHERE node_id = ? ORDER BY seq", ("d7-east",))
        assert [(int(r[0]), r[1], r[2], r[3]) for r in stored] == [(seq, *rows[seq]) for seq in sorted(rows)], where
        assert logged_total > 0, f"{where}: no run decided anything before its kill"
    finally:
        await server.stop()
