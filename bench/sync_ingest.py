"""Sync ingest throughput and node catch-up time, on SQLite or on PostgreSQL.

Measured in one run, on a server database already holding 1,000,000 scans:

1. scans per second ingested through the signed sync API (batches of 500, gzip, real HTTP on
   127.0.0.1, signature and nonce checks, documents in every answer), against the same inserts
   done in-process (record checks + the upload transaction, no HTTP) on the same database; the
   two take turns batch by batch (load from elsewhere on the machine falls on both alike);
   target ratio ≥ 0.45;
2. the time a node with 100,000 queued scans (made through the node store's append path while
   offline) needs to catch up with the real sync client; target under 15 s.

``--backend postgresql`` runs it all on a throwaway PostgreSQL server started from the installed
binaries (``tests/pg.py``; ``fsync`` on, commits not waited for: the durability of the SQLite file
in WAL mode with ``synchronous=NORMAL``); the default is the data directory's SQLite file.

    python bench/sync_ingest.py [--backend sqlite|postgresql] [--prefill 1000000] [--scans 10000]
                                [--queue 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gzip
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edge.bundle import BundleDocs
from edge.config import node_config_from_mapping
from edge.store import NodeStore
from edge.sync import SyncClient
from provisioning.init import init_data_dir
from server.app import create_app
from server.datadir import DataDir
from server.storage import Database
from server.storage.buildings import Buildings
from server.storage.nodes import Nodes
from server.storage.scans import INSERT_SQL
from server.sync import SyncService, read_request
from shared.clock import SystemClock
from shared.keys import generate_key, public_key_bytes
from shared.node_auth import sign_request
from shared.scanlog import GENESIS_HASH, seal, uuid7
from tests.pg import PgCluster, start_cluster, use_database

BATCH = 500


def chain(node_id: str, n: int, start_ms: int) -> list[dict[str, Any]]:
    """``n`` sealed, chained records of ``node_id`` (wire dictionaries)."""
    out, prev = [], GENESIS_HASH
    for i in range(n):
        at_ms = start_ms + i * 20
        rec = seal(seq=i + 1, scan_id=str(uuid7(at_ms)), node_id=node_id, at_ms=at_ms, mono_ms=i * 20,
                   clock_trusted=True, serial=os.urandom(8).hex(), subject=os.urandom(8).hex(),
                   text_sha256=os.urandom(32).hex(), verdict="accept", reason="accepted", direction="entry",
                   prev_hash=prev)
        prev = rec.hash
        out.append(rec.to_json())
    return out


async def prefill(db: Database, n: int, start_ms: int) -> float:
    """Fill the scans table with ``n`` rows in big transactions; returns seconds taken."""
    t0 = time.perf_counter()
    chunk = 100_000
    buildings = ["D7", "LIB", "D1", "D2", "GYM"]
    for base in range(0, n, chunk):
        rows = []
        for i in range(base, min(n, base + chunk)):
            at_ms = start_ms - (n - i) * 60
            rows.append((str(uuid7(at_ms)), "prefill", i + 1, buildings[i % 5], "entry", at_ms, 1,
                         os.urandom(8), os.urandom(8), "0" * 64, "accept" if i % 10 else "deny", "accepted",
                         "0" * 64, at_ms // 1000, 0, 0, at_ms, 0))
        async with db.transaction() as conn:
            if db.backend == "postgresql":  # set-up only: COPY is many times faster than INSERTs
                columns = INSERT_SQL.split("(", 1)[1].split(")", 1)[0]
                async with conn.raw.cursor().copy(f"COPY scans ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        await copy.write_row(row)
            else:
                await conn.executemany(INSERT_SQL, rows)
    # statistics, as autovacuum gathers within a minute of a bulk load on a real server: without
    # them PostgreSQL's planner takes a batch's people (subject IN ...) for a large share of the
    # table and reads everyone's scans over the time range instead of the subject index
    async with db.transaction() as conn:
        await conn.execute("ANALYZE scans")
    return time.perf_counter() - t0


def build_queue(db_path: Path, bundle: BundleDocs, n: int) -> float:
    """In a worker process: seed a node store and append ``n`` decisions through its append path
    while offline; returns seconds taken."""
    return asyncio.run(_build_queue(db_path, bundle, n))


async def _build_queue(db_path: Path, bundle: BundleDocs, n: int) -> float:
    store = await NodeStore.open(db_path, bundle.root_public, synchronous="OFF")
    await store.seed(bundle)
    t0 = time.perf_counter()
    for i in range(n):
        at_ms = int(time.time() * 1000)
        await store.append_scan(scan_id=str(uuid7(at_ms)), node_id="bench-catchup", at_ms=at_ms, mono_ms=i,
                                clock_trusted=True, serial=os.urandom(8).hex(), subject=os.urandom(8).hex(),
                                text_sha256=os.urandom(32).hex(), verdict="accept", reason="accepted",
                                direction="entry")
    await store.close()
    return time.perf_counter() - t0


def heartbeat(now_ms: int) -> dict[str, Any]:
    return {"node_time_ms": now_ms, "queue_depth": 0, "software_version": "bench", "trust_version": 1,
            "revocation_version": 0, "policy_version": 1}


async def main(args: argparse.Namespace, tmp: Path, dd: DataDir) -> None:
    clock = SystemClock()
    now_ms = int(clock.now().timestamp() * 1000)
    print("load average at start: {:.1f} {:.1f} {:.1f} ({} CPUs)".format(*os.getloadavg(), os.cpu_count() or 0))
    print(f"backend: {args.backend}")

    db = await dd.open_database()
    await Buildings(db).add_building("D7", "Dormitory 7", "dorms")
    nodes = Nodes(db)
    keys = {name: generate_key() for name in ("bench-http", "bench-local", "bench-catchup")}
    for name, key in keys.items():
        await nodes.register(name, building="D7", public_key=public_key_bytes(key), now_s=now_ms // 1000)
    svc = SyncService(db, dd, (await _config(dd)).sync)
    docs = await svc.enrolment_documents(now_ms // 1000)
    assert docs["revocations"] is not None and docs["policy"] is not None
    # The node's offline queue is built while the server table is filled (independent work).
    cfg = node_config_from_mapping({
        "node": {"id": "bench-catchup", "building": "D7", "server_url": "http://127.0.0.1:9"},
        "camera": {"source": "dir:incoming"}, "gpio": {"pin_factory": "mock"}, "status": {"port": 0},
    }, tmp / "node")
    bundle = BundleDocs(dd.root_public(), dd.trust_bundle().to_json(), docs["revocations"], docs["policy"])
    with concurrent.futures.ProcessPoolExecutor(1) as pool:  # the node is another machine: another process
        queued = asyncio.get_running_loop().run_in_executor(pool, build_queue, cfg.db_path, bundle, args.queue)
        fill_s = await prefill(db, args.prefill, now_ms - 3_600_000)
        queue_s = await queued
    store = await NodeStore.open(cfg.db_path, dd.root_public(), synchronous="OFF")
    print(f"prefill: {args.prefill:,} scans in {fill_s:.1f} s; meanwhile the node queued {args.queue:,} scans "
          f"offline through its append path in {queue_s:.1f} s")

    # 1. in-process (the same checks and upload transaction, no HTTP) and through the signed sync
    # API, batch by batch in turn
    local = chain("bench-local", args.scans, now_ms)
    remote = chain("bench-http", args.scans, now_ms)
    node = await nodes.get("bench-local")
    assert node is not None
    hb = heartbeat(now_ms)
    app = create_app(dd, clock=clock, run_sms_sender=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    try:
        path = "/api/v1/nodes/bench-http/sync"
        local_s = http_s = 0.0
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for i in range(0, args.scans, BATCH):
                t0 = time.perf_counter()
                request = read_request({"heartbeat": hb, "records": local[i:i + BATCH]}, node.id, 1000)
                await svc.upload(node, request.records, request.heartbeat, int(clock.now().timestamp() * 1000))
                local_s += time.perf_counter() - t0

                t0 = time.perf_counter()
                body = json.dumps({"heartbeat": heartbeat(int(time.time() * 1000)), "records": remote[i:i + BATCH]},
                                  separators=(",", ":")).encode()
                headers = sign_request(keys["bench-http"], "bench-http", "POST", path, body, int(time.time()))
                r = await client.post(path, content=gzip.compress(body, 1), headers={
                    **headers, "Content-Type": "application/json", "Content-Encoding": "gzip"})
                assert r.status_code == 200, r.text
                assert r.json()["ack_seq"] == min(len(remote), i + BATCH)
                http_s += time.perf_counter() - t0
        await db.close()
        local_rate, http_rate = args.scans / local_s, args.scans / http_s
        print(f"ingest in-process: {local_rate:,.0f} scans/s")
        print(f"ingest via signed sync API: {http_rate:,.0f} scans/s")
        print(f"ratio API / in-process: {http_rate / local_rate:.2f} (target >= 0.45)")

        # 2. catch-up of the node whose queue was built offline
        cfg = replace(cfg, node=replace(cfg.node, server_url=url))
        sync = SyncClient(store, cfg, keys["bench-catchup"], clock=clock)
        t0 = time.perf_counter()
        result = await sync.sync_round()
        catch_up_s = time.perf_counter() - t0
        assert result.acked_seq == args.queue and (await store.stats()).unsynced == 0
        await sync.aclose()
        await store.close()
        print(f"catch-up: {args.queue:,} queued scans in {catch_up_s:.1f} s "
              f"({args.queue / catch_up_s:,.0f} scans/s, {result.requests} requests; target < 15 s)")
    finally:
        await runner.cleanup()
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


async def _config(dd):  # type: ignore[no-untyped-def]
    from server.config import load_server_config

    return load_server_config(dd.config_path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--prefill", type=int, default=1_000_000)
    parser.add_argument("--scans", type=int, default=10_000)
    parser.add_argument("--queue", type=int, default=100_000)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="campuspass-bench-"))
    datadir = init_data_dir(folder / "server", SystemClock(), admin=None).datadir
    cluster: PgCluster | None = None
    try:
        if arguments.backend == "postgresql":
            cluster = start_cluster(crash_safe=True, shared_buffers_mb=256)
            use_database(datadir, cluster.create_database())
        asyncio.run(main(arguments, folder, datadir))
    finally:
        if cluster is not None:
            cluster.stop()
