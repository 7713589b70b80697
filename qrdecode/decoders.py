"""QR decoders behind one interface: zxing-cpp (default) and pyzbar.

A frame is a numpy uint8 array, either (H, W) grey or (H, W, 3) BGR (OpenCV's channel
order). Colour frames are converted to grey first. A decoder returns the text of every QR
code it finds (possibly several per frame); it never raises for an unreadable frame.
Server (arrival photos, ``pass check --image``) and door node use the same decoders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from qrdecode.budget import DEFAULT_RETRY_BUDGET_S
from qrdecode.ladder import (
    CodeRegion,
    LadderOutcome,
    RetryLadder,
    region_around_finders,
    region_from_corners,
    structure_regions,
)
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
    """zxing-cpp, then the retry ladder: reads rotated, inverted (dark-mode), damaged, tiny,
    moiré-striped, blurred, glared and dim codes; as fast as raw zxing-cpp on frames without a code.

    The first read is zxing-cpp on the whole frame (inverted retry on). When it decodes nothing
    but the frame shows evidence of a code (a QR symbol zxing-cpp located but could not decode,
    a patch that passes :func:`qrdecode.ladder.structure_regions`, or Micro QR / rMQR symbols it
    located, see :func:`qrdecode.ladder.region_around_finders`), the
    :class:`~qrdecode.ladder.RetryLadder` tries image fixes on that region for at most
    ``retry_budget_s`` seconds. Frames without evidence cost one read and the structure test.

    Args:
        retry_budget_s: longest extra time per frame spent in the ladder (seconds); 0 turns it off.
        clock: monotonic seconds for the ladder's budget (a seam for tests).

    Raises:
        DecoderError: zxing-cpp is not installed, or a negative budget.
    """

    name = "zxing"

    def __init__(self, retry_budget_s: float = DEFAULT_RETRY_BUDGET_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - a dependency
            raise DecoderError("zxing-cpp is not installed (pip install zxing-cpp)") from exc
        if not 0 <= retry_budget_s <= 1.0:
            raise DecoderError(f"retry budget {retry_budget_s!r} s; expected 0..1 seconds", code="bad_budget")
        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode
        self.ladder: RetryLadder | None = RetryLadder(self._read_texts, retry_budget_s, clock) if retry_budget_s else None
        #: Frames that showed evidence of a code but whose first read decoded nothing.
        self.evidence_frames = 0
        #: What the ladder did on the last frame it ran on (None before the first such frame).
        self.last_outcome: LadderOutcome | None = None

    def _read(self, grey: np.ndarray, try_invert: bool = True, return_errors: bool = True) -> list[Any]:
        try:
            return list(self._zx.read_barcodes(
                grey, formats=self._formats, try_invert=try_invert, return_errors=return_errors  # type: ignore[arg-type]
            ))
        except (RuntimeError, ValueError) as exc:
            log.warning("zxing-cpp failed on a frame %s: %s", grey.shape, exc)
            return []

    def _read_texts(self, grey: np.ndarray, try_invert: bool) -> list[str]:
        return [r.text for r in self._read(grey, try_invert, return_errors=False) if r.valid and r.text]

    def decode(self, frame: np.ndarray) -> list[str]:
        """Texts of the QR codes in ``frame`` (uint8 (H, W) grey or (H, W, 3) BGR), each once."""
        grey = to_grey(frame)
        found = self._read(grey)
        texts = [r.text for r in found if r.valid and r.text]
        if texts or self.ladder is None:
            return list(dict.fromkeys(texts))
        regions = [r for r in (self._symbol_region(grey, s) for s in found) if r is not None]
        if not regions:
            regions = structure_regions(grey)
        if not regions:
            around = region_around_finders([self._box(s) for s in found], grey.shape)
            regions = [around] if around is not None else []
        if not regions:
            return []
        self.evidence_frames += 1
        self.last_outcome = self.ladder.run(grey, regions)
        return list(dict.fromkeys(self.last_outcome.texts))

    @staticmethod
    def _symbol_region(grey: np.ndarray, symbol: Any) -> CodeRegion | None:
        # Micro QR and rMQR "symbols" turn up in textures and noise, and a pass is a regular QR
        # code: they are weaker evidence (see decode), not a code's corners.
        if str((symbol.extra or {}).get("Version", "")).startswith(("M", "R")):
            return None
        pos = symbol.position
        corners = (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)
        return region_from_corners([p.x for p in corners], [p.y for p in corners], grey.shape)

    @staticmethod
    def _box(symbol: Any) -> tuple[int, int, int, int]:
        pos = symbol.position
        xs = (pos.top_left.x, pos.top_right.x, pos.bottom_right.x, pos.bottom_left.x)
        ys = (pos.top_left.y, pos.top_right.y, pos.bottom_right.y, pos.bottom_left.y)
        return min(xs), min(ys), max(xs), max(ys)


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


def make_decoder(name: str = "zxing", retry_budget_s: float = DEFAULT_RETRY_BUDGET_S) -> Decoder:
    """A decoder by name (``zxing`` or ``pyzbar``); ``retry_budget_s`` is zxing's retry ladder
    budget per frame (seconds, 0: off; pyzbar has no ladder).

    Raises:
        DecoderError: unknown name, or the library cannot be loaded.
    """
    if name not in DECODERS:
        raise DecoderError(f"decoder {name!r}; expected one of {sorted(DECODERS)}", code="bad_decoder")
    if name == "zxing":
        return ZxingDecoder(retry_budget_s)
    return PyzbarDecoder()


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
