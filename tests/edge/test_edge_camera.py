"""Camera sources: the factory, replays (files, video), and adapters that cannot open here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera import (
    ArrayCamera,
    CameraEnded,
    CameraError,
    DirCamera,
    FilesCamera,
    OpenCVCamera,
    Picamera2Camera,
    VideoFileCamera,
    make_camera,
)
from qrdecode.decoders import make_decoder

from .helpers import Campus, pass_image, photographed, write_image


def test_factory_builds_each_source(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert isinstance(make_camera("picamera2", tmp_path), Picamera2Camera)
    cam = make_camera("opencv:2", tmp_path, 640, 480)
    assert isinstance(cam, OpenCVCamera) and (cam.index, cam.width_px) == (2, 640)
    assert isinstance(make_camera("dir:incoming", tmp_path), DirCamera)
    files = make_camera("files:*.png", tmp_path)
    assert isinstance(files, FilesCamera) and files.paths == [tmp_path / "a.png"]
    assert isinstance(make_camera("clip.mp4", tmp_path), VideoFileCamera)
    with pytest.raises(CameraError, match="matches no file"):
        make_camera("files:*.jpg", tmp_path)
    with pytest.raises(CameraError):
        make_camera("webcam", tmp_path)


def test_files_replay_then_end(tmp_path: Path) -> None:
    for i in range(2):
        write_image(tmp_path / f"{i}.png", np.full((10, 12, 3), i * 100, np.uint8))
    cam = make_camera("files:*.png", tmp_path)
    cam.open()
    frames = [cam.read(0.1), cam.read(0.1)]
    assert [f.shape for f in frames if f is not None] == [(10, 12, 3), (10, 12, 3)]
    with pytest.raises(CameraEnded):
        cam.read(0.1)


def test_video_file_replay(tmp_path: Path) -> None:
    text = Campus().pass_text()
    frame = cv2.resize(photographed(pass_image(text)), (640, 480))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    if not writer.isOpened():
        pytest.fail("OpenCV cannot write MJPG video here")
    for _ in range(3):
        writer.write(frame)
    writer.release()
    cam = make_camera("clip.avi", tmp_path)
    cam.open()
    decoder = make_decoder("zxing")
    texts = []
    with pytest.raises(CameraEnded):
        while True:
            f = cam.read(0.1)
            assert f is not None and f.shape == (480, 640, 3) and f.dtype == np.uint8
            texts.extend(decoder.decode(f))
    cam.close()
    assert texts == [text] * 3


def test_adapters_that_cannot_open_raise_camera_errors() -> None:
    with pytest.raises(CameraError, match="picamera2"):
        Picamera2Camera(640, 480).open()
    with pytest.raises(CameraError, match="cannot open camera device"):
        OpenCVCamera(97, 640, 480).open()


def test_paced_array_camera() -> None:
    import time

    cam = ArrayCamera([np.zeros((4, 4), np.uint8)] * 3, interval_s=0.05)
    start = time.monotonic()
    for _ in range(3):
        cam.read(0.1)
    assert time.monotonic() - start >= 0.09


class FlakyCamera:
    """Fails to open twice (unplugged), then delivers two frames, then goes silent (live)."""

    live = True
    name = "flaky"

    def __init__(self) -> None:
        self.opens = 0
        self.closes = 0
        self.reads = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= 2:
            raise CameraError("no such device")

    def read(self, timeout_s: float) -> np.ndarray | None:
        self.reads += 1
        if self.reads <= 2:
            return np.full((4, 4), self.reads, np.uint8)
        return None  # stopped delivering

    def close(self) -> None:
        self.closes += 1


async def test_supervisor_reopens_with_backoff_and_reports_silence() -> None:
    import asyncio
    import time

    from edge.camera import CameraSupervisor

    cam = FlakyCamera()
    sup = CameraSupervisor(cam, stall_s=0.1, reopen_min_s=0.02, reopen_max_s=0.05)
    states: list[str] = []
    sup.on_change = lambda h: states.append(h.state)
    got = []
    started = time.monotonic()

    async def consume() -> None:
        async for frame, _mono in sup.frames():
            got.append(int(frame[0, 0]))

    task = asyncio.create_task(consume())
    while not (len(got) == 2 and sup.health.state == "down"):
        await asyncio.sleep(0.01)
        assert time.monotonic() - started < 5
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert got == [1, 2]
    assert states[:3] == ["down", "ok", "down"]  # unplugged, back, silent
    assert sup.health.error == "no frame for 0.1 s"
    assert cam.opens >= 3 and cam.closes >= 2
    assert time.monotonic() - started >= 0.02 + 0.04  # backoff 0.02 then 0.04 before the third open
