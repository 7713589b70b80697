"""Server login and session cost against a bare aiohttp handler, on real loopback HTTP.

Prints, measured in one run:

* one Argon2id hash with the production parameters (median of 10, milliseconds);
* requests per second of a bare aiohttp handler doing one SQLite read (aiosqlite, the same
  database file) — the floor any real handler sits on;
* ``GET /api/v1/me`` per second (session cookie → session row → person row → JSON) and its ratio
  to the bare handler;
* ``POST /api/v1/auth/login`` per second (throttle check, Argon2id verify off the event loop,
  new session) and its ratio to the bare handler.

Both servers run as separate processes (``campuspass server run`` and a bare app), the client is
aiohttp with a fixed concurrency; loops are bounded by request counts and a time cap.

    python bench/server_auth.py            # well under a minute
    python bench/server_auth.py --quick    # fewer requests, for a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiosqlite
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import start  # noqa: E402

from provisioning.init import init_data_dir  # noqa: E402
from server.passwords import PasswordHasher  # noqa: E402

PEOPLE = 40
CONCURRENCY = 16


def hash_time_ms(n: int = 10) -> float:
    """Median wall time of one production Argon2id hash (ms)."""
    hasher = PasswordHasher()
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        hasher.hash_sync(f"12345{i % 10}")
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def serve_bare(db_path: str) -> None:
    """The baseline: GET /bare reads one person row with aiosqlite and answers JSON."""

    async def main() -> None:
        conn = await aiosqlite.connect(db_path)
        n = 0

        async def handler(_request: web.Request) -> web.Response:
            nonlocal n
            n = n % PEOPLE + 1
            async with conn.execute("SELECT number, name FROM people WHERE id = ?", (n,)) as cur:
                row = await cur.fetchone()
            return web.json_response({"number": row[0] if row else None, "name": row[1] if row else None})

        app = web.Application()
        app.router.add_get("/bare", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = [a for a in runner.addresses if isinstance(a, tuple)][0][1]
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())




async def rate(make_request, total: int, cap_s: float) -> float:  # type: ignore[no-untyped-def]
    """Requests per second over ``total`` requests (or fewer if ``cap_s`` runs out)."""
    done = 0
    counter = iter(range(total))
    t0 = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        for i in counter:
            if time.perf_counter() - t0 > cap_s:
                return
            await make_request(i)
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done / (time.perf_counter() - t0)


async def measure(base: str, bare: str, n_fast: int, n_login: int) -> dict[str, float]:
    out: dict[str, float] = {}
    conn = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def bare_get(_i: int) -> None:
            async with http.get(bare + "bare") as r:
                assert r.status == 200
                await r.read()

        # Sessions to reuse for /me.
        cookies = []
        for k in range(CONCURRENCY):
            async with http.post(base + "api/v1/auth/login",
                                 json={"username": f"B{k % PEOPLE:04d}", "password": "12345X"}) as r:
                assert r.status == 200, await r.text()
                cookies.append(r.cookies["cp_session"].value)

        async def me(i: int) -> None:
            async with http.get(base + "api/v1/me", headers={"Cookie": f"cp_session={cookies[i % len(cookies)]}"}) as r:
                assert r.status == 200
                await r.read()

        async def login(i: int) -> None:
            async with http.post(base + "api/v1/auth/login",
                                 json={"username": f"B{i % PEOPLE:04d}", "password": "12345X"}) as r:
                assert r.status == 200, await r.text()
                await r.read()

        await rate(bare_get, 200, 5)  # warm-up
        await rate(me, 200, 5)
        out["bare"] = await rate(bare_get, n_fast, 15)
        out["me"] = await rate(me, n_fast, 15)
        out["login"] = await rate(login, n_login, 15)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--serve-bare", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    n_fast, n_login = (500, 40) if args.quick else (3000, 300)

    print(f"Argon2id hash (m=19 MiB, t=2, p=1): {hash_time_ms():.1f} ms median of 10")
    with tempfile.TemporaryDirectory() as tmp:
        dd = init_data_dir(Path(tmp) / "data", admin=None).datadir
        roster = "number,name,id_last6,department_code,department_name,role\n" + "".join(
            f"B{i:04d},Person {i},12345X,CS,Computing,student\n" for i in range(PEOPLE))
        (Path(tmp) / "r.csv").write_text(roster, encoding="utf-8")
        subprocess.run([sys.executable, "-m", "campuspass", "server", "import-roster", "--data", str(dd.root),
                        str(Path(tmp) / "r.csv")], check=True, capture_output=True)
        app_proc, base = start([sys.executable, "-m", "campuspass", "server", "run", "--data", str(dd.root),
                                "--host", "127.0.0.1", "--port", "0"])
        bare_proc, bare = start([sys.executable, __file__, "--serve-bare", str(dd.db_path)])
        try:
            r = asyncio.run(measure(base, bare, n_fast, n_login))
        finally:
            for p in (app_proc, bare_proc):
                p.terminate()
                p.wait(timeout=10)
    print(f"bare aiohttp + one SQLite read:  {r['bare']:8.0f} req/s")
    print(f"GET /api/v1/me:                  {r['me']:8.0f} req/s   ratio to bare {r['me'] / r['bare']:.2f}")
    print(f"POST /api/v1/auth/login:         {r['login']:8.1f} req/s   ratio to bare {r['login'] / r['bare']:.3f}")
    print(f"(concurrency {CONCURRENCY}, {os.cpu_count()} cores; login is bound by Argon2id by design)")


if __name__ == "__main__":
    main()
