"""Camera sources behind one interface, and a supervisor that survives outages (docs/architecture.md §7).

A frame is a numpy ``uint8`` array, either ``(H, W)`` grey or ``(H, W, 3)`` in **BGR** order
(OpenCV's order). Sources:

=================  ===============================================================  =========
source             frames                                                           live
=================  ===============================================================  =========
``picamera2``      Pi camera (libcamera) main stream YUV420; the Y plane: (H, W) grey  yes
``opencv:N``       ``cv2.VideoCapture(N)`` (USB or laptop webcam): (H, W, 3) BGR        yes
``dir:PATH``       each new image file in folder PATH (png/jpg/webp/bmp): (H, W, 3)    no
``files:GLOB``     every image matching GLOB once, sorted, then the end                no
``*.mp4`` etc.     every frame of a video file once, then the end                      no
=================  ===============================================================  =========

``live`` cameras deliver in real time: a live camera that delivers nothing for ``stall_s`` is
an outage. The node reads and decodes in the same camera thread, so while it decodes, the
driver's own small buffer keeps only the newest frames. Replays may be idle (a folder camera
waits for files) and every replayed frame is decoded.

``picamera2`` is imported only inside :class:`Picamera2Camera` (it comes from apt on the Pi,
``python3-picamera2``; the virtualenv uses ``--system-site-packages``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from shared.errors import CampusPassError

log = logging.getLogger(__name__)

T = TypeVar("T")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


class CameraError(CampusPassError):
    """A camera cannot be opened or stopped delivering. Code ``camera``."""

    code = "camera"


class CameraEnded(CampusPassError):
    """A replay source has delivered its last frame. Code ``camera_ended``."""

    code = "camera_ended"


class Camera(Protocol):
    """A frame source.

    Attributes:
        name: the source text from the config (for status and logs).
        live: True for real-time sources (no frame for ``stall_s`` is an outage), False for replays.

    ``open()`` prepares the device; ``read(timeout_s)`` returns the next frame, or None when
    none arrived within ``timeout_s`` seconds; it raises :class:`CameraError` on failure and
    :class:`CameraEnded` after the last frame of a replay. ``close()`` releases the device
    and is idempotent. ``read`` is blocking: callers run it in a thread.
    """

    name: str
    live: bool

    def open(self) -> None: ...

    def read(self, timeout_s: float) -> np.ndarray | None: ...

    def close(self) -> None: ...


def _read_image_file(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    if not data.size:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


class DirCamera:
    """Each new image file appearing in a folder is one frame (demos, installers).

    Files present when the camera is first opened are not frames. Writers should create the
    file under a name starting with ``.`` or ending in ``.tmp`` and rename it into place;
    a file that cannot be decoded yet is retried on the next poll (up to 20 times).

    Args:
        folder: the watched folder (created when missing).
        poll_s: seconds between folder scans.
    """

    live = False

    def __init__(self, folder: Path, poll_s: float = 0.05, name: str | None = None) -> None:
        self.folder = folder
        self.poll_s = poll_s
        self.name = name or f"dir:{folder}"
        self._seen: set[str] | None = None
        self._retries: dict[str, int] = {}
        self._pending: list[str] = []

    def _scan(self) -> list[str]:
        try:
            names = sorted(
                e.name for e in self.folder.iterdir()
                if e.suffix.lower() in IMAGE_SUFFIXES and not e.name.startswith(".")
            )
        except OSError as exc:
            raise CameraError(f"cannot list camera folder {self.folder}: {exc}") from exc
        return names

    def open(self) -> None:
        """Create the folder if needed; remember what is already there (first open only)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CameraError(f"cannot create camera folder {self.folder}: {exc}") from exc
        if self._seen is None:
            self._seen = set(self._scan())

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next new image as (H, W, 3) BGR, or None after ``timeout_s`` seconds without one."""
        assert self._seen is not None, "open() first"
        deadline = time.monotonic() + timeout_s
        while True:
            if not self._pending:
                self._pending = [n for n in self._scan() if n not in self._seen]
            while self._pending:
                name = self._pending.pop(0)
                frame = _read_image_file(self.folder / name)
                if frame is not None:
                    self._seen.add(name)
                    self._retries.pop(name, None)
                    return frame
                tries = self._retries.get(name, 0) + 1
                self._retries[name] = tries
                if tries >= 20:
                    log.warning("camera folder: %s is not a readable image; skipped", name)
                    self._seen.add(name)
                    self._retries.pop(name, None)
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_s)

    def close(self) -> None:
        """Nothing to release."""


class FilesCamera:
    """Replays image files (``files:GLOB``, sorted) or in-memory frames once, then ends.

    Args:
        paths: image files, in order.
        name: source text for status.
    """

    live = False

    def __init__(self, paths: Sequence[Path], name: str = "files") -> None:
        self.paths = list(paths)
        self.name = name
        self._i = 0

    def open(self) -> None:
        """Nothing to prepare (the position is kept across reopen)."""

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next image as (H, W, 3) BGR.

        Raises:
            CameraEnded: after the last file.
            CameraError: a file is not a readable image.
        """
        if self._i >= len(self.paths):
            raise CameraEnded(f"{self.name}: all {len(self.paths)} files replayed")
        path = self.paths[self._i]
        self._i += 1
        frame = _read_image_file(path) if path.exists() else None
        if frame is None:
            raise CameraError(f"{path} is not a readable image")
        return frame

    def close(self) -> None:
        """Nothing to release."""


class ArrayCamera:
    """Replays in-memory frames (benchmarks, tests): each array once, then ends.

    Args:
        frames: uint8 arrays (H, W) grey or (H, W, 3) BGR.
        live: report as a live source (running dry is then an outage).
        interval_s: pace delivery like a real camera (one frame every ``interval_s`` seconds;
            0 = as fast as read).
    """

    def __init__(self, frames: Sequence[np.ndarray], live: bool = False, name: str = "arrays",
                 interval_s: float = 0.0) -> None:
        self.frames = frames
        self.live = live
        self.name = name
        self.interval_s = interval_s
        self._i = 0
        self._due = 0.0

    def open(self) -> None:
        """Nothing to prepare."""

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame. Raises :class:`CameraEnded` after the last."""
        if self._i >= len(self.frames):
            raise CameraEnded(f"{self.name}: all {len(self.frames)} frames replayed")
        if self.interval_s:
            now = time.monotonic()
            if self._due > now:
                time.sleep(self._due - now)
            self._due = max(now, self._due) + self.interval_s
        frame = self.frames[self._i]
        self._i += 1
        return frame

    def close(self) -> None:
        """Nothing to release."""


class VideoFileCamera:
    """Replays a video file once through ``cv2.VideoCapture``: (H, W, 3) BGR frames."""

    live = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self._cap: Any = None
        self._pos = 0

    def open(self) -> None:
        """Open the file (and seek to where a previous open stopped)."""
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CameraError(f"cannot open video file {self.path}")
        if self._pos:
            cap.set(cv2.CAP_PROP_POS_FRAMES, self._pos)
        self._cap = cap

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame. Raises :class:`CameraEnded` at the end of the file."""
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraEnded(f"{self.path}: end of video after {self._pos} frames")
        self._pos += 1
        return np.ascontiguousarray(frame)

    def close(self) -> None:
        """Release the file."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class OpenCVCamera:
    """A USB or laptop webcam through ``cv2.VideoCapture(index)``: (H, W, 3) BGR frames."""

    live = True

    def __init__(self, index: int, width_px: int, height_px: int) -> None:
        self.index = index
        self.width_px = width_px
        self.height_px = height_px
        self.name = f"opencv:{index}"
        self._cap: Any = None

    def open(self) -> None:
        """Open the device and request the frame size.

        Raises:
            CameraError: the device cannot be opened.
        """
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open camera device {self.index} (cv2.VideoCapture)")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width_px)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height_px)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame (blocks until the driver delivers one).

        Raises:
            CameraError: the device stopped delivering (unplugged, driver error).
        """
        if self._cap is None:
            raise CameraError(f"{self.name} is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraError(f"{self.name} delivered no frame (disconnected?)")
        return frame

    def close(self) -> None:
        """Release the device."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Picamera2Camera:
    """The Raspberry Pi camera through picamera2 (apt ``python3-picamera2``): the Y plane of the
    YUV420 main stream, (H, W) grey (no colour conversion needed for decoding)."""

    live = True

    def __init__(self, width_px: int, height_px: int, camera_num: int = 0) -> None:
        self.width_px = width_px
        self.height_px = height_px
        self.camera_num = camera_num
        self.name = "picamera2" if camera_num == 0 else f"picamera2:{camera_num}"
        self._cam: Any = None

    def open(self) -> None:
        """Start the camera.

        Raises:
            CameraError: picamera2 is missing (not a Pi, or the venv lacks system site
                packages) or the camera cannot start.
        """
        try:
            from picamera2 import Picamera2  # only on the Pi (apt python3-picamera2)
        except ImportError as exc:
            raise CameraError(
                "picamera2 is not importable: install python3-picamera2 (apt) and create the venv "
                "with --system-site-packages, or use camera.source = \"opencv:0\""
            ) from exc
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(
                main={"size": (self.width_px, self.height_px), "format": "YUV420"}, buffer_count=4
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError, OSError, IndexError...
            raise CameraError(f"picamera2 camera {self.camera_num} cannot start: {exc}") from exc
        self._cam = cam

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next frame's luma plane, (H, W) uint8."""
        if self._cam is None:
            raise CameraError(f"{self.name} is not open")
        try:
            yuv = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"{self.name} capture failed: {exc}") from exc
        return np.ascontiguousarray(yuv[: self.height_px, : self.width_px])

    def close(self) -> None:
        """Stop and release the camera."""
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception as exc:
                log.warning("picamera2 close failed: %s", exc)
            self._cam = None


def make_camera(source: str, base_dir: Path, width_px: int = 1280, height_px: int = 720) -> Camera:
    """The camera for a ``camera.source`` value; relative paths resolve against ``base_dir``.

    Raises:
        CameraError: unknown source form, or ``files:GLOB`` matching nothing.
    """
    if source == "picamera2" or source.startswith("picamera2:"):
        num = int(source.partition(":")[2] or 0)
        return Picamera2Camera(width_px, height_px, num)
    if source.startswith("opencv:"):
        return OpenCVCamera(int(source.partition(":")[2]), width_px, height_px)
    if source.startswith("dir:"):
        folder = Path(source[4:]).expanduser()
        return DirCamera(folder if folder.is_absolute() else base_dir / folder, name=source)
    if source.startswith("files:"):
        pattern = Path(source[6:]).expanduser()
        pattern = pattern if pattern.is_absolute() else base_dir / pattern
        paths = sorted(Path(p) for p in glob.glob(str(pattern)))
        if not paths:
            raise CameraError(f"camera source {source!r} matches no file")
        return FilesCamera(paths, name=source)
    if Path(source).suffix.lower() in {".mp4", ".avi", ".mkv", ".mov", ".webm"}:
        path = Path(source).expanduser()
        return VideoFileCamera(path if path.is_absolute() else base_dir / path)
    raise CameraError(f"camera source {source!r}; expected picamera2, opencv:N, dir:PATH, files:GLOB or a video")


@dataclass
class CameraHealth:
    """What status shows about the camera.

    Attributes:
        state: ``starting``, ``ok``, ``down`` (outage, reopening) or ``ended`` (replay done).
        since_mono_s: monotonic time of the last state change.
        error: the outage's cause (None when ok).
        frames: frames delivered so far.
        reopens: successful reopen attempts after outages.
    """

    state: str = "starting"
    since_mono_s: float = 0.0
    error: str | None = None
    frames: int = 0
    reopens: int = 0

    def as_json(self, now_mono_s: float) -> dict[str, Any]:
        """For the status endpoint."""
        return {
            "state": self.state,
            "for_s": round(now_mono_s - self.since_mono_s, 1),
            "error": self.error,
            "frames": self.frames,
            "reopens": self.reopens,
        }


class _DaemonThreadExecutor(concurrent.futures.Executor):
    """One daemon worker thread running submitted calls in order.

    Unlike ``ThreadPoolExecutor`` (whose workers the interpreter joins at exit), a worker stuck
    in a camera driver does not keep a stopped node's process alive.
    """

    def __init__(self, name: str) -> None:
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any],
                                            tuple[Any, ...], dict[str, Any]] | None] = queue.SimpleQueue()
        self._shutdown = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._work.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # delivered to the awaiting coroutine
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        self._work.put(None)
        if wait:
            self._thread.join()


class CameraSupervisor:
    """Reads a camera off the event loop; reopens it with backoff when it fails or stalls.

    Each ``read`` runs in a single-thread executor. When the camera raises
    :class:`CameraError`, or a live camera delivers nothing for ``stall_s`` seconds, the
    outage is logged once, :attr:`health` says ``down``, the camera is closed and reopened
    after 0.5, 1, 2, ... seconds (at most ``reopen_max_s``). A read that hangs inside a
    driver is abandoned with its thread (a daemon thread: it never keeps a stopped node's
    process alive); a fresh thread serves the reopened camera.

    Args:
        camera: the source.
        stall_s: seconds without a frame that count as an outage (live cameras; replays and
            folder cameras may be idle forever).
        reopen_min_s, reopen_max_s: backoff bounds (seconds).
        monotonic: the clock for health timestamps.

    Attributes:
        health: the camera's current :class:`CameraHealth`.
        on_change: called with ``health`` on every state change (the node refreshes its
            status indication and locks the relay on ``down``).
    """

    def __init__(self, camera: Camera, stall_s: float = 5.0, reopen_min_s: float = 0.5,
                 reopen_max_s: float = 10.0, monotonic: Any = time.monotonic) -> None:
        self.camera = camera
        self.stall_s = stall_s
        self.reopen_min_s = min(reopen_min_s, reopen_max_s)
        self.reopen_max_s = reopen_max_s
        self._mono = monotonic
        self.health = CameraHealth(since_mono_s=monotonic())
        self.on_change: Callable[[CameraHealth], None] | None = None
        self._executor: _DaemonThreadExecutor | None = None

    def _set(self, state: str, error: str | None = None) -> None:
        self.health.error = error
        if state != self.health.state:
            self.health.state = state
            self.health.since_mono_s = self._mono()
            if self.on_change is not None:
                self.on_change(self.health)

    def _new_executor(self) -> _DaemonThreadExecutor:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = _DaemonThreadExecutor("camera")
        return self._executor

    async def frames(self, process: Callable[[np.ndarray], T] | None = None
                     ) -> AsyncIterator[tuple[T | np.ndarray, float]]:
        """Yield ``(item, captured_mono_s)`` until a replay ends or the task is cancelled.

        ``item`` is the frame, or ``process(frame)`` when given: the node passes its decoder so
        a frame is read and decoded in one hop to the camera thread (decoding the newest frame
        while the driver keeps filling its own buffer).
        """
        loop = asyncio.get_running_loop()
        backoff_s = self.reopen_min_s
        poll_s = min(self.stall_s, 0.5) if not self.camera.live else self.stall_s

        def step() -> tuple[T | np.ndarray, float] | None:
            frame = self.camera.read(poll_s)
            if frame is None:
                return None
            mono = self._mono()
            return (process(frame) if process is not None else frame), mono

        try:
            while True:
                executor = self._new_executor()
                try:
                    async with asyncio.timeout(self.stall_s):
                        await loop.run_in_executor(executor, self.camera.open)
                    if self.health.state == "down":
                        self.health.reopens += 1
                        log.info("camera %s is back after an outage", self.camera.name)
                    self._set("ok")
                    backoff_s = self.reopen_min_s
                    while True:
                        async with asyncio.timeout(self.stall_s + poll_s):
                            got = await loop.run_in_executor(executor, step)
                        if got is None:
                            if self.camera.live:
                                raise CameraError(f"no frame for {self.stall_s:g} s")
                            continue
                        self.health.frames += 1
                        yield got
                except CameraEnded:
                    self._set("ended")
                    return
                except (CameraError, TimeoutError) as exc:
                    reason = exc.message if isinstance(exc, CameraError) else f"no frame for {self.stall_s:g} s"
                    if self.health.state != "down":
                        log.warning("camera %s outage: %s; reopening with backoff", self.camera.name, reason)
                    self._set("down", reason)
                    closer = _DaemonThreadExecutor("camera-close")  # the read thread may be hung
                    try:
                        await loop.run_in_executor(closer, self._close_quietly)
                    finally:
                        closer.shutdown(wait=False)
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, self.reopen_max_s)
        finally:
            self._close_quietly()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    def _close_quietly(self) -> None:
        try:
            self.camera.close()
        except Exception as exc:  # a broken driver must not stop the reopen loop
            log.debug("camera close failed: %s", exc)
