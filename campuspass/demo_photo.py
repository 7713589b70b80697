"""Pass images that look like camera photos: perspective, blur, uneven light, sensor noise.

Used by the walkthrough and the end-to-end test to show a pass to a door node's watched folder
and to upload "a photo of the pass" for arrival confirmation, so both go through the same
decoders a real camera frame does. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import cv2
import numpy as np

from server.qr import qr_png


def photo_of(png: bytes, *, seed: int = 7, frame_px: tuple[int, int] = (960, 720)) -> np.ndarray:
    """A camera-like frame of the QR image ``png`` held in front of a lens.

    The code is placed on a grey, lit background at a slight angle (perspective warp of the
    corners by up to 6 % of its size), then blurred (Gaussian, sigma 1.2 px), dimmed towards one
    side and given Gaussian noise (sigma 6 grey levels).

    Args:
        png: PNG bytes of the pass (``/api/v1/pass.png``).
        seed: random seed for the warp and the noise.
        frame_px: (width, height) of the frame.

    Returns:
        uint8 array (H, W, 3), BGR.

    Raises:
        ValueError: ``png`` is not a readable image.
    """
    rng = np.random.default_rng(seed)
    src = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if src is None:
        raise ValueError("not a readable image")
    w, h = frame_px
    side = int(min(w, h) * 0.78)
    code = cv2.resize(src, (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = (w - side) // 2, (h - side) // 2
    jitter = side * 0.06
    corners = np.array([[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]], np.float32)
    moved = (corners + rng.uniform(-jitter, jitter, corners.shape)).astype(np.float32)
    square = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
    matrix = cv2.getPerspectiveTransform(square, moved)
    frame = cv2.warpPerspective(code, matrix, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(96, 104, 110))
    frame = cv2.GaussianBlur(frame, (0, 0), 1.2)
    light = np.linspace(1.0, 0.72, w, dtype=np.float32)[None, :, None]
    noise = np.asarray(rng.normal(0.0, 6.0, frame.shape), np.float32)
    noisy = np.asarray(frame, np.float32) * light + noise
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg(frame: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of a BGR frame (a phone-sized upload).

    Raises:
        ValueError: the frame cannot be encoded.
    """
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the frame as JPEG")
    return bytes(buf.tobytes())


def tampered_text(text: str) -> str:
    """``text`` with one character of its signed body changed so that it still decodes (the
    door then refuses it with ``bad_signature``, not ``malformed``).

    Raises:
        ValueError: no single-character change keeps the text decodable (never for a real pass).
    """
    from shared.errors import PassFormatError
    from shared.pass_format import decode_pass

    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    for pos in range(len(text) - 10, 4, -1):
        for ch in alphabet:
            if ch == text[pos]:
                continue
            candidate = text[:pos] + ch + text[pos + 1:]
            try:
                decode_pass(candidate)
            except PassFormatError:
                continue
            return candidate
    raise ValueError("no decodable one-character change found")


def tampered_png(text: str) -> bytes:
    """PNG of the QR code of :func:`tampered_text` (same rendering as the server's passes)."""
    return qr_png(tampered_text(text))
