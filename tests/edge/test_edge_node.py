"""The door node end to end on one machine: folder camera, real decoders, real SQLite, MockFactory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.camera import ArrayCamera, CameraError, DirCamera
from edge.config import NodeConfig, PinConfig
from edge.node import Node, open_store
from edge.outputs import Indication, NodeStatus
from edge.store import NodeStore
from edge.timekeeping import TimeAnchor
from shared.clock import FakeClock
from shared.decision import Reason
from shared.pass_format import PassStatus, decode_pass

from .helpers import CORPUS, T0_S, Campus, pass_image, photographed, write_image

RELAY = 23
GREEN = 17
RED = 27


async def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def pin(factory: MockFactory, num: int) -> bool:
    return bool(factory.pin(num).state)


def blank(h: int = 480, w: int = 640) -> np.ndarray:
    return np.full((h, w), 128, np.uint8)


async def test_folder_camera_photographed_pass_opens_the_door(
    config: NodeConfig, campus: Campus, clock: FakeClock
) -> None:
    text = campus.pass_text()
    store = await open_store(config)
    factory = MockFactory()
    node = Node(config, store, pin_factory=factory, clock=clock)
    changes: list[dict[str, object]] = []
    node.outputs.add_listener(changes.append)
    task = asyncio.create_task(node.run(handle_signals=False))
    try:
        await wait_for(lambda: node.supervisor.health.state == "ok")
        assert not pin(factory, RELAY)
        incoming = config.path("incoming")
        write_image(incoming / "0001.png", photographed(pass_image(text), seed=3))
        await wait_for(lambda: node.decisions == 1)
        last = node.last_decision
        assert last is not None
        assert last.record.verdict == "accept" and last.indication is Indication.ACCEPT
        assert last.record.serial == decode_pass(text).fields.serial.hex()
        assert pin(factory, GREEN) and pin(factory, RELAY) and not pin(factory, RED)
        # A dark-mode (white-on-black) photo of another pass also opens.
        other = campus.pass_text()
        write_image(incoming / "0002.jpg", photographed(pass_image(other), seed=5, invert=True))
        await wait_for(lambda: node.decisions == 2)
        assert node.last_decision is not None and node.last_decision.record.verdict == "accept"
        assert any(c["relay"] == "unlocked" for c in changes)
    finally:
        node.stop()
        await task
        records = await store.records()
        await store.close()
    assert not pin(factory, RELAY)  # locked on stop
    assert [r.verdict for r in records] == ["accept", "accept"]
    assert all(r.clock_trusted for r in records)
    raw = json.dumps([r.to_json() for r in records])
    assert text not in raw and other not in raw  # the pass text is never logged


async def decide_one(node: Node, frame: np.ndarray, mono: float | None = None) -> tuple[str, str]:
    decisions = await node.process_frame(frame, mono)
    assert len(decisions) == 1
    return decisions[0].record.verdict, decisions[0].record.reason


async def test_revoked_expired_black_and_out_of_scope(config: NodeConfig, campus: Campus, clock: FakeClock
                                                      ) -> None:
    store = await open_store(config)
    factory = MockFactory()
    node = Node(config, store, pin_factory=factory, clock=clock)
    try:
        serial = os.urandom(8)
        revoked = campus.pass_text(serial=serial)
        assert await decide_one(node, photographed(pass_image(revoked))) == ("accept", "accepted")
        await store.apply_revocation_delta(campus.revoke_serial(serial))
        clock.advance(10)  # past the repeat window
        assert await decide_one(node, photographed(pass_image(revoked))) == ("deny", "revoked")
        assert pin(factory, RED) and not pin(factory, RELAY) and not pin(factory, GREEN)
        assert node.last_decision is not None and node.last_decision.indication is Indication.INVALID

        expired = campus.pass_text(valid_from_s=T0_S - 86400, valid_until_s=T0_S - 60)
        assert await decide_one(node, photographed(pass_image(expired))) == ("deny", "expired")
        assert node.last_decision is not None and node.last_decision.indication is Indication.EXPIRED

        black = campus.pass_text(status=PassStatus.BLACK)
        assert await decide_one(node, pass_image(black)) == ("deny", "not_cleared")
        assert node.last_decision is not None and node.last_decision.indication is Indication.NOT_CLEARED

        library_only = campus.pass_text(scope=(2,))
        assert await decide_one(node, pass_image(library_only)) == ("deny", "out_of_scope")
        assert not pin(factory, RELAY)
        assert await store.check_integrity() == []
    finally:
        node.outputs.close()
        await store.close()


def foreign_images() -> list[Path]:
    folder = CORPUS / "qr-foreign" / "images"
    if not folder.is_dir():
        pytest.skip(f"corpus qr-foreign absent (expected at {folder.name} next to the repository)")
    return sorted(folder.iterdir())


async def test_foreign_codes_are_denied_as_not_a_campus_pass(config: NodeConfig, clock: FakeClock) -> None:
    from qrdecode.decoders import read_image

    images = foreign_images()
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        seen = 0
        for path in images:
            decisions = await node.process_frame(read_image(path))
            for d in decisions:
                assert (d.record.verdict, d.record.reason) == ("deny", Reason.NOT_CAMPUS_PASS.value)
                assert d.record.serial is None
            seen += len(decisions)
        assert seen >= len(images) - 2  # every code that decodes is judged (a few repeat across images)
        assert not node.outputs.state()["relay"] == "unlocked"
    finally:
        node.outputs.close()
        await store.close()


async def test_junk_text_in_a_code_is_a_denial_not_a_crash(config: NodeConfig, clock: FakeClock) -> None:
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        for text in ["CP1:", "CP1:%%%%", "CP9:ABC", "hello", "CP1:" + "A" * 150]:
            verdicts = node.judge([text], clock.monotonic())
            assert len(verdicts) == 1 and not verdicts[0].verdict.accepted
            await node.commit(verdicts[0])
        reasons = [r.reason for r in await store.records()]
        assert reasons == ["malformed", "malformed", "unsupported_version", "not_campus_pass", "malformed"]
    finally:
        node.outputs.close()
        await store.close()


async def test_two_codes_in_one_frame_are_each_judged(config: NodeConfig, campus: Campus, clock: FakeClock
                                                      ) -> None:
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        good, black = pass_image(campus.pass_text()), pass_image(campus.pass_text(status=PassStatus.BLACK))
        frame = np.full((480, 760, 3), 255, np.uint8)
        frame[90:90 + good.shape[0], 40:40 + good.shape[1]] = good
        frame[90:90 + black.shape[0], 420:420 + black.shape[1]] = black
        decisions = await node.process_frame(frame)
        assert sorted(d.record.reason for d in decisions) == ["accepted", "not_cleared"]
    finally:
        node.outputs.close()
        await store.close()


async def test_repeat_window_makes_one_scan(config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        frame = pass_image(campus.pass_text())
        assert len(await node.process_frame(frame)) == 1
        for _ in range(5):  # the phone is held up for 5 s: same scan
            clock.advance(1.0)
            assert await node.process_frame(frame) == []
        clock.advance(config.scan.repeat_window_s + 0.1)
        assert len(await node.process_frame(frame)) == 1
        assert (await store.stats()).last_seq == 2
    finally:
        node.outputs.close()
        await store.close()


async def test_clock_at_1970_after_reboot_is_not_believed(config: NodeConfig, campus: Campus) -> None:
    store = await open_store(config)
    first_boot = FakeClock(datetime.fromtimestamp(T0_S, UTC))
    before = Node(config, store, pin_factory=MockFactory(), clock=first_boot, boot_id="boot-1")
    await store.apply_server_time(TimeAnchor(T0_S - 5, first_boot.monotonic(), "boot-1"), 0.0)  # a sync
    await before.process_frame(pass_image(campus.pass_text()))  # verified: its time becomes the floor
    before.outputs.close()
    await store.close()

    store = await open_store(config)  # "reboot": no battery clock, the wall clock reads 1970
    reboot = FakeClock(datetime(1970, 1, 1, 0, 0, 30, tzinfo=UTC), monotonic_start=12.0)
    node = Node(config, store, pin_factory=MockFactory(), clock=reboot, boot_id="boot-2")
    try:
        assert node.status()["clock"]["trusted"] is False
        reboot.advance(60)
        decisions = await node.process_frame(pass_image(campus.pass_text()))
        record = decisions[0].record
        assert record.verdict == "accept"
        assert record.clock_trusted is False
        assert record.at_ms >= (T0_S + 60) * 1000  # counted on from the floor, not 1970
        # A pass that expired before the trusted floor stays expired whatever the clock says.
        old = campus.pass_text(valid_from_s=T0_S - 7200, valid_until_s=T0_S - 10)
        reboot.advance(1)
        decisions = await node.process_frame(pass_image(old))
        assert (decisions[0].record.reason, decisions[0].record.clock_trusted) == ("expired", False)
        # NTP fixes the clock: trusted again.
        reboot.set_wall(datetime.fromtimestamp(T0_S + 3600, UTC))
        reboot.advance(1)
        decisions = await node.process_frame(pass_image(campus.pass_text()))
        assert decisions[0].record.clock_trusted is True
    finally:
        node.outputs.close()
        await store.close()


async def test_stale_trust_denies_in_secure_mode_and_reports_in_open_mode(
    config: NodeConfig, campus: Campus
) -> None:
    late = FakeClock(datetime.fromtimestamp(T0_S + config.trust.stale_after_s + 60, UTC))
    text = campus.pass_text(valid_until_s=T0_S + 30 * 86400)
    store = await open_store(config)
    try:
        node = Node(config, store, pin_factory=MockFactory(), clock=late)
        assert node.wanted_status() is NodeStatus.TRUST_STALE
        assert await decide_one(node, pass_image(text)) == ("deny", "stale_trust")
        node.outputs.close()
        lenient = replace(config, trust=replace(config.trust, fail_mode="open"))
        node = Node(lenient, store, pin_factory=MockFactory(), clock=late)
        assert await decide_one(node, pass_image(text)) == ("accept", "accepted")
        assert node.status()["trust"]["stale"] is True
        node.outputs.close()
    finally:
        await store.close()


class HangingCamera:
    """A live camera that hangs inside ``read`` once (as a wedged driver does), until closed."""

    live = True
    name = "hanging"

    def __init__(self, frames_before: int, after: list[np.ndarray]) -> None:
        self.frames_before = frames_before
        self.after = list(after)
        self.reads = 0
        self.opens = 0
        self.hung = threading.Event()
        self._release = threading.Event()
        self._hang_done = False

    def open(self) -> None:
        self.opens += 1

    def read(self, timeout_s: float) -> np.ndarray | None:
        self.reads += 1
        time.sleep(0.005)
        if self.reads > self.frames_before and not self._hang_done:
            self._hang_done = True
            self.hung.set()
            self._release.wait(10)
            raise CameraError("driver returned an error after release")
        if self._hang_done and self.after:
            return self.after.pop(0)
        return blank()

    def close(self) -> None:
        self._release.set()


async def test_camera_that_hangs_is_reopened_and_the_door_stays_locked(
    config: NodeConfig, campus: Campus, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = replace(config, camera=replace(config.camera, stall_s=0.3, reopen_max_s=0.2))
    store = await open_store(cfg)
    factory = MockFactory()
    camera = HangingCamera(frames_before=5, after=[pass_image(campus.pass_text())])
    node = Node(cfg, store, pin_factory=factory, camera=camera, clock=FakeClock(datetime.fromtimestamp(T0_S, UTC)))
    statuses: list[str] = []
    node.outputs.add_listener(lambda s: statuses.append(str(s["status"])))
    caplog.set_level(logging.INFO, logger="edge")
    task = asyncio.create_task(node.run(handle_signals=False))
    try:
        await wait_for(lambda: camera.hung.is_set())
        await wait_for(lambda: node.supervisor.health.state == "down")
        assert node.status()["camera"]["state"] == "down"
        await wait_for(lambda: NodeStatus.FAULT.value in statuses)
        assert not pin(factory, RELAY)
        await wait_for(lambda: node.decisions == 1)
        assert node.supervisor.health.state == "ok" and node.supervisor.health.reopens >= 1
        assert node.last_decision is not None and node.last_decision.record.verdict == "accept"
    finally:
        node.stop()
        await task
        await store.close()
    outage_lines = [r for r in caplog.records if r.levelno >= logging.WARNING and "outage" in r.getMessage()]
    assert len(outage_lines) == 1  # logged once, not on every retry
    assert camera.opens >= 2


class SlowStore(NodeStore):
    """A store on a slow SD card: every log write takes 0.3 s."""

    async def append_scan(self, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        return await super().append_scan(**kwargs)


async def test_a_slow_log_write_never_drops_a_frame(config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    seeded = await open_store(config)  # seed from the bundle, then reopen as a slow store
    await seeded.close()
    store = await SlowStore.open(config.db_path, campus.root_public)
    passes = [pass_image(campus.pass_text()) for _ in range(3)]
    frames: list[np.ndarray] = []
    for p in passes:
        frames.append(photographed(p))
        frames.extend(blank() for _ in range(10))
    node = Node(config, store, pin_factory=MockFactory(), clock=clock, camera=ArrayCamera(frames))
    started = time.monotonic()
    await node.run(handle_signals=False)
    try:
        assert node.frames_decoded == len(frames)
        assert [r.verdict for r in await store.records()] == ["accept"] * 3
        assert time.monotonic() - started < 5
    finally:
        await store.close()


class CrashingCamera(ArrayCamera):
    """Replays its frames, then blank frames until ``crash`` is set, then fails with a bug."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__(frames, live=True)
        self.crash = threading.Event()

    def read(self, timeout_s: float) -> np.ndarray | None:
        if self.crash.is_set():
            raise RuntimeError("unexpected bug in a driver")
        if self._i < len(self.frames):
            return super().read(timeout_s)
        time.sleep(0.01)
        return blank()


@pytest.mark.parametrize("active_high", [True, False])
async def test_relay_is_locked_after_a_crash(config: NodeConfig, campus: Campus, clock: FakeClock,
                                            active_high: bool) -> None:
    cfg = replace(config, gpio=replace(config.gpio, relay=PinConfig("GPIO23", active_high)))
    store = await open_store(cfg)
    factory = MockFactory()
    camera = CrashingCamera([pass_image(campus.pass_text())])
    node = Node(cfg, store, pin_factory=factory, clock=clock, camera=camera)
    opened: list[bool] = []

    def watch(state: dict[str, object]) -> None:
        if state["relay"] == "unlocked":
            opened.append(pin(factory, RELAY))
            camera.crash.set()

    node.outputs.add_listener(watch)
    try:
        with pytest.raises(RuntimeError):
            await node.run(handle_signals=False)
        assert opened == [active_high]  # it was open (energised) when the crash came
        assert pin(factory, RELAY) is (not active_high)  # de-energised for its polarity
    finally:
        await store.close()


async def test_sigterm_locks_the_relay(config: NodeConfig, campus: Campus, clock: FakeClock) -> None:
    cfg = replace(config, gpio=replace(config.gpio, relay=PinConfig("GPIO23", False)))
    store = await open_store(cfg)
    factory = MockFactory()
    node = Node(cfg, store, pin_factory=factory, clock=clock)
    task = asyncio.create_task(node.run(handle_signals=True))
    try:
        await wait_for(lambda: node.supervisor.health.state == "ok")
        write_image(cfg.path("incoming") / "a.png", pass_image(campus.pass_text()))
        await wait_for(lambda: node.decisions == 1)
        assert pin(factory, RELAY) is False  # active-low: energised = low = unlocked
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 5)
        assert pin(factory, RELAY) is True  # de-energised = locked
        assert node.outputs.state()["relay"] == "locked"
    finally:
        if not task.done():
            task.cancel()
        await store.close()


def test_dir_camera_ignores_old_files_and_half_written_ones(tmp_path: Path) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    write_image(folder / "old.png", blank())
    cam = DirCamera(folder, poll_s=0.01)
    cam.open()
    assert cam.read(0.05) is None
    (folder / ".partial.png").write_bytes(b"\x89PNG")
    (folder / "notes.txt").write_text("x")
    assert cam.read(0.05) is None
    write_image(folder / "new.png", blank(20, 30))
    frame = cam.read(1.0)
    assert frame is not None and frame.shape == (20, 30, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("decoder_name", ["zxing", "pyzbar"])
async def test_both_decoders_read_photographed_and_dark_mode_passes(
    config: NodeConfig, campus: Campus, clock: FakeClock, decoder_name: str
) -> None:
    from qrdecode.decoders import make_decoder

    cfg = replace(config, decoder=replace(config.decoder, name=decoder_name))
    store = await open_store(cfg)
    node = Node(cfg, store, pin_factory=MockFactory(), clock=clock)
    try:
        assert node.decoder.name == decoder_name == make_decoder(decoder_name).name
        for seed, invert in [(11, False), (12, True)]:
            grey = photographed(pass_image(campus.pass_text()), seed=seed, invert=invert)
            assert await decide_one(node, grey) == ("accept", "accepted")
        grey_frame = photographed(pass_image(campus.pass_text()), seed=13)[:, :, 1].copy()  # (H, W) grey
        assert await decide_one(node, grey_frame) == ("accept", "accepted")
    finally:
        node.outputs.close()
        await store.close()
