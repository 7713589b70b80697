"""Co-presence tracing and occupancy at university size, on SQLite and on PostgreSQL.

Generates ``--people`` people (default 30,000) in 20 departments, each living in one of 20
dormitories (entry and exit nodes), and ``--days`` days (default 28) of scans: every person
visits 4 buildings a day: their dormitory (entry in the evening, exit the next morning; 1 % never
badge out) and 3 day buildings drawn from 20 (15 with entry doors only: teaching buildings and
canteens; 5 with exit doors too: library and labs, stays of 30–150 min). About 4.6 million scans,
more than the 3.4 million the issue sizes (4 scans a person-day) since a visit to a building with
exit doors makes two. The same campus goes into each backend chosen with ``--backend`` (default
both), each day one transaction: a real SQLite file, through
:meth:`server.storage.scans.ScanLog.insert` (the sync upload's own statement, one
``executemany``), and a throwaway PostgreSQL server started for the run (``tests/pg.py``: a
cluster in a temporary folder on a free loopback port, durability off, stopped and removed at
the end), filled with ``COPY`` (the same rows; statement by statement would take ~20 minutes
here, and ingest speed is bench/sync_ingest.py's subject). Both loads bypass sync ingest, which
links each new scan to the person's previous scan at that building, so the scans are then linked
in one statement (:meth:`server.storage.presence.PresenceStore.relink`, what migration 0260 does to
stored scans), and vacuumed and analysed as autovacuum would after a bulk insert.

Then, in the same run, on each backend:

* the co-presence query (:class:`server.presence.tracing.CoPresence`, last 14 days, 15 min) for
  ``--samples`` random people (default 20): p50 and p99 (= max of 20) in ms, contacts found;
* a bare SQL self-join baseline for the same people on the same backend: everyone with an
  accepted scan at the same building within ±1 h of one of the person's accepted scans (no
  stays, no exits, no overlap: the least a hand-written query does);
* occupancy: :meth:`server.presence.occupancy.Occupancy.now` in-process, and ``GET /occupancy``
  (the page, with today's hourly chart) and ``GET /api/v1/occupancy`` over loopback HTTP from
  ``campuspass server run``. A server process keeps each building's scans between requests
  (server/presence/scan_cache.py), so the first request reads the whole window and the later
  ones (the median) mostly the last few minutes' scans; both are printed.

Targets: co-presence p99 under 1 s; occupancy page under 300 ms, on each backend.

``--ab REV`` also runs the same measurements with the code of git revision ``REV`` (extracted
to a temporary folder, run in a child process and its own server process) on the same
databases, people and run, and prints old against new and whether the answers are the same.

    python bench/tracing.py                          # ~15 minutes, most of it loading
    python bench/tracing.py --backend postgresql     # one backend
    python bench/tracing.py --quick --ab main        # 3,000 people, 28 days; against main's code
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

REPO = Path(__file__).resolve().parents[1]
CODE = Path(os.environ.get("BENCH_TRACING_CODE") or REPO)  # --ab: the older code measured in a child
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(CODE))

from harness import start  # noqa: E402

from provisioning.init import init_data_dir  # noqa: E402
from server.config import PresenceConfig  # noqa: E402
from server.datadir import DataDir  # noqa: E402
from server.presence.occupancy import Occupancy  # noqa: E402
from server.presence.tracing import CoPresence  # noqa: E402
from server.storage import Database  # noqa: E402
from server.storage.buildings import Buildings  # noqa: E402
from server.storage.nodes import Nodes  # noqa: E402
from server.storage.people import NewPerson, People  # noqa: E402
from server.storage.presence import PresenceStore  # noqa: E402
from server.storage.scans import ScanLog  # noqa: E402
from server.storage.sessions import Sessions  # noqa: E402
from shared.campus_time import checkin_day, day_start  # noqa: E402
from shared.clock import FakeClock, SystemClock, from_unix, to_unix  # noqa: E402
from tests.conftest import use_database  # noqa: E402
from tests.pg import PgCluster, start_cluster  # noqa: E402

DEPARTMENTS = 20
DORMS = 20
DAY_ENTRY_ONLY = 15
DAY_WITH_EXIT = 5
CODES_DORM = [f"D{i:02d}" for i in range(DORMS)]
CODES_OPEN = [f"T{i:02d}" for i in range(DAY_ENTRY_ONLY)]
CODES_EXIT = [f"L{i:02d}" for i in range(DAY_WITH_EXIT)]
NO_LOGIN_HASH = "$argon2id$v=19$m=65536,t=3,p=4$bm9sb2dpbg$bm9sb2dpbmJlbmNobWFya29ubHk"
TARGET_QUERY_MS = 1000.0
TARGET_PAGE_MS = 300.0
H_MS = 3_600_000

BACKENDS = ("sqlite", "postgresql")
COPY_SQL = (
    "COPY scans (scan_id, node_id, seq, building, direction, at_ms, clock_trusted, serial, subject, text_sha256,"
    " verdict, reason, hash, received_at, chain_epoch, trust_stale, node_at_ms, admitted_revoked) FROM STDIN"
)

BASELINE_SQL = (
    "SELECT COUNT(DISTINCT o.subject) FROM scans s JOIN scans o ON o.building = s.building"
    " AND o.at_ms BETWEEN s.at_ms - 3600000 AND s.at_ms + 3600000 AND o.verdict = 'accept'"
    " WHERE s.subject = ? AND s.at_ms BETWEEN ? AND ? AND s.verdict = 'accept' AND o.subject <> s.subject"
)


def _scan(i: int, node: str, building: str, direction: str, at_ms: int, subject: bytes) -> tuple:  # type: ignore[type-arg]
    return (f"{i:08x}-0000-7000-8000-{i:012x}", node, i, building, direction, at_ms, 1, secrets.token_bytes(8),
            subject, "0" * 64, "accept", "accepted", "0" * 64, at_ms // 1000 + 30)


@dataclass
class Target:
    """One backend under test: its data directory (``server.toml`` points at the database) and,
    for PostgreSQL, the database URL."""

    backend: str
    datadir: DataDir
    url: str = ""
    token: str = ""
    load_s: float = 0.0
    scans: int = 0
    size_mb: float = 0.0


async def setup(db: Database, people: int, subjects: list[bytes], now_s: int) -> str:
    """Buildings, nodes, departments, people and a school admin session; returns its token."""
    b = Buildings(db)
    nodes = Nodes(db)
    for code in CODES_DORM + CODES_OPEN + CODES_EXIT:
        await b.add_building(code, f"Building {code}", "campus")
        await nodes.register(f"{code}-in", building=code, public_key=os.urandom(32), now_s=now_s)
        if code[0] != "T":
            await nodes.register(f"{code}-out", building=code, public_key=os.urandom(32), now_s=now_s,
                                 direction="exit")
    async with db.transaction() as conn:
        for d in range(DEPARTMENTS):
            await People.upsert_department(conn, f"X{d:02d}", f"Department {d}")
        await People.upsert_many(conn, [
            NewPerson(f"S{i:06d}", f"学生{i}", "student", f"X{i % DEPARTMENTS:02d}", None, None, NO_LOGIN_HASH,
                      subjects[i]) for i in range(people)], now_s)
        await People.upsert(conn, NewPerson("A0001", "admin", "school_admin", None, None, None, NO_LOGIN_HASH,
                                            secrets.token_bytes(8)), now_s)
    admin_id = next(r[0] for r in await db.fetch_all("SELECT id FROM people WHERE number = 'A0001'"))
    async with db.transaction() as conn:
        await People.set_password(conn, admin_id, NO_LOGIN_HASH, now_s)
        await People.set_verified_phone(conn, admin_id, "13800000000", now_s)
    token = secrets.token_urlsafe(32)
    await Sessions(db).create_many([(token, admin_id, "a")], now_s, now_s + 86400, "bench")
    return token


def day_scans(rng: random.Random, subjects: list[bytes], base: int, n: int, now_ms: int) -> tuple[list[tuple], int]:  # type: ignore[type-arg]
    """One day's scans of everyone (starting at local midnight ``base``, Unix ms), in time order,
    none after ``now_ms``; scan numbers continue from ``n``. Returns (rows, last number)."""
    rows = []
    for p, subject in enumerate(subjects):
        dorm = CODES_DORM[p % DORMS]
        t = base + 8 * H_MS + rng.randrange(H_MS)
        for _visit in range(3):
            if rng.random() < DAY_WITH_EXIT / (DAY_WITH_EXIT + DAY_ENTRY_ONLY):
                code = rng.choice(CODES_EXIT)
                stay = rng.randrange(30, 150) * 60_000
                n += 1
                rows.append(_scan(n, f"{code}-in", code, "entry", t, subject))
                n += 1
                rows.append(_scan(n, f"{code}-out", code, "exit", t + stay, subject))
                t += stay
            else:
                code = rng.choice(CODES_OPEN)
                n += 1
                rows.append(_scan(n, f"{code}-in", code, "entry", t, subject))
                t += rng.randrange(30, 120) * 60_000
            t += rng.randrange(10, 90) * 60_000
        evening = base + 21 * H_MS + rng.randrange(150) * 60_000
        n += 1
        rows.append(_scan(n, f"{dorm}-in", dorm, "entry", evening, subject))
        if rng.random() >= 0.01:
            n += 1
            rows.append(_scan(n, f"{dorm}-out", dorm, "exit", base + 31 * H_MS + rng.randrange(120) * 60_000,
                              subject))
    rows = [r for r in rows if r[5] <= now_ms]
    rows.sort(key=lambda r: r[5])
    return rows, n


async def load(targets: list[Target], people: int, days: int, now_ms: int, rng: random.Random) -> list[str]:
    """Fill every target's database with the same campus; returns the people's numbers."""
    dbs = [await t.datadir.open_database() for t in targets]
    try:
        subjects = [secrets.token_bytes(8) for _ in range(people)]
        for t, db in zip(targets, dbs, strict=True):
            t.token = await setup(db, people, subjects, now_ms // 1000)
        today_start_ms = to_unix(day_start(checkin_day(from_unix(now_ms / 1000)))) * 1000
        n = 0
        for back in range(days - 1, -1, -1):
            rows, n = day_scans(rng, subjects, today_start_ms - back * 24 * H_MS, n, now_ms)
            for t, db in zip(targets, dbs, strict=True):
                t0 = time.perf_counter()
                async with db.transaction() as conn:
                    if t.backend == "sqlite":
                        await ScanLog.insert(conn, rows)
                    else:
                        raw: psycopg.AsyncConnection[Any] = conn.raw  # type: ignore[attr-defined]
                        async with raw.cursor().copy(COPY_SQL) as copy:
                            for r in rows:
                                await copy.write_row((*r, 0, 0, r[5], 0))
                t.load_s += time.perf_counter() - t0
        for t, db in zip(targets, dbs, strict=True):
            t0 = time.perf_counter()
            # the bulk load bypassed sync ingest, which links each new scan to the person's previous
            # scan at that building: link them all at once (what migration 0260 does to stored scans)
            async with db.transaction() as conn:
                await PresenceStore.relink(conn, 0)
            if t.backend == "sqlite":
                await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                await db.conn.execute("ANALYZE")
                t.size_mb = t.datadir.db_path.stat().st_size / 1e6
            else:  # what autovacuum does after a bulk insert: statistics and the visibility map
                with psycopg.connect(t.url, autocommit=True) as conn:
                    conn.execute("VACUUM (ANALYZE)")
                    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
                    t.size_mb = int(row[0]) / 1e6 if row else 0.0
            t.load_s += time.perf_counter() - t0
            t.scans = await ScanLog(db).count()
        return [f"S{i:06d}" for i in range(people)]
    finally:
        for db in dbs:
            await db.close()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` and, when it is a PostgreSQL postmaster,
    its server processes have used so far (Linux ``/proc``; a process gone is counted as 0)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()]
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Measured:
    """Figures of one backend with one version of the code (ms), and a digest of its answers."""

    q_ms: list[float]
    q_cpu_ms: list[float]  # CPU of this process (and of the PostgreSQL server's processes) per query
    q_n: list[int]
    b_ms: list[float]
    b_n: list[int]
    o_ms: list[float]
    pages: list[tuple[str, float, list[float]]]
    answers: str
    page_cpu_ms: float = 0.0  # CPU of the server process (and PostgreSQL's) per occupancy page


async def measure_queries(datadir: DataDir, numbers: list[str], now_ms: int, pg_pid: int | None) -> Measured:
    """Times (ms) and result sizes of the co-presence query, the baseline and occupancy."""
    db = await datadir.open_database(migrate=False)
    try:
        clock = FakeClock(from_unix(now_ms / 1000))
        config = PresenceConfig()
        service = CoPresence(db, clock, config)
        admin = await People(db).by_number("A0001")
        assert admin is not None
        await service.query(admin, numbers[0], from_ms=None, to_ms=None, min_overlap_min=None, reason="warm-up")
        q_ms, q_cpu_ms, q_n, b_ms, b_n = [], [], [], [], []
        digest = hashlib.sha256()
        lo = now_ms - config.tracing_days * 24 * H_MS
        for number in numbers:
            cpu0 = time.process_time() + (cpu_s(pg_pid) if pg_pid else 0.0)
            t0 = time.perf_counter()
            result = await service.query(admin, number, from_ms=None, to_ms=None, min_overlap_min=None,
                                         reason="benchmark")
            q_ms.append((time.perf_counter() - t0) * 1000)
            q_cpu_ms.append((time.process_time() + (cpu_s(pg_pid) if pg_pid else 0.0) - cpu0) * 1000)
            q_n.append(len(result.contacts))
            digest.update(repr([(c.person.number, c.overlap_ms, c.stays) for c in result.contacts]).encode())
            digest.update(repr([(t.stay, t.unidentified, [(c.person.number, c.overlap_ms) for c in t.contacts])
                                for t in result.stays]).encode())
            person = await People(db).by_number(number)
            assert person is not None
            t0 = time.perf_counter()
            row = await db.fetch_one(BASELINE_SQL, (person.subject, lo, now_ms))
            b_ms.append((time.perf_counter() - t0) * 1000)
            b_n.append(int(row[0]) if row else 0)
        occ = Occupancy(db, clock, config)
        o_ms = []
        for _ in range(6):
            t0 = time.perf_counter()
            _now, buildings = await occ.now()
            o_ms.append((time.perf_counter() - t0) * 1000)
        digest.update(repr([(b.code, b.inside, b.newest_scan_ms) for b in buildings]).encode())
        _now, _buildings, hours = await occ.today()  # today's hourly chart
        digest.update(repr(sorted(hours.items())).encode())
        return Measured(q_ms, q_cpu_ms, q_n, b_ms, b_n, o_ms[1:], [], digest.hexdigest())
    finally:
        await db.close()


def measure(datadir: DataDir, token: str, sample: list[str], now_ms: int, repeat: int,
            pg_pid: int | None) -> Measured:
    """In-process figures, then the pages over loopback HTTP from ``campuspass server run``
    (started with this process's code: from its folder, as ``python -m`` puts the working folder
    first on the path, and with ``PYTHONPATH`` set to it). ``pg_pid``: the PostgreSQL postmaster,
    whose processes' CPU is counted too."""
    out = asyncio.run(measure_queries(datadir, sample, now_ms, pg_pid))
    if CODE != REPO:  # the server process (started with this environment) runs the same code
        os.environ["PYTHONPATH"] = str(CODE)
        os.chdir(CODE)
    proc, base = start([sys.executable, "-m", "campuspass", "server", "run", "--data", str(datadir.root),
                        "--host", "127.0.0.1", "--port", "0"])
    try:
        out.pages, out.page_cpu_ms = asyncio.run(measure_pages(base, token, repeat, [proc.pid, *([pg_pid] if pg_pid else [])]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def measure_old(code: Path, datadir: DataDir, token: str, sample: list[str], now_ms: int, repeat: int,
                pg_pid: int | None) -> Measured:
    """:func:`measure` with the code extracted in ``code``, in a child process."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([str(datadir.root), token, sample, now_ms, repeat, pg_pid])],
        env={**os.environ, "BENCH_TRACING_CODE": str(code)}, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise SystemExit(f"the old code's measurement failed:\n{child.stderr[-3000:]}")
    data = json.loads(child.stdout.strip().splitlines()[-1])
    data["pages"] = [tuple(p) for p in data["pages"]]
    return Measured(**data)


async def measure_pages(base: str, token: str, repeat: int, pids: list[int]
                        ) -> tuple[list[tuple[str, float, list[float]]], float]:
    """Times (ms) of the occupancy page and API (first, then ``repeat`` more), and the CPU of
    ``pids`` (the server, PostgreSQL) per page after the first (ms)."""
    out = []
    page_cpu_ms = 0.0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for label, path in (("occupancy page  GET /occupancy", "/occupancy"),
                            ("occupancy API   GET /api/v1/occupancy", "/api/v1/occupancy")):
            ms = []
            for i in range(repeat + 1):
                if i == 1:
                    cpu0 = sum(cpu_s(pid) for pid in pids)
                t0 = time.perf_counter()
                async with http.get(base + path.lstrip("/"), headers={"Cookie": f"cp_session={token}"}) as r:
                    body = await r.read()
                    assert r.status == 200, (path, r.status, body[:300])
                ms.append((time.perf_counter() - t0) * 1000)
            if path == "/occupancy":
                page_cpu_ms = (sum(cpu_s(pid) for pid in pids) - cpu0) * 1000 / repeat
            out.append((label, ms[0], ms[1:]))
    return out, page_cpu_ms


@contextlib.contextmanager
def cluster_if(wanted: bool) -> Iterator[PgCluster | None]:
    """A throwaway PostgreSQL server (tests/pg.py) when ``wanted``, stopped and removed on exit."""
    if not wanted:
        yield None
        return
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def page_median(m: Measured) -> float:
    """Median time of the occupancy page (ms)."""
    return next(statistics.median(later) for label, _first, later in m.pages if "page" in label)


def report(t: Target, args: argparse.Namespace, m: Measured, load: tuple[float, float], old: Measured | None) -> list[str]:
    """The figures of one backend, printed; returns the targets missed."""
    missed = []
    q_ms, q_n, b_ms, b_n, o_ms, pages = m.q_ms, m.q_n, m.b_ms, m.b_n, m.o_ms, m.pages
    print(f"== {t.backend}: {t.scans} scans loaded in {t.load_s:.1f} s ({t.scans / t.load_s:,.0f} scans/s);"
          f" database {t.size_mb:.0f} MB")
    print(f"co-presence query, {args.samples} random people, last 14 days, 15 min threshold (in-process, ms):")
    print(f"  stays + overlaps (product)   p50 {statistics.median(q_ms):7.1f}   p99 {pct(q_ms, 0.99):7.1f}"
          f"   contacts median {statistics.median(q_n):.0f}   CPU median {statistics.median(m.q_cpu_ms):.1f}")
    print(f"  bare SQL self-join baseline  p50 {statistics.median(b_ms):7.1f}   p99 {pct(b_ms, 0.99):7.1f}"
          f"   people within ±1 h median {statistics.median(b_n):.0f}")
    print(f"  ratio product / baseline     p50 {statistics.median(q_ms) / statistics.median(b_ms):.2f}"
          f"   p99 {pct(q_ms, 0.99) / pct(b_ms, 0.99):.2f}")
    met = pct(q_ms, 0.99) < TARGET_QUERY_MS
    print(f"  target p99 under {TARGET_QUERY_MS:.0f} ms: {'met' if met else 'NOT met'}")
    if not met:
        missed.append(f"{t.backend} co-presence p99")
    print(f"occupancy now, in-process (5 runs): median {statistics.median(o_ms):.1f} ms, max {max(o_ms):.1f} ms")
    print(f"over loopback HTTP from campuspass server run, ms (first, then {args.repeat} more: median / p95 / max):")
    worst = 0.0
    for label, first, later in pages:
        worst = max(worst, statistics.median(later)) if "page" in label else worst
        print(f"  {label:40s} first {first:7.1f}   median {statistics.median(later):7.1f}"
              f"   p95 {pct(later, 0.95):7.1f}   max {max(later):7.1f}")
    print(f"  occupancy page CPU (server{' + PostgreSQL' if t.backend == 'postgresql' else ''}):"
          f" {m.page_cpu_ms:.1f} ms a page")
    met = worst < TARGET_PAGE_MS
    print(f"  target occupancy page under {TARGET_PAGE_MS:.0f} ms: {'met' if met else 'NOT met'} (median {worst:.1f} ms)")
    if not met:
        missed.append(f"{t.backend} occupancy page")
    print(f"  load average (1 min) before / after measuring: {load[0]:.1f} / {load[1]:.1f}")
    if old is not None:
        print(f"A/B against the code of {args.ab} (same database, people and run; ms, old / this code = ratio):")
        for label, a, b in (("co-presence p50", statistics.median(old.q_ms), statistics.median(q_ms)),
                            ("co-presence p99", pct(old.q_ms, 0.99), pct(q_ms, 0.99)),
                            ("co-presence CPU median", statistics.median(old.q_cpu_ms),
                             statistics.median(m.q_cpu_ms)),
                            ("occupancy now in-process median", statistics.median(old.o_ms), statistics.median(o_ms)),
                            ("occupancy page median", page_median(old), page_median(m)),
                            ("occupancy page CPU", old.page_cpu_ms, m.page_cpu_ms)):
            print(f"  {label:34s} {a:8.1f} / {b:8.1f} = {b / a:5.2f}")
        same = old.answers == m.answers
        print(f"  answers (contacts, overlaps, stays, people inside, today's chart):"
              f" {'the same' if same else 'DIFFERENT'}")
        if not same:
            missed.append(f"{t.backend} answers differ from {args.ab}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ab", metavar="REV", help="also measure the code of this git revision")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # --ab: measure with BENCH_TRACING_CODE, print JSON
    args = parser.parse_args()
    if args.child:
        root, token, sample, now_ms, repeat, pg_pid = json.loads(args.child)
        print(json.dumps(dataclasses.asdict(measure(DataDir(Path(root)), token, sample, now_ms, repeat, pg_pid))))
        return
    if args.quick:
        args.people = 3000
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    rng = random.Random(19)
    # the scans end now (the server process below reads the real clock too)
    now_ms = to_unix(SystemClock().now()) * 1000
    print(f"{os.cpu_count()} cores shared; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, cluster_if("postgresql" in backends) as cluster:
        targets = []
        for backend in backends:
            dd = init_data_dir(Path(tmp) / backend, admin=None).datadir
            text = dd.config_path.read_text(encoding="utf-8")
            dd.config_path.write_text(text.replace("auto = true", "auto = false"), encoding="utf-8")
            url = cluster.create_database() if backend == "postgresql" and cluster is not None else ""
            targets.append(Target(backend, use_database(dd, url), url))
        numbers = asyncio.run(load(targets, args.people, args.days, now_ms, rng))
        print(f"generated {args.people} people, {args.days} days")
        sample = rng.sample(numbers, args.samples)
        old_code = None
        if args.ab:
            old_code = Path(tmp) / "old-code"
            old_code.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.ab], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive.stdout, check=True)
        for t in targets:
            load_before = os.getloadavg()[0]
            pg_pid = cluster.process.pid if cluster is not None and t.backend == "postgresql" else None
            m = measure(t.datadir, t.token, sample, now_ms, args.repeat, pg_pid)
            old = None if old_code is None else measure_old(old_code, t.datadir, t.token, sample, now_ms, args.repeat,
                                                            pg_pid)
            missed += report(t, args, m, (load_before, os.getloadavg()[0]), old)
    print(f"{os.cpu_count()} cores shared; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    if missed:
        print("targets missed: " + ", ".join(missed))


if __name__ == "__main__":
    main()
