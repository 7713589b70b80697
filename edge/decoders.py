"""QR decoders behind one interface: zxing-cpp (default) and pyzbar.

A frame is a numpy uint8 array, either (H, W) grey or (H, W, 3) BGR (OpenCV's channel
order). Colour frames are converted to grey first. A decoder returns the text of every QR
code it finds (possibly several per frame); it never raises for an unreadable frame.
Server (arrival photos, ``pass check --image``) and door node use the same decoders.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from shared.errors import CampusPassError

log = logging.getLogger(__name__)


class DecoderError(CampusPassError):
    """A decoder cannot be created (library missing) or an image cannot be read."""

    code = "decoder"


class Decoder(Protocol):
    """Finds QR codes in a frame.

    ``decode(frame)`` takes a uint8 array (H, W) grey or (H, W, 3) BGR and returns the
    decoded texts, in the order found (empty list when none).
    """

    name: str

    def decode(self, frame: np.ndarray) -> list[str]: ...


def to_grey(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W) grey from (H, W) grey, (H, W, 3) BGR or (H, W, 4) BGRA.

    Raises:
        DecoderError: another shape or dtype.
    """
    if frame.dtype != np.uint8:
        raise DecoderError(f"frame dtype {frame.dtype}; expected uint8")
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    raise DecoderError(f"frame shape {frame.shape}; expected (H, W) or (H, W, 3)")


class ZxingDecoder:
    """zxing-cpp: reads rotated, inverted (dark-mode) and damaged codes; fast on empty frames.

    When zxing-cpp locates a QR symbol but cannot decode it (a checksum error: blur, small
    modules), that region alone is cropped, enlarged 2× and read again. The retry costs
    nothing on frames without a symbol, so empty frames stay as cheap as raw zxing-cpp.
    """

    name = "zxing"
    #: Largest crop side (pixels) the retry enlarges; bigger symbols are already large enough.
    RETRY_MAX_SIDE_PX = 600

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - a dependency
            raise DecoderError("zxing-cpp is not installed (pip install zxing-cpp)") from exc
        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode

    def _read(self, grey: np.ndarray) -> list[object]:
        try:
            found = self._zx.read_barcodes(
                grey, formats=self._formats, try_invert=True, return_errors=True  # type: ignore[arg-type]
            )
            return list(found)
        except (RuntimeError, ValueError) as exc:
            log.warning("zxing-cpp failed on a frame %s: %s", grey.shape, exc)
            return []

    def decode(self, frame: np.ndarray) -> list[str]:
        """Texts of the QR codes in ``frame`` (uint8 (H, W) grey or (H, W, 3) BGR), each once."""
        grey = to_grey(frame)
        texts: list[str] = []
        for r in self._read(grey):
            if r.valid and r.text:  # type: ignore[attr-defined]
                texts.append(r.text)  # type: ignore[attr-defined]
            else:
                texts.extend(self._retry(grey, r))
        return list(dict.fromkeys(texts))

    def _retry(self, grey: np.ndarray, result: object) -> list[str]:
        pos = result.position  # type: ignore[attr-defined]
        xs = [p.x for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        ys = [p.y for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        pad = max(8, int(0.25 * max(max(xs) - min(xs), max(ys) - min(ys))))
        h, w = grey.shape
        x0, x1 = max(0, min(xs) - pad), min(w, max(xs) + pad)
        y0, y1 = max(0, min(ys) - pad), min(h, max(ys) + pad)
        if x1 - x0 < 16 or y1 - y0 < 16 or max(x1 - x0, y1 - y0) > self.RETRY_MAX_SIDE_PX:
            return []
        crop = cv2.resize(grey[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        return [r.text for r in self._read(crop) if r.valid and r.text]  # type: ignore[attr-defined]


class PyzbarDecoder:
    """pyzbar (ZBar) restricted to QR, with a retry on the inverted frame for dark-mode codes."""

    name = "pyzbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except (ImportError, OSError) as exc:
            raise DecoderError(
                "pyzbar cannot load libzbar (apt install libzbar0)", code="decoder_unavailable"
            ) from exc
        self._pz = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def _read(self, grey: np.ndarray) -> list[str]:
        out = []
        for r in self._pz.decode(grey, symbols=self._symbols):
            try:
                out.append(r.data.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(r.data.decode("latin-1"))
        return out

    def decode(self, frame: np.ndarray) -> list[str]:
        """Texts of the QR codes in ``frame``; tries the inverted frame when none is found."""
        grey = to_grey(frame)
        texts = self._read(grey)
        if not texts:
            texts = self._read(cv2.bitwise_not(grey))
        return texts


DECODERS: dict[str, type[ZxingDecoder] | type[PyzbarDecoder]] = {"zxing": ZxingDecoder, "pyzbar": PyzbarDecoder}


def make_decoder(name: str = "zxing") -> Decoder:
    """A decoder by name (``zxing`` or ``pyzbar``).

    Raises:
        DecoderError: unknown name, or the library cannot be loaded.
    """
    try:
        cls: type[ZxingDecoder] | type[PyzbarDecoder] = DECODERS[name]
    except KeyError:
        raise DecoderError(f"decoder {name!r}; expected one of {sorted(DECODERS)}", code="bad_decoder") from None
    return cls()


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 (H, W, 3) BGR.

    Raises:
        DecoderError: code ``bad_image`` when the file is missing or not an image.
    """
    data = np.fromfile(str(path), dtype=np.uint8) if path.exists() else None
    frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if frame is None:
        raise DecoderError(f"{path} is not a readable image (png, jpg, webp)", code="bad_image")
    return frame


def decode_image_bytes(data: bytes, decoder: Decoder) -> list[str]:
    """Decode an uploaded image (bytes of a png/jpg/webp).

    Raises:
        DecoderError: code ``bad_image`` when the bytes are not an image.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    frame = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
    if frame is None:
        raise DecoderError("the upload is not a readable image (png, jpg, webp)", code="bad_image")
    return decoder.decode(frame)
