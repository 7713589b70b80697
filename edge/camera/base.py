"""The camera interface: what every frame source does, and its errors (docs/edge-node.md,
"Camera sources").

A frame is a numpy ``uint8`` array, either ``(H, W)`` grey or ``(H, W, 3)`` in **BGR** order
(OpenCV's order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from shared.errors import CampusPassError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


class CameraError(CampusPassError):
    """A camera cannot be opened or stopped delivering. Code ``camera``."""

    code = "camera"


class CameraEnded(CampusPassError):
    """A replay source has delivered its last frame. Code ``camera_ended``."""

    code = "camera_ended"


class CameraHung(CampusPassError):
    """More camera calls are stuck in the driver than the supervisor allows: only a new process
    frees them (``edge run`` exits with :data:`edge.node.EXIT_CAMERA_HUNG`). Code ``camera_hung``."""

    code = "camera_hung"


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


def read_image_file(path: Path) -> np.ndarray | None:
    """The image at ``path`` as (H, W, 3) BGR, None when empty or not (yet) decodable."""
    data = np.fromfile(str(path), dtype=np.uint8)
    if not data.size:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)
