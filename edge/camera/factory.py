"""``make_camera``: the camera for a ``camera.source`` value."""

from __future__ import annotations

import glob
from pathlib import Path

from edge.camera.base import Camera, CameraError
from edge.camera.files import DirCamera, FilesCamera
from edge.camera.opencv import OpenCVCamera, VideoFileCamera
from edge.camera.picam import Picamera2Camera


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
