"""Cameras made of files: a watched folder (``dir:PATH``), a list of image files
(``files:GLOB``) and in-memory frames (tests, benchmarks). None of them is live: they may be idle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.camera.base import IMAGE_SUFFIXES, CameraEnded, CameraError, read_image_file

log = logging.getLogger(__name__)


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
                frame = read_image_file(self.folder / name)
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
        frame = read_image_file(path) if path.exists() else None
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
