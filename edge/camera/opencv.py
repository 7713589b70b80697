"""Cameras read through OpenCV's ``cv2.VideoCapture``: a USB or laptop webcam (``opencv:N``,
live) and a video file replayed once (``*.mp4`` etc.)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.camera.base import CameraEnded, CameraError


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
