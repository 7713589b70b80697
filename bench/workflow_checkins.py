"""Daily check-in throughput and the simulated 08:00 rush, on real loopback HTTP.

Prints, measured in one run:

1. Throughput (closed loop, fixed concurrency): ``POST /api/v1/checkins/today`` per second by
   logged-in students with realistic bodies (each the day's first submission: session → person →
   validation → one transaction: the check-in upsert and the pass status it implies), against a bare aiohttp handler doing one SQLite INSERT
   (aiosqlite, WAL, same pragmas, its own file), and the ratio. These sessions were used within
   the last minute, so the session is not touched; in the rush below every session is older and
   its first use also writes ``last_seen_at``, as a real morning check-in does. Beside the
   throughput, each server process's CPU time (user + system, from ``/proc/PID/stat``) per
   request: on a machine shared with other work the throughput ratio swings with the load, the
   CPU cost per request much less, so compare commits by the CPU ratio.
2. The 08:00 rush of a university of ``--students`` (default 30,000): every student checks in
   within 30 minutes, with a peak minute at 10x the mean rate (mean 1,000/min → peak 10,000/min,
   167/s). Open loop (requests are sent on schedule whether or not earlier ones finished;
   latency counts from the scheduled time, so queueing is not hidden). Time-compressed so the
   rush stays around two minutes: the 20,000 check-ins of the 29 off-peak minutes are played in
   ``--offpeak-s`` seconds (default 60 s: 333/s, twice the real peak rate, so harsher than
   reality), then, once all are answered, the 10,000 of the peak minute at their real rate
   (167/s for 60 s), the figure to hold against the target (no errors, p99 < 200 ms). Reports
   p50/p99/max latency (to the final answer), retries and errors per phase, and checks one
   check-in row per student. A request without an answer after 30 s is sent again, at most
   twice, as a student would tap again (the same-day upsert keeps one row).

Accounts and sessions are created directly through the storage layer (``People``, ``Sessions``)
instead of 30,000 Argon2id logins (about 40 ms of CPU each); the login cost is measured by
``bench/server_auth.py``. The server runs as its own process (``campuspass server run``).

    python bench/workflow_checkins.py             # about two to three minutes including set-up
    python bench/workflow_checkins.py --quick     # 3,000 students, compressed further
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import start  # noqa: E402

from provisioning.init import init_data_dir  # noqa: E402
from server.datadir import DataDir  # noqa: E402
from server.storage.people import NewPerson, People  # noqa: E402
from server.storage.sessions import Sessions  # noqa: E402
from server.workflow.checkins import NORMAL_ANSWERS  # noqa: E402
from shared.clock import SystemClock, to_unix  # noqa: E402

CONCURRENCY = 16
DEPARTMENTS = 20
THROUGHPUT_PEOPLE = 3000
TIMEOUT_S = 30.0  # a phone gives up after this long ...
RETRIES = 2  # ... and the student taps again, at most this many times
# A PHC string that never verifies: these accounts only ever use the sessions made here.
NO_LOGIN_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoYmVuYw"


async def seed(dd: DataDir, numbers: list[str]) -> list[str]:
    """Create active students (own password, verified phone) in DEPARTMENTS departments, one
    counsellor per department, and one session per student, in ``dd``'s database (SQLite or
    PostgreSQL, its ``server.toml``); returns the session tokens in the order of ``numbers``."""
    db = await dd.open_database()
    now_s = to_unix(SystemClock().now())
    try:
        async with db.transaction() as conn:
            for d in range(DEPARTMENTS):
                code = f"D{d:02d}"
                await People.upsert_department(conn, code, f"Department {d}")
                await People.upsert(conn, NewPerson(f"C{d:02d}", f"Counsellor {d}", "counsellor", code, None, None,
                                                    NO_LOGIN_HASH, secrets.token_bytes(8)), now_s)
                await People.set_counsellor_departments(conn, f"C{d:02d}", [code])
            for i, number in enumerate(numbers):
                await People.upsert(conn, NewPerson(number, f"Student {i}", "student", f"D{i % DEPARTMENTS:02d}",
                                                    None, None, NO_LOGIN_HASH, secrets.token_bytes(8)), now_s)
        people = {p.number: p.id for p in await People(db).in_departments(None, limit=len(numbers) + 1000)}
        async with db.transaction() as conn:
            for k, pid in enumerate(people.values()):
                await People.set_password(conn, pid, NO_LOGIN_HASH, now_s)
                await People.set_verified_phone(conn, pid, f"139{k:08d}", now_s)
        tokens = [secrets.token_urlsafe(32) for _ in numbers]
        await Sessions(db).create_many([(t, people[n], secrets.token_urlsafe(24)) for t, n in zip(tokens, numbers,
                                                                                                   strict=True)],
                                       now_s, now_s + 86400, "bench")
        return tokens
    finally:
        await db.close()


async def count_checkins(dd: DataDir) -> tuple[int, int]:
    """(rows, distinct people) in the check-in table of ``dd``'s database."""
    db = await dd.open_database(migrate=False)
    try:
        row = await db.fetch_one("SELECT COUNT(*), COUNT(DISTINCT person_id) FROM checkins")
        assert row is not None
        return int(row[0]), int(row[1])
    finally:
        await db.close()


def body(rng: random.Random) -> dict[str, Any]:
    """A realistic check-in: mostly normal, about 2 % abnormal."""
    kind = rng.choices(["on_campus", "same_city", "other_province", "abroad"], [30, 25, 44, 1])[0]
    region = None if kind in ("on_campus", "abroad") else rng.choice(["420102", "110108", "310115", "440305"])
    abnormal = rng.random() < 0.02
    return {
        **NORMAL_ANSWERS, "location_kind": kind, "region_code": region,
        "temperature_c": round(rng.uniform(37.4, 38.6) if abnormal else rng.uniform(36.0, 37.1), 1),
        "symptoms": ["cough"] if abnormal and rng.random() < 0.5 else ["none"],
        "remarks": "" if rng.random() < 0.9 else "在家学习",
    }


def serve_bare(db_path: str) -> None:
    """The baseline: POST /bare parses the JSON body and INSERTs one row with aiosqlite."""

    async def main() -> None:
        conn = await aiosqlite.connect(db_path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            await conn.execute(f"PRAGMA {pragma}")
        await conn.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, person TEXT, body TEXT, at REAL)")
        lock = asyncio.Lock()

        async def handler(request: web.Request) -> web.Response:
            data = await request.json()
            async with lock:
                cur = await conn.execute("INSERT INTO bare (person, body, at) VALUES (?, ?, ?)",
                                         (request.headers.get("X-Person", ""), str(data), time.time()))
            return web.json_response({"id": cur.lastrowid})

        app = web.Application()
        app.router.add_post("/bare", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = [a for a in runner.addresses if isinstance(a, tuple)][0][1]
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())




async def closed_loop(send: Any, total: int) -> float:
    """Requests per second over ``total`` requests at CONCURRENCY."""
    counter = iter(range(total))
    t0 = time.perf_counter()

    async def worker() -> None:
        for i in counter:
            await send(i)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return total / (time.perf_counter() - t0)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(base: str, bare: str, tokens: list[str], app_pid: int, bare_pid: int
                     ) -> tuple[float, float, float, float]:
    """Closed-loop requests per second of the check-in server and the bare server, and each
    one's CPU milliseconds per request: ``(checkin_rps, bare_rps, checkin_cpu_ms, bare_cpu_ms)``."""
    rng = random.Random(1)
    bodies = [body(rng) for _ in tokens]
    conn = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def bare_post(i: int) -> None:
            async with http.post(bare + "bare", json=bodies[i % len(bodies)], headers={"X-Person": str(i)}) as r:
                assert r.status == 200, await r.text()
                await r.read()

        async def checkin(i: int) -> None:
            async with http.post(base + "api/v1/checkins/today", json=bodies[i],
                                 headers={"Cookie": f"cp_session={tokens[i]}"}) as r:
                assert r.status == 200, await r.text()
                await r.read()

        warm = 200

        async def checkin_rest(i: int) -> None:
            await checkin(i + warm)

        await closed_loop(bare_post, 300)  # warm-up
        await closed_loop(checkin, warm)  # warm-up on the first people
        cpu0 = cpu_s(bare_pid)
        bare_rps = await closed_loop(bare_post, len(tokens))
        bare_cpu_ms = (cpu_s(bare_pid) - cpu0) * 1000 / len(tokens)
        cpu0 = cpu_s(app_pid)
        checkin_rps = await closed_loop(checkin_rest, len(tokens) - warm)
        checkin_cpu_ms = (cpu_s(app_pid) - cpu0) * 1000 / (len(tokens) - warm)
    return checkin_rps, bare_rps, checkin_cpu_ms, bare_cpu_ms


def split(n: int) -> tuple[int, int]:
    """(off-peak, peak-minute) check-ins of the rush: the peak minute is 10x the 30-minute
    mean, so 30,000 students → 10,000 in the peak minute and 20,000 in the other 29."""
    peak_n = min(n, int(round(10 * n / 30)))
    return n - peak_n, peak_n


async def play(base: str, tokens: list[str], people: list[int], duration_s: float, seed_: int) -> dict[str, Any]:
    """Send one check-in for each of ``people`` evenly over ``duration_s`` seconds, open loop
    (on schedule whatever the answers), and wait for every answer. Latency counts from the
    scheduled send time."""
    rng = random.Random(seed_)
    latencies: list[float] = []
    errors: list[str] = []
    retries: list[str] = []
    conn = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as http:
        t0 = time.perf_counter()

        async def send(k: int, due: float) -> None:
            answers = body(rng)
            for attempt in range(1, RETRIES + 2):
                try:
                    async with http.post(base + "api/v1/checkins/today", json=answers,
                                         headers={"Cookie": f"cp_session={tokens[people[k]]}"}) as r:
                        await r.read()
                        if r.status != 200:
                            errors.append(f"HTTP {r.status}")
                        break
                except (TimeoutError, aiohttp.ClientError) as exc:
                    # a phone that times out taps again; the same-day upsert keeps one row
                    if attempt > RETRIES:
                        errors.append(type(exc).__name__)
                    else:
                        retries.append(type(exc).__name__)
            latencies.append((time.perf_counter() - due) * 1000)

        tasks = []
        for k in range(len(people)):
            due = t0 + duration_s * (k + 0.5) / len(people)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(k, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "retries": retries, "n": len(people), "elapsed_s": elapsed}


async def rush(base: str, tokens: list[str], peak_s: float, offpeak_s: float) -> dict[str, dict[str, Any]]:
    """The off-peak check-ins compressed into ``offpeak_s``, then (after they are all answered)
    the peak minute at its real rate over ``peak_s``."""
    order = list(range(len(tokens)))
    random.Random(2).shuffle(order)
    off_n, _peak_n = split(len(tokens))
    off = await play(base, tokens, order[:off_n], offpeak_s, 3)
    peak = await play(base, tokens, order[off_n:], peak_s, 4)
    return {"offpeak": off, "peak": peak}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30000, help="university size (default 30000)")
    parser.add_argument("--offpeak-s", type=float, default=60.0, help="seconds to play the 29 off-peak minutes in")
    parser.add_argument("--quick", action="store_true", help="3,000 students, 10 s peak, 10 s off-peak")
    parser.add_argument("--serve-bare", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    students, peak_s, offpeak_s, tp_people = args.students, 60.0, args.offpeak_s, THROUGHPUT_PEOPLE
    if args.quick:
        students, peak_s, offpeak_s, tp_people = 3000, 10.0, 10.0, 1000

    with tempfile.TemporaryDirectory() as tmp:
        dd = init_data_dir(Path(tmp) / "data", admin=None).datadir
        t0 = time.perf_counter()
        rush_numbers = [f"S{i:06d}" for i in range(students)]
        tp_numbers = [f"T{i:06d}" for i in range(tp_people)]
        tokens = asyncio.run(seed(dd, rush_numbers + tp_numbers))
        rush_tokens, tp_tokens = tokens[:students], tokens[students:]
        print(f"set-up: {students + tp_people} accounts and sessions made through the storage layer"
              f" (no Argon2id logins) in {time.perf_counter() - t0:.1f} s")
        app_proc, base = start([sys.executable, "-m", "campuspass", "server", "run", "--data", str(dd.root),
                                "--host", "127.0.0.1", "--port", "0"])
        bare_proc, bare = start([sys.executable, __file__, "--serve-bare", str(Path(tmp) / "bare.db")])
        try:
            checkin_rps, bare_rps, checkin_cpu, bare_cpu = asyncio.run(
                throughput(base, bare, tp_tokens, app_proc.pid, bare_proc.pid))
            print(f"bare aiohttp + one SQLite INSERT:     {bare_rps:8.0f} req/s   server CPU {bare_cpu:.2f} ms/request")
            print(f"POST /api/v1/checkins/today:          {checkin_rps:8.0f} req/s   ratio to bare"
                  f" {checkin_rps / bare_rps:.2f}   (concurrency {CONCURRENCY}, {os.cpu_count()} cores)")
            print(f"  server CPU {checkin_cpu:.2f} ms/request; CPU ratio bare/check-in {bare_cpu / checkin_cpu:.2f}")
            r = asyncio.run(rush(base, rush_tokens, peak_s, offpeak_s))
        finally:
            for p in (app_proc, bare_proc):
                p.terminate()
                p.wait(timeout=10)
        rows, distinct = asyncio.run(count_checkins(dd))
    real_peak = 10 * students / 30 / 60
    print(f"08:00 rush: {students} students check in within 30 min, peak minute 10x the mean"
          f" ({real_peak:.0f}/s real, {students / 30 / 60:.0f}/s mean):")
    labels = {"offpeak": f"other 29 min compressed ({offpeak_s:.0f} s)", "peak": f"peak minute, real rate ({peak_s:.0f} s)"}
    for name in ("offpeak", "peak"):
        ph = r[name]
        lat, errs = ph["latencies"], ph["errors"]
        print(f"  {labels[name]:36s} {ph['n']:6d} check-ins at {ph['n'] / (offpeak_s if name == 'offpeak' else peak_s):5.0f}/s:"
              f" p50 {pct(lat, 0.5):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  max {max(lat, default=0):8.1f} ms"
              f"  errors {len(errs)}{' ' + str(sorted(set(errs))) if errs else ''}"
              f"  retries after a {TIMEOUT_S:.0f} s timeout {len(ph['retries'])}"
              f"  (all answered after {ph['elapsed_s']:.0f} s)")
    all_lat = r["offpeak"]["latencies"] + r["peak"]["latencies"]
    print(f"  all {len(all_lat)}: p50 {pct(all_lat, 0.5):.1f} ms  p99 {pct(all_lat, 0.99):.1f} ms"
          f"  mean {statistics.fmean(all_lat):.1f} ms")
    print(f"check-in rows: {rows} for {distinct} people (expected {students + tp_people}: one per student,"
          " throughput phase included)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores;"
          " the machine may be shared)")


if __name__ == "__main__":
    main()
