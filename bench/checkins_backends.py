"""The check-in rush on PostgreSQL (one and two server processes) against SQLite (one process).

Three servers run side by side, each on its own database holding the same university:

- ``sqlite``: one ``campuspass server run`` on the data directory's SQLite file (the default);
- ``pg x1``: one process on a PostgreSQL database;
- ``pg x2``: ``campuspass server run --workers 2`` (two processes on one port) on another
  PostgreSQL database of the same PostgreSQL server.

The PostgreSQL server is a throwaway one started from the installed binaries (``tests/pg.py``),
with ``fsync`` on and commits not waited for (``synchronous_commit=off``: the durability of the
SQLite file in WAL mode with ``synchronous=NORMAL``).

Printed, measured in one run, with ratios against ``sqlite``:

1. Throughput: check-ins per second, closed loop at 16 requests in flight (the harness of
   ``bench/workflow_checkins.py``), in rounds of 500 per server taking turns, so load from
   elsewhere on the machine falls on all three alike; and the CPU milliseconds per check-in of
   the server's processes and of the PostgreSQL server's processes (user + system, from
   ``/proc``): on a shared machine the figure that swings least, and the one a capacity
   estimate multiplies (docs/deploy.md).
2. The 08:00 rush of ``bench/workflow_checkins.py`` (every student within 30 minutes, the peak
   minute at 10x the mean, open loop, latency from the scheduled send time): the off-peak
   check-ins compressed, then the peak minute at its real rate, each played in slices with the
   three servers taking turns slice by slice. p50/p99/max and errors per server for the peak
   minute (the figure that counts), and one check-in row per student afterwards.

    python bench/checkins_backends.py            # 30,000 students
    python bench/checkins_backends.py --students 10000 --offpeak-s 120
    python bench/checkins_backends.py --quick    # 3,000 students, a few minutes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import start  # noqa: E402
from workflow_checkins import (  # noqa: E402
    CONCURRENCY,
    RETRIES,
    TIMEOUT_S,
    body,
    closed_loop,
    count_checkins,
    cpu_s,
    pct,
    play,
    seed,
    split,
)

from provisioning.init import init_data_dir  # noqa: E402
from server.datadir import DataDir  # noqa: E402
from server.workers import free_port  # noqa: E402
from tests.pg import start_cluster, use_database  # noqa: E402

SETUPS = ("sqlite", "pg x1", "pg x2")
ROUND = 500  # check-ins per server per turn in the throughput rounds
SLICES = 3  # each rush phase is played in this many slices per server, the servers taking turns


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and every live descendant (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, total = {pid}, 0.0
    changed = True
    while changed:
        grown = {p for p, parent in parents.items() if parent in tree} - tree
        changed = bool(grown)
        tree |= grown
    for p in tree:
        try:
            total += cpu_s(p)
        except OSError:
            pass
    return total


async def throughput(bases: dict[str, str], tokens: dict[str, list[str]], pids: dict[str, int], pg_pid: int
                     ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Check-ins per second of each server (rounds of ROUND at CONCURRENCY, taking turns), and the
    CPU milliseconds per check-in of its processes and of PostgreSQL's:
    ``({server: rate}, {server: app_cpu_ms}, {server: pg_cpu_ms})``."""
    rng = random.Random(1)
    total = len(next(iter(tokens.values())))
    bodies = [body(rng) for _ in range(total)]
    spent = dict.fromkeys(bases, 0.0)
    app_cpu = dict.fromkeys(bases, 0.0)
    pg_cpu = dict.fromkeys(bases, 0.0)
    conn = aiohttp.TCPConnector(limit=CONCURRENCY * len(bases))
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar()) as http:
        for start_i in range(0, total, ROUND):
            n = min(ROUND, total - start_i)
            for name, base in bases.items():
                async def checkin(i: int, base: str = base, name: str = name, first: int = start_i) -> None:
                    async with http.post(base + "api/v1/checkins/today", json=bodies[first + i],
                                         headers={"Cookie": f"cp_session={tokens[name][first + i]}"}) as r:
                        assert r.status == 200, await r.text()
                        await r.read()

                app0, pg0 = tree_cpu_s(pids[name]), tree_cpu_s(pg_pid)
                rate = await closed_loop(checkin, n)
                if start_i > 0:  # the first round warms each server up
                    spent[name] += n / rate
                    app_cpu[name] += tree_cpu_s(pids[name]) - app0
                    pg_cpu[name] += tree_cpu_s(pg_pid) - pg0
    measured = total - min(ROUND, total)
    return ({name: measured / s for name, s in spent.items()}, {name: 1000 * c / measured for name, c in app_cpu.items()},
            {name: 1000 * c / measured for name, c in pg_cpu.items()})


async def rush(bases: dict[str, str], tokens: dict[str, list[str]], peak_s: float, offpeak_s: float
               ) -> dict[str, dict[str, dict[str, Any]]]:
    """Both rush phases, each in SLICES slices per server, the servers taking turns; returns
    ``{server: {phase: merged result of play()}}``."""
    students = len(next(iter(tokens.values())))
    order = list(range(students))
    random.Random(2).shuffle(order)
    off_n, _ = split(students)
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in bases}
    for phase, people, duration_s in (("offpeak", order[:off_n], offpeak_s), ("peak", order[off_n:], peak_s)):
        for k in range(SLICES):
            part = people[k * len(people) // SLICES:(k + 1) * len(people) // SLICES]
            for name, base in bases.items():
                r = await play(base, tokens[name], part, duration_s / SLICES, 10 * k + SETUPS.index(name))
                merged = out[name].setdefault(phase, {"latencies": [], "errors": [], "retries": [], "n": 0,
                                                      "elapsed_s": 0.0})
                for key in ("latencies", "errors", "retries"):
                    merged[key] += r[key]
                merged["n"] += r["n"]
                merged["elapsed_s"] += r["elapsed_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30000, help="university size (default 30000)")
    parser.add_argument("--offpeak-s", type=float, default=60.0, help="seconds to play the 29 off-peak minutes in")
    parser.add_argument("--throughput", type=int, default=3000, help="check-ins per server in the throughput rounds")
    parser.add_argument("--quick", action="store_true", help="3,000 students, 15 s peak, 15 s off-peak")
    args = parser.parse_args()
    students, peak_s, offpeak_s, tp_n = args.students, 60.0, args.offpeak_s, args.throughput
    if args.quick:
        students, peak_s, offpeak_s, tp_n = 3000, 15.0, 15.0, 1500
    print("load average at start: {:.1f} {:.1f} {:.1f} ({} CPUs, shared)".format(*os.getloadavg(), os.cpu_count()))
    cluster = start_cluster(crash_safe=True, shared_buffers_mb=256)
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dirs: dict[str, DataDir] = {}
            tokens: dict[str, list[str]] = {}
            tp_tokens: dict[str, list[str]] = {}
            pg_url = ""
            for name in SETUPS:
                dd = init_data_dir(Path(tmp) / name.replace(" ", ""), admin=None).datadir
                if name == "pg x2":  # the same university as "pg x1": a copy of its database
                    dirs[name] = use_database(dd, cluster.create_database(copy_of=pg_url))
                    tokens[name], tp_tokens[name] = tokens["pg x1"], tp_tokens["pg x1"]
                    continue
                pg_url = "" if name == "sqlite" else cluster.create_database()
                dirs[name] = use_database(dd, pg_url)
                t0 = time.perf_counter()
                made = asyncio.run(seed(dirs[name], [f"S{i:06d}" for i in range(students)]
                                        + [f"T{i:06d}" for i in range(tp_n)]))
                tokens[name], tp_tokens[name] = made[:students], made[students:]
                print(f"set-up {name}: {students + tp_n} accounts and sessions through the storage layer"
                      f" in {time.perf_counter() - t0:.1f} s")
            bases: dict[str, str] = {}
            pids: dict[str, int] = {}
            for name in SETUPS:
                cmd = [sys.executable, "-m", "campuspass", "server", "run", "--data", str(dirs[name].root),
                       "--host", "127.0.0.1", "--port", "0"]
                workers = 2 if name == "pg x2" else 1
                if workers > 1:
                    cmd[-1] = str(free_port())
                    cmd += ["--workers", str(workers)]
                proc, bases[name] = start(cmd, listening=workers)
                procs.append(proc)
                pids[name] = proc.pid

            rates, app_ms, pg_ms = asyncio.run(throughput(bases, tp_tokens, pids, cluster.process.pid))
            print(f"throughput, closed loop at {CONCURRENCY} in flight, servers taking turns"
                  f" ({tp_n - ROUND} measured check-ins each); CPU per check-in of the server's processes and of"
                  " PostgreSQL's (its idle work included):")
            for name in SETUPS:
                cpu = app_ms[name] + (pg_ms[name] if name != "sqlite" else 0.0)
                print(f"  {name:7s} {rates[name]:7.0f} check-ins/s   ratio to sqlite {rates[name] / rates['sqlite']:.2f}"
                      f"   CPU: server {app_ms[name]:5.2f} ms + PostgreSQL"
                      f" {pg_ms[name] if name != 'sqlite' else 0.0:5.2f} ms = {cpu:5.2f} ms"
                      f"   ratio to sqlite {cpu / app_ms['sqlite']:.2f}")
            r = asyncio.run(rush(bases, tokens, peak_s, offpeak_s))
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
            procs = []
            counts = {name: asyncio.run(count_checkins(dirs[name])) for name in SETUPS}
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        cluster.stop()

    off_n, peak_n = split(students)
    print(f"08:00 rush: {students} students within 30 min, peak minute 10x the mean ({peak_n} in the peak minute,"
          f" {peak_n / 60:.0f}/s); each phase in {SLICES} slices per server, servers taking turns:")
    for phase, n, secs in (("offpeak", off_n, offpeak_s), ("peak", peak_n, peak_s)):
        label = f"other 29 min compressed into {secs:.0f} s ({n / secs:.0f}/s)" if phase == "offpeak" else \
            f"peak minute at its real rate ({n / secs:.0f}/s for {secs:.0f} s)"
        print(f"  {label}:")
        base_p50 = pct(r["sqlite"][phase]["latencies"], 0.5)
        base_p99 = pct(r["sqlite"][phase]["latencies"], 0.99)
        for name in SETUPS:
            ph = r[name][phase]
            lat, errs = ph["latencies"], ph["errors"]
            p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
            print(f"    {name:7s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {max(lat, default=0):8.1f} ms"
                  f"  errors {len(errs)}{' ' + str(sorted(set(errs))) if errs else ''}"
                  f"  retries after {TIMEOUT_S:.0f} s {len(ph['retries'])} (at most {RETRIES})"
                  f"   p50 / sqlite {p50 / base_p50:.2f}  p99 / sqlite {p99 / base_p99:.2f}")
    for name in SETUPS:
        rows, distinct = counts[name]
        print(f"check-in rows {name}: {rows} for {distinct} people (expected {students + tp_n})")
    print("load average at end: {:.1f} {:.1f} {:.1f} ({} CPUs, shared)".format(*os.getloadavg(), os.cpu_count()))


if __name__ == "__main__":
    main()
