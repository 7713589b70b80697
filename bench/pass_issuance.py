"""Pass issuance and arrival decoding cost, measured in one run.

Prints:

* raw Ed25519 pass signing (``shared.pass_format.sign_pass``) per second — the floor;
* ``server.passes.issue_pass`` per second (sign + one INSERT into SQLite) and its ratio to raw
  signing;
* a check-in's pass status part (``PassService.checked_in`` in a transaction of its own: status
  row update, signing, recording, storing the current pass) per second, with p50/p99 latency — what the
  08:00 check-in rush costs the pass side (30,000 students in 30 minutes is ~17 per second
  on average, ~170 per second in a peak minute at 10x the mean);
* decoding a phone photo of a pass for arrival confirmation (zxing-cpp, 1080x1440 JPEG, rotated
  and blurred): p50/p99 milliseconds.

    python bench/pass_issuance.py            # well under a minute
    python bench/pass_issuance.py --quick    # fewer rounds, for a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provisioning.init import init_data_dir  # noqa: E402
from server.arrivals import decode_photo  # noqa: E402
from server.config import PassConfig  # noqa: E402
from server.datadir import DataDir  # noqa: E402
from server.pass_status import PassService  # noqa: E402
from server.passes import issue_pass  # noqa: E402
from server.qr import qr_png  # noqa: E402
from server.storage import Database  # noqa: E402
from server.storage.pass_status import PassStatusStore, StatusRow  # noqa: E402
from server.storage.passes import Passes  # noqa: E402
from server.storage.people import NewPerson, People  # noqa: E402
from shared.campus_time import checkin_day, next_checkin_deadline  # noqa: E402
from shared.clock import FakeClock, to_unix  # noqa: E402
from shared.pass_format import PassFields, PassStatus, sign_pass  # noqa: E402

NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_signing_per_s(key_id: int, key: object, n: int) -> float:
    fields = PassFields(key_id, secrets.token_bytes(8), secrets.token_bytes(8), PassStatus.GREEN, (1,),
                        to_unix(NOW), to_unix(NOW) + 86400)
    start = time.perf_counter()
    for _ in range(n):
        sign_pass(fields, key)  # type: ignore[arg-type]
    return n / (time.perf_counter() - start)


def phone_photo(text: str) -> bytes:
    qr = cv2.imdecode(np.frombuffer(qr_png(text, scale_px=10), np.uint8), cv2.IMREAD_COLOR)
    scene = np.full((1800, 1400, 3), (70, 80, 90), np.uint8)
    y, x = (1800 - qr.shape[0]) // 2, (1400 - qr.shape[1]) // 2
    scene[y:y + qr.shape[0], x:x + qr.shape[1]] = qr
    rot = cv2.getRotationMatrix2D((700, 900), 12.0, 1.0)
    scene = cv2.warpAffine(scene, rot, (1400, 1800), borderValue=(70, 80, 90))
    scene = cv2.GaussianBlur(scene, (5, 5), 1.2)
    scene = cv2.resize(scene, (1080, 1440), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


async def run(datadir: DataDir, clock: FakeClock, quick: bool) -> None:
    n_sign = 500 if quick else 3000
    n_people = 200 if quick else 1500
    n_photos = 10 if quick else 40
    db = await Database.open(datadir.db_path)
    try:
        signer = datadir.current_signer(NOW)
        raw = raw_signing_per_s(signer.key_id, signer.key, n_sign)

        passes = Passes(db)
        until = next_checkin_deadline(NOW)
        start = time.perf_counter()
        for _ in range(n_sign):
            await issue_pass(datadir, passes, subject=secrets.token_bytes(8), status=PassStatus.GREEN,
                             scope=(1,), valid_from=NOW, valid_until=until, now=NOW, issued_by="bench")
        issued = n_sign / (time.perf_counter() - start)

        # people who are green, then each one's check-in (the pass status part)
        async with db.transaction() as conn:
            await People.upsert_department(conn, "CS", "Computer Science")
            for i in range(n_people):
                await People.upsert(conn, NewPerson(f"S{i:06d}", f"Student {i}", "student", "CS", None, None,
                                                    "x", secrets.token_bytes(8)), to_unix(NOW))
            rows = await (await conn.execute("SELECT id FROM people ORDER BY id")).fetchall()
            ids = [int(r[0]) for r in rows]
            for pid in ids:
                await PassStatusStore.put(conn, StatusRow(pid, status="green", updated_at_s=to_unix(NOW)))
        service = PassService(db, datadir, PassConfig(), clock)
        day = checkin_day(NOW).isoformat()
        latencies = []
        start = time.perf_counter()
        for pid in ids:
            t0 = time.perf_counter()
            async with db.transaction() as conn:
                await service.checked_in(conn, pid, day, False, NOW)
            latencies.append((time.perf_counter() - t0) * 1000)
        events = n_people / (time.perf_counter() - start)
        sample = await service.store.get(ids[0])
        assert sample.current_text is not None

        photo = phone_photo(sample.current_text)
        decode_photo(photo)  # warm up the decoder
        decode_ms = []
        for _ in range(n_photos):
            t0 = time.perf_counter()
            assert decode_photo(photo) == sample.current_text
            decode_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        await db.close()

    print(f"raw pass signing:                {raw:8.0f} /s")
    print(f"issue_pass (sign + INSERT):      {issued:8.0f} /s   ratio to raw signing {issued / raw:.2f}")
    print(f"check-in -> fresh pass:          {events:8.0f} /s   p50 {pct(latencies, .5):.2f} ms"
          f"  p99 {pct(latencies, .99):.2f} ms  ({n_people} people)")
    print(f"08:00 rush need (30,000 in 30 min, peak minute 10x): {30000 / 1800 * 10:.0f} /s")
    print(f"arrival photo decode (1080x1440 JPEG, {len(photo) // 1024} KiB): p50 {statistics.median(decode_ms):.1f} ms"
          f"  p99 {pct(decode_ms, .99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(NOW)
        datadir = init_data_dir(Path(tmp) / "data", clock).datadir
        asyncio.run(run(datadir, clock, args.quick))


if __name__ == "__main__":
    main()
