"""Dashboard response times with a university's worth of data, on real loopback HTTP.

Loads a real SQLite file with ``--students`` students (default 30,000) in 20 departments of 15
classes, ``--days`` days (default 30) of check-ins ending today (about 92 % done, 2 % abnormal on
past days; 70 % done so far today), pass statuses, 4,000 return applications, 3,000 arrivals and
10,000 door scans a day. Everything goes in through the storage layer with ``executemany`` in
large transactions (no HTTP, no Argon2id); one counsellor (one department, 1,500 students) and
one school admin get sessions made directly through ``Sessions``.

The closed days' figures are then computed once, as the server's background step does every
minute (:func:`server.dashboards.figures.close_past_days`; its time is printed). Then
``campuspass server run`` serves the data directory as its own process and the script times, per
page, the first request and ``--repeat`` more (median, p95, max). The campus figures are
computed at most once a minute and shared (:class:`server.dashboards.figures.CampusFiguresCache`),
so for the school pages the first request is the full computation (plus the first rendering of
its template) and the later ones reuse it; the full computation is also timed on its own,
in-process, at the end:

* ``GET /dashboard`` (counsellor home) and ``GET /api/v1/checkins/missing`` (counsellor);
* ``GET /dashboard/school`` and ``GET /api/v1/stats/campus`` (school figures);
* ``GET /api/v1/stats/checkins`` (14 days, every department);
* ``GET /metrics`` (a Prometheus scrape from loopback: every database-backed gauge read afresh).

Target: the counsellor home and the school figures each under 300 ms.

    python bench/dashboards.py              # about a minute, most of it loading
    python bench/dashboards.py --quick      # 3,000 students, 10 days
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from harness import start  # noqa: E402

from provisioning.init import init_data_dir  # noqa: E402
from server.dashboards.figures import campus_figures, close_past_days  # noqa: E402
from server.storage import Database  # noqa: E402
from server.storage.applications import Applications, ItineraryLeg, NewApplication  # noqa: E402
from server.storage.dashboard import DashboardStore  # noqa: E402
from server.storage.pass_status import PassStatusStore, Status, StatusRow  # noqa: E402
from server.storage.people import NewPerson, People  # noqa: E402
from server.storage.scans import ScanLog  # noqa: E402
from server.storage.sessions import Sessions  # noqa: E402
from shared.campus_time import checkin_day, day_start  # noqa: E402
from shared.clock import SystemClock, to_unix  # noqa: E402

DEPARTMENTS = 20
CLASSES = 15
BUILDINGS = 20
SCANS_PER_DAY = 10_000
APPLICATIONS = 4_000
ARRIVALS = 3_000
TARGET_MS = 300.0
NO_LOGIN_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoYmVuYw"
SYMPTOMS_NONE = json.dumps(["none"])


async def load(db_path: Path, students: int, days: int, rng: random.Random) -> tuple[str, str, dict[str, float]]:
    """Fill the database; returns the counsellor's and the admin's session tokens and load times (s)."""
    db = await Database.open(db_path)
    now = SystemClock().now()
    now_s = to_unix(now)
    today = checkin_day(now)
    times: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        async with db.transaction() as conn:
            for d in range(DEPARTMENTS):
                await People.upsert_department(conn, f"D{d:02d}", f"Department {d}")
            await People.upsert_many(conn, [
                NewPerson(f"S{i:06d}", f"学生{i}", "student", f"D{i % DEPARTMENTS:02d}",
                          f"D{i % DEPARTMENTS:02d}-{(i // DEPARTMENTS) % CLASSES + 1:02d}", f"139{i:08d}",
                          NO_LOGIN_HASH, secrets.token_bytes(8)) for i in range(students)], now_s)
            for number, role, dept in (("C0001", "counsellor", "D00"), ("A0001", "school_admin", None)):
                await People.upsert(conn, NewPerson(number, number, role, dept, None, None, NO_LOGIN_HASH,  # type: ignore[arg-type]
                                                     secrets.token_bytes(8)), now_s)
            await People.set_counsellor_departments(conn, "C0001", ["D00"])
        ids = [r[0] for r in await db.fetch_all("SELECT id FROM people WHERE role = 'student' ORDER BY id")]
        staff = {r[1]: r[0] for r in await db.fetch_all("SELECT id, number FROM people WHERE role != 'student'")}
        async with db.transaction() as conn:
            for pid in staff.values():
                await People.set_password(conn, pid, NO_LOGIN_HASH, now_s)
                await People.set_verified_phone(conn, pid, f"138{pid:08d}", now_s)
        times["people"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        total = 0
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            share = 0.70 if back == 0 else 0.92
            base_s = to_unix(day_start(day)) + 8 * 3600
            rows = []
            for pid in ids:
                if rng.random() >= share:
                    continue
                abnormal = rng.random() < 0.02
                rows.append((pid, day.isoformat(), "on_campus", None, 38.0 if abnormal else 36.5,
                             json.dumps(["cough"]) if abnormal else SYMPTOMS_NONE, 0, 0, "none", int(abnormal),
                             min(now_s, base_s + rng.randrange(4 * 3600))))
            async with db.transaction() as conn:
                await DashboardStore.load_checkins(conn, rows)
            total += len(rows)
        times["checkins"] = time.perf_counter() - t0
        times["checkin_rows"] = total

        t0 = time.perf_counter()
        states = ["submitted", "dept_approved", "approved", "arrived", "dept_rejected", "withdrawn"]
        counsellor, admin = staff["C0001"], staff["A0001"]
        async with db.transaction() as conn:
            for k, pid in enumerate(rng.sample(ids, min(APPLICATIONS, len(ids) // 2))):
                planned = today + timedelta(days=rng.randrange(-10, 10))
                leg = ItineraryLeg("rail", "G1", "420102", "110108", f"{planned}T08:00+08:00", f"{planned}T12:00+08:00")
                dept = f"D{(pid - ids[0]) % DEPARTMENTS:02d}"
                await Applications.insert(conn, NewApplication(pid, dept, planned, "420102", (leg,), "返校", "v1",
                                                               {}, None, now_s + 86400 * 30), state=states[k % 6],
                                          now_s=now_s - rng.randrange(14 * 86400))
            for pid in rng.sample(ids, min(ARRIVALS, len(ids) // 4)):
                await PassStatusStore.add_arrival(conn, person_id=pid, counsellor_id=counsellor, at_s=now_s
                                                  - rng.randrange(14 * 86400), method="list", serial=None)
            for pid in ids:
                r = rng.random()
                status: Status | None = "green" if r < 0.6 else "black" if r < 0.7 else "hold" if r < 0.73 else None
                if status is not None:
                    await PassStatusStore.put(conn, StatusRow(pid, status=status, base="green" if status == "hold"
                                                              else status, updated_at_s=now_s))
            for back in range(days):
                start_ms = to_unix(day_start(today - timedelta(days=back))) * 1000
                await ScanLog.insert(conn, [(
                    f"b{back}-{n}", f"node-{n % BUILDINGS}", n, f"B{n % BUILDINGS:02d}", "entry",
                    start_ms + rng.randrange(86_400_000), 1, None, None, "0" * 64,
                    "accept" if rng.random() < 0.95 else "deny", "accepted", "0" * 64, now_s)
                    for n in range(SCANS_PER_DAY)])
        times["other"] = time.perf_counter() - t0
        del admin
        tokens = [secrets.token_urlsafe(32) for _ in range(2)]
        await Sessions(db).create_many([(tokens[0], staff["C0001"], "c"), (tokens[1], staff["A0001"], "a")],
                                       now_s, now_s + 86400, "bench")
        t0 = time.perf_counter()
        await close_past_days(db, SystemClock().now())  # what the server's background step does
        times["close_days"] = time.perf_counter() - t0
        await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await db.conn.execute("ANALYZE")
        return tokens[0], tokens[1], times
    finally:
        await db.close()




async def measure(base: str, pages: list[tuple[str, str, str]], repeat: int) -> list[tuple[str, float, list[float]]]:
    """``(label, first_ms, [later_ms])`` per ``(label, path, token)``."""
    out = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for label, path, token in pages:
            ms = []
            for _ in range(repeat + 1):
                t0 = time.perf_counter()
                async with http.get(base + path.lstrip("/"), headers={"Cookie": f"cp_session={token}"}) as r:
                    body = await r.read()
                    assert r.status == 200, (path, r.status, body[:300])
                ms.append((time.perf_counter() - t0) * 1000)
            out.append((label, ms[0], ms[1:]))
    return out


async def compute_times(db_path: Path, repeat: int) -> list[float]:
    """Milliseconds of full campus-figure computations (no cache, in-process, warm database)."""
    db = await Database.open(db_path, migrate=False)
    try:
        out = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            await campus_figures(db, SystemClock().now())
            out.append((time.perf_counter() - t0) * 1000)
        return out[1:]
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.students, args.days, args.repeat = 3000, 10, 5
    rng = random.Random(9)
    with tempfile.TemporaryDirectory() as tmp:
        dd = init_data_dir(Path(tmp) / "data", admin=None).datadir
        # the automatic reminder would text thousands of students in the middle of the run
        text = dd.config_path.read_text(encoding="utf-8")
        dd.config_path.write_text(text.replace("auto = true", "auto = false"), encoding="utf-8")
        t0 = time.perf_counter()
        c_tok, a_tok, times = asyncio.run(load(dd.db_path, args.students, args.days, rng))
        size_mb = dd.db_path.stat().st_size / 1e6
        print(f"loaded {args.students} students, {int(times['checkin_rows'])} check-ins over {args.days} days,"
              f" up to {APPLICATIONS} applications and {ARRIVALS} arrivals, {SCANS_PER_DAY * args.days} scans"
              f" in {time.perf_counter() - t0:.1f} s (people {times['people']:.1f} s, check-ins"
              f" {times['checkins']:.1f} s, rest {times['other']:.1f} s); database {size_mb:.0f} MB")
        print(f"closed-day figures of the 14-day trend computed and kept (the server's background step)"
              f" in {times['close_days'] * 1000:.0f} ms")
        proc, base = start([sys.executable, "-m", "campuspass", "server", "run", "--data", str(dd.root),
                            "--host", "127.0.0.1", "--port", "0"])
        try:
            results = asyncio.run(measure(base, [
                ("counsellor home      GET /dashboard", "/dashboard", c_tok),
                ("counsellor not-yet   GET /api/v1/checkins/missing", "/api/v1/checkins/missing", c_tok),
                ("school home          GET /dashboard/school", "/dashboard/school", a_tok),
                ("school figures       GET /api/v1/stats/campus", "/api/v1/stats/campus", a_tok),
                ("14-day statistics    GET /api/v1/stats/checkins", "/api/v1/stats/checkins", a_tok),
                ("Prometheus scrape    GET /metrics", "/metrics", ""),
            ], args.repeat))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        computed = sorted(asyncio.run(compute_times(dd.db_path, 5)))
    print(f"response times over loopback HTTP, ms (first request, then {args.repeat} more: median / p95 / max);"
          f" {os.cpu_count()} cores shared")
    worst = 0.0
    for label, first, later in results:
        later.sort()
        p95 = later[min(len(later) - 1, int(0.95 * len(later)))]
        worst = max(worst, statistics.median(later))
        print(f"  {label:52s} first {first:7.1f}   median {statistics.median(later):7.1f}"
              f"   p95 {p95:7.1f}   max {later[-1]:7.1f}")
    verdict = "met" if worst < TARGET_MS else "NOT met"
    print(f"target: every median under {TARGET_MS:.0f} ms: {verdict} (worst median {worst:.1f} ms)")
    print(f"campus figures computed without the cache (in-process, 5 runs): median"
          f" {statistics.median(computed):.1f} ms, max {computed[-1]:.1f} ms")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
