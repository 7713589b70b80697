"""Camera sources behind one interface, and the watchdog that survives outages
(docs/architecture.md §7, docs/edge-node.md "Camera sources").

A frame is a numpy ``uint8`` array, either ``(H, W)`` grey or ``(H, W, 3)`` in **BGR** order
(OpenCV's order). One module per backend behind :class:`~edge.camera.base.Camera`:

=================  ===============================================================  =========  ==========
source             frames                                                           live       module
=================  ===============================================================  =========  ==========
``picamera2``      Pi camera (libcamera) main stream YUV420; the Y plane: (H, W) grey  yes        ``picam``
``opencv:N``       ``cv2.VideoCapture(N)`` (USB or laptop webcam): (H, W, 3) BGR        yes        ``opencv``
``dir:PATH``       each new image file in folder PATH (png/jpg/webp/bmp): (H, W, 3)    no         ``files``
``files:GLOB``     every image matching GLOB once, sorted, then the end                no         ``files``
``*.mp4`` etc.     every frame of a video file once, then the end                      no         ``opencv``
=================  ===============================================================  =========  ==========

``live`` cameras deliver in real time: a live camera that delivers nothing for ``stall_s`` is
an outage. The node reads and decodes in the same camera thread, so while it decodes, the
driver's own small buffer keeps only the newest frames. Replays may be idle (a folder camera
waits for files) and every replayed frame is decoded. :func:`make_camera` (``factory``) picks
the backend for ``camera.source``; :class:`CameraSupervisor` (``supervisor``) is the watchdog.

``picamera2`` is imported only inside :mod:`edge.camera.picam` (it comes from apt on the Pi,
``python3-picamera2``; the virtualenv uses ``--system-site-packages``).
"""

from edge.camera.base import IMAGE_SUFFIXES, Camera, CameraEnded, CameraError, CameraHung
from edge.camera.factory import make_camera
from edge.camera.files import ArrayCamera, DirCamera, FilesCamera
from edge.camera.opencv import OpenCVCamera, VideoFileCamera
from edge.camera.picam import Picamera2Camera
from edge.camera.supervisor import CameraHealth, CameraSupervisor

__all__ = [
    "IMAGE_SUFFIXES", "ArrayCamera", "Camera", "CameraEnded", "CameraError", "CameraHealth", "CameraHung",
    "CameraSupervisor", "DirCamera", "FilesCamera", "OpenCVCamera", "Picamera2Camera", "VideoFileCamera",
    "make_camera",
]
