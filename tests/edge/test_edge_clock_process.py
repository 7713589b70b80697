"""A separately started ``campuspass edge run`` on a wrong wall clock (docs/decision.md, "Time on
the node": the documented way to try it is libfaketime).

Each test starts the real command under ``faketime`` with ``FAKETIME_DONT_FAKE_MONOTONIC=1``: the
wall clock is stepped and the monotonic clock and the boot id are left alone, as a bad NTP answer
or a wrong RTC does. The node replays pass photographs from a folder and exits; the test then
reads its database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import cv2

from campuspass.processes import campuspass_argv
from edge.config import NodeConfig, dump_node_config
from edge.node import open_store
from shared.scanlog import ScanRecord

from .helpers import Campus, make_bundle_dir, pass_image, photographed

DAY_S = 86_400


def faketime_argv(offset: str) -> list[str]:
    """``faketime`` (installed by ./dev from Debian's faketime package) stepping the wall clock by
    ``offset`` (libfaketime syntax, e.g. ``+365d``)."""
    exe = shutil.which("faketime")
    assert exe, "faketime is missing: ./dev installs Debian's faketime package"
    return [exe, "-f", offset]


def run_node(config: NodeConfig, shots: Path, offset: str | None) -> subprocess.CompletedProcess[str]:
    """``edge run`` replaying the PNG files in ``shots``, under ``faketime offset`` when given."""
    cfg = replace(config, camera=replace(config.camera, source=f"files:{shots}/*.png"))
    path = config.base_dir / "node.toml"
    path.write_text(dump_node_config(cfg), encoding="utf-8")
    argv = campuspass_argv("edge", "run", "--config", str(path))
    env = dict(os.environ)
    if offset is not None:
        argv = faketime_argv(offset) + argv
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def shoot(campus: Campus, folder: Path, count: int, now_s: int) -> None:
    """``count`` photographs of green passes issued an hour before ``now_s`` (real time) and valid
    for an hour after it."""
    folder.mkdir()
    for i in range(count):
        text = campus.pass_text(valid_from_s=now_s - 3600, valid_until_s=now_s + 3600)
        cv2.imwrite(str(folder / f"{i}.png"), photographed(pass_image(text), seed=i))


def read_node(config: NodeConfig) -> tuple[list[ScanRecord], int]:
    """The node's scan records and its persisted trusted-time floor (Unix seconds)."""

    async def read() -> tuple[list[ScanRecord], int]:
        store = await open_store(config)
        try:
            return await store.records(), store.time_floor_s
        finally:
            await store.close()

    return asyncio.run(read())


def test_faketime_moves_the_wall_clock_only() -> None:
    """The documented command really does what docs/decision.md says: wall clock a year ahead,
    the monotonic clock untouched."""
    probe = "import time; print(time.time(), time.monotonic())"
    env = dict(os.environ, FAKETIME_DONT_FAKE_MONOTONIC="1")
    before = time.monotonic()
    out = subprocess.run(faketime_argv("+365d") + ["python3", "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    wall, mono = float(out[0]), float(out[1])
    assert abs(wall - (time.time() + 365 * DAY_S)) < 60
    assert before <= mono <= time.monotonic()


def test_clock_stepped_a_year_ahead_never_locks_the_building_out(tmp_path: Path) -> None:
    """A node started on a clock a year ahead (no sync since boot, so nothing can tell it is
    wrong) denies passes as expired and flags nothing as verified; its floor does not move, so
    once the clock is right again the same door admits valid passes: no lasting lockout."""
    campus = Campus(t0_s=int(time.time()))
    config = make_bundle_dir(tmp_path / "node", campus)
    shoot(campus, tmp_path / "ahead", 2, campus.t0_s)
    ran = run_node(config, tmp_path / "ahead", "+365d")
    assert ran.returncode == 0, ran.stderr
    records, floor_s = read_node(config)
    assert [(r.verdict, r.reason) for r in records] == [("deny", "expired")] * 2
    assert all(r.at_ms // 1000 > campus.t0_s + 300 * DAY_S for r in records)  # the wrong clock, on record
    assert floor_s < time.time() + 60  # never raised to the future

    now_s = int(time.time())
    shoot(campus, tmp_path / "right", 2, now_s)
    ran = run_node(config, tmp_path / "right", None)
    assert ran.returncode == 0, ran.stderr
    records, floor_s = read_node(config)
    assert [(r.verdict, r.reason) for r in records[2:]] == [("accept", "accepted")] * 2
    assert floor_s < time.time() + 60


def test_clock_stepped_three_years_behind_is_not_believed(tmp_path: Path) -> None:
    """A clock behind the floor (the bundle's documents were signed five minutes ago) is not
    believed: the node counts from the floor, admits passes valid at that time (issued before the
    floor, as any pass the node could have seen is) and flags each decision ``clock_trusted = 0``."""
    campus = Campus(t0_s=int(time.time()))
    config = make_bundle_dir(tmp_path / "node", campus)
    shoot(campus, tmp_path / "behind", 2, campus.t0_s)
    ran = run_node(config, tmp_path / "behind", f"-{3 * 365}d")
    assert ran.returncode == 0, ran.stderr
    records, floor_s = read_node(config)
    assert [(r.verdict, r.reason, r.clock_trusted) for r in records] == [("accept", "accepted", False)] * 2
    assert all(abs(r.at_ms // 1000 - campus.t0_s) < 600 for r in records)  # counted from the floor
    assert campus.t0_s - 600 < floor_s < time.time() + 60
