"""The Raspberry Pi camera through picamera2 (``picamera2``, ``picamera2:N``).

picamera2 comes from apt on the Pi (``python3-picamera2``, built against the system's libcamera;
the virtualenv uses ``--system-site-packages``) and is imported only here, when the camera opens.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge.camera.base import CameraError

log = logging.getLogger(__name__)


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
