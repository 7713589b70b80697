"""The retry ladder: what the door decoder tries after a first read finds nothing.

A door camera meets codes the raw decoder misses: a phone held far away (two camera pixels per
module), a phone screen whose pixel grid beats with the sensor's (moiré), a moving hand (motion
blur), a phone closer than the focus distance, a ceiling light on the screen, a dimmed screen.
Each has a cheap image fix; trying them all on every frame would cost many times a plain read,
and most frames hold no code. So the ladder runs only when

1. the first read decoded nothing, and
2. the frame shows evidence of a code: a QR symbol zxing-cpp located but could not decode
   (its corners give the region), or, failing that, a patch that passes :func:`structure_regions`
   (busy in both directions, sized like a code), or, failing that, Micro QR / rMQR "symbols"
   zxing-cpp located (a QR code's finder on a dim or glared screen often passes for one; the
   region is grown around them: :func:`region_around_finders`),

and then tries, on that region, in order of how often each rung rescued a frame in the
benchmark (``bench/door_decoding.py``):

============  ======================================================================================
rung          what it does
============  ======================================================================================
``smooth``    a light Gaussian blur (sigma 1 px): removes a screen's pixel grid and its moiré
``deblur``    motion blur: the blur direction from the gradient structure tensor, the length from
              the autocorrelation of the derivative along it, then Wiener deconvolution with that
              line PSF and its neighbours; a round (focus) blur: Wiener with a few disc radii
``upscale``   the region enlarged 2× (cubic): tiny codes (first when the region is small)
``contrast``  local normalisation, a local mean threshold, a range stretch, CLAHE: glare and dim
              screens (first for low-contrast, partly saturated and finder-only regions; on the
              region grown by ``CONTRAST_PAD``)
``inverted``  every read above also tries the inverted image (dark-mode screens)
============  ======================================================================================

A per-frame time budget (seconds) cuts the ladder off: before each try the ladder predicts its
cost from what the same try cost per pixel before and skips it when the remaining budget is
short (with ``PREDICTION_HEADROOM``, planning within ``PLAN_SHARE`` of the budget), so the
decoder's extra time on a frame stays under the budget and the node keeps up with the camera.
A text found by the ladder is a text zxing-cpp decoded with its own Reed-Solomon check; the
ladder never edits texts.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: ``read(grey, try_invert)`` → decoded texts (zxing-cpp's checked output; empty when none).
Reader = Callable[[np.ndarray, bool], list[str]]

RUNGS = ("smooth", "deblur", "upscale", "contrast")
#: Regions smaller than this (longest side, px) are likely tiny codes: ``upscale`` goes first.
SMALL_REGION_PX = 160
#: A region whose 5th to 95th percentile grey levels span less than this is low-contrast.
LOW_CONTRAST = 60
#: Local normalisation window (Gaussian sigma, px): about one module of a code held at 20-40 cm.
LOCAL_SIGMA_PX = 6.0
#: A region with more than this share of saturated pixels (>= 250) is glared: ``contrast`` first.
GLARE_SHARE = 0.01
#: A region around finder-like symbols is grown by this many times the symbol's side.
FINDER_PAD = 2.0
#: The contrast rung works on the region grown by this share of its side (glare hides part of a code).
CONTRAST_PAD = 0.25
#: Largest region side (px) the ladder works on at full resolution; larger ones are halved first.
MAX_REGION_PX = 720
#: Cost per region pixel assumed for the very first try (seconds; a read costs about 10-50 ns/px).
FIRST_GUESS_S_PER_PX = 60e-9
#: A try is started only when this many times its predicted cost still fits in ``PLAN_SHARE``
#: of the budget (reads slow down when the machine is busy, and a busy machine can take the CPU
#: away for milliseconds mid-try; the budget is a ceiling, not a target).
PREDICTION_HEADROOM = 1.3
PLAN_SHARE = 0.85
#: Structure test: the frame is subsampled every this many pixels in both directions.
STRUCTURE_STEP_PX = 4
#: Structure test block (samples per side) and the share of transitions in it that marks a code.
STRUCTURE_BLOCK = 4
STRUCTURE_DENSITY = 0.33
#: A transition differs from its neighbour by more than this many times the frame's mean difference.
STRUCTURE_NOISE_GAIN = 2.0


@dataclass(frozen=True)
class CodeRegion:
    """Where a code probably is: pixel box ``[y0:y1, x0:x1]`` of the frame.

    Attributes:
        source: ``symbol`` (zxing-cpp located an undecodable symbol there), ``structure``
            (:func:`structure_regions`) or ``finder`` (:func:`region_around_finders`).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    source: str = "symbol"

    @property
    def side_px(self) -> int:
        """The longer side in pixels."""
        return max(self.x1 - self.x0, self.y1 - self.y0)

    def padded(self, shape: tuple[int, ...], fraction: float = 0.15, min_px: int = 8) -> CodeRegion:
        """This region grown by ``fraction`` of its side (at least ``min_px``), inside a frame of ``shape``."""
        pad = max(min_px, int(fraction * self.side_px))
        h, w = shape[:2]
        return CodeRegion(max(0, self.x0 - pad), max(0, self.y0 - pad), min(w, self.x1 + pad),
                          min(h, self.y1 + pad), self.source)


def region_from_corners(xs: list[int], ys: list[int], shape: tuple[int, ...]) -> CodeRegion | None:
    """The padded box around a located symbol's corner points (px), or None when degenerate."""
    h, w = shape[:2]
    box = CodeRegion(max(0, min(xs)), max(0, min(ys)), min(w, max(xs)), min(h, max(ys)))
    if box.x1 - box.x0 < 6 or box.y1 - box.y0 < 6:
        return None
    return box.padded(shape, fraction=0.25)


def region_around_finders(boxes: list[tuple[int, int, int, int]], shape: tuple[int, ...]) -> CodeRegion | None:
    """Where a QR code probably is when zxing-cpp saw only part of it: ``boxes`` are the
    ``(x0, y0, x1, y1)`` pixel boxes of the Micro QR / rMQR "symbols" it located (a QR code's
    finder pattern on a dim or glared screen often passes for one), the result their union
    grown by ``FINDER_PAD`` times the largest box's side on each side (the code extends from a
    finder in a direction not known), inside a frame of ``shape``; None when degenerate.
    """
    if not boxes:
        return None
    side = max(max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes)
    if side < 6:
        return None
    h, w = shape[:2]
    pad = int(FINDER_PAD * side)
    return CodeRegion(max(0, min(b[0] for b in boxes) - pad), max(0, min(b[1] for b in boxes) - pad),
                      min(w, max(b[2] for b in boxes) + pad), min(h, max(b[3] for b in boxes) + pad), "finder")


def structure_regions(grey: np.ndarray, max_regions: int = 2) -> list[CodeRegion]:
    """Patches of ``grey`` (uint8 (H, W)) that look like a QR code: a cheap test (about a
    twentieth of a read on a frame without one).

    The frame is subsampled every ``STRUCTURE_STEP_PX`` pixels (aliasing keeps a tiny code's
    contrast, where averaging would wash it out). A sample is a transition when it differs from
    its right (or lower) neighbour by clearly more than the frame's typical difference (noise).
    A block of ``STRUCTURE_BLOCK`` × ``STRUCTURE_BLOCK`` samples counts when at least
    ``STRUCTURE_DENSITY`` of its samples are transitions both across and down: a code's modules
    change everywhere in both directions, while an edge, a text line, a gradient or a screen
    border changes once. Returns at most ``max_regions`` boxes around connected counting blocks
    (largest first), in full-frame pixels, each at least a tiny code's size (about 40 px).

    Codes with larger modules (about 6 px and up) are not this test's job: zxing-cpp locates
    those itself, even blurred, and its located symbols start the ladder (a coarser second
    subsample rescued no frame in the benchmark and cost a fifth of the test).
    """
    step = STRUCTURE_STEP_PX
    return _structure_at(np.ascontiguousarray(grey[::step, ::step]), step, grey.shape, max_regions)


def _structure_at(s: np.ndarray, step: int, shape: tuple[int, ...], max_regions: int) -> list[CodeRegion]:
    """:func:`structure_regions` on ``s``, the frame (of ``shape``) subsampled every ``step`` px."""
    block = STRUCTURE_BLOCK
    bh, bw = (s.shape[0] - 1) // block, (s.shape[1] - 1) // block
    if bh < 2 or bw < 2:
        return []
    s = s[:bh * block + 1, :bw * block + 1]
    gx = cv2.absdiff(s[:-1, 1:], s[:-1, :-1])
    gy = cv2.absdiff(s[1:, :-1], s[:-1, :-1])
    noise = max(5.0, STRUCTURE_NOISE_GAIN * cv2.mean(gx)[0] + 3.0)
    _, tx = cv2.threshold(gx, noise, 255, cv2.THRESH_BINARY)
    _, ty = cv2.threshold(gy, noise, 255, cv2.THRESH_BINARY)
    # Share of transitions per block (0..255), both directions.
    busy = cv2.min(_block_mean(tx, block), _block_mean(ty, block))
    level = STRUCTURE_DENSITY * 255
    if cv2.minMaxLoc(busy)[1] < level:
        return []  # the common case: nothing code-like
    _, mask = cv2.threshold(busy, level - 0.5, 1, cv2.THRESH_BINARY)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found: list[tuple[int, CodeRegion]] = []
    h, w = shape[:2]
    unit = step * block  # full-frame pixels per block
    for i in range(1, n):
        x, y, cw, ch, area = (int(v) for v in stats[i])
        if cw * ch > 0.8 * busy.size:  # the whole frame is busy: noise or texture, no place to look
            continue
        region = CodeRegion(x * unit, y * unit, min(w, (x + cw) * unit), min(h, (y + ch) * unit), "structure")
        if region.side_px < 40:
            continue
        found.append((area, region))
    found.sort(key=lambda t: -t[0])
    # A block only half on the code may fall short of the density: pad by about a block.
    return [r.padded(shape, fraction=0.15, min_px=unit) for _, r in found[:max_regions]]


def _block_mean(image: np.ndarray, block: int) -> np.ndarray:
    """Mean of each ``block`` × ``block`` tile of ``image`` (uint8, sides multiples of ``block``).

    A power-of-two block is averaged by halving in turn: several times faster than one area
    resize, and exact enough here (each halving rounds to a whole grey level; the structure
    test's shares of 0/255 samples stay more than a level away from its threshold).
    """
    while block > 1 and block % 2 == 0:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        block //= 2
    if block > 1:
        image = cv2.resize(image, (image.shape[1] // block, image.shape[0] // block), interpolation=cv2.INTER_AREA)
    return image


@dataclass
class LadderOutcome:
    """What one run of the ladder did.

    Attributes:
        texts: decoded texts (empty when nothing was read).
        rung: the rung that read them (None when none did).
        tries: reads attempted.
        spent_s: seconds the ladder took.
        cut_off: True when the budget stopped it before every rung was tried.
    """

    texts: list[str] = field(default_factory=list)
    rung: str | None = None
    tries: int = 0
    spent_s: float = 0.0
    cut_off: bool = False


class RetryLadder:
    """Image fixes tried on a region until one reads or the time budget is spent.

    Args:
        read: ``read(grey, try_invert)`` → texts (the decoder's own checked read).
        budget_s: longest extra time per frame, seconds (``[decoder] retry_budget_s``).
        clock: monotonic seconds (default ``time.perf_counter``), a seam for tests.
    """

    def __init__(self, read: Reader, budget_s: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self._read = read
        self.budget_s = budget_s
        self._clock = clock
        # Learned cost per region pixel (seconds) of each attempt of each rung ("deblur:2": the
        # third image deblur makes, "deblur-line:2" for a motion blur; attempts within a rung
        # differ several times in cost). One not
        # tried yet is assumed to cost as much as the dearest tried so far.
        self._s_per_px: dict[str, float] = {}
        self.runs = 0
        self.reads = 0
        self.cut_offs = 0
        self.rescues: dict[str, int] = {r: 0 for r in RUNGS}

    def run(self, grey: np.ndarray, regions: list[CodeRegion]) -> LadderOutcome:
        """Try the rungs on each region of ``grey`` (uint8 (H, W)) in turn; stop at the first read.

        The order is :data:`RUNGS`, except that a small region (a tiny code) starts with
        ``upscale``, a region smeared one way (a moving hand) with ``deblur`` and a region of
        low contrast (a dim screen) with ``contrast``.
        """
        start = self._clock()
        out = LadderOutcome()
        self.runs += 1
        for region in regions:
            crop = _crop(grey, region)
            if crop.size == 0:
                continue
            if self._clock() - start > self.budget_s:
                out.cut_off = True
                break
            smear = Smear.of(crop)
            order = list(RUNGS)
            sample = crop[::4, ::4]
            lo, hi = np.percentile(sample, (5, 95))
            first = ("upscale" if region.side_px < SMALL_REGION_PX else "deblur" if smear.is_motion
                     else "contrast" if (hi - lo < LOW_CONTRAST or region.source == "finder"
                                         or np.count_nonzero(sample >= 250) > GLARE_SHARE * sample.size)
                     else None)
            if first is not None:
                order.remove(first)
                order.insert(0, first)
            for rung in order:
                # Glare washes out part of a code, and the structure test's region stops where the
                # pattern does: the contrast fixes look at a wider region.
                image = _crop(grey, region.padded(grey.shape, CONTRAST_PAD)) if rung == "contrast" else crop
                attempts = _ATTEMPTS[rung](image, smear)
                for k in itertools.count():
                    # Predict the next attempt's cost (making the image and reading it) from what
                    # the same attempt of this rung cost per pixel before, with headroom for a
                    # busy machine; skip what would not fit in the budget.
                    key = f"{rung}{'-line' if rung == 'deblur' and smear.is_motion else ''}:{k}"
                    predicted = PREDICTION_HEADROOM * self._predict_s_per_px(key) * image.size
                    if self._clock() - start + predicted > PLAN_SHARE * self.budget_s:
                        out.cut_off = True
                        self._skipped(key)
                        break
                    t0 = self._clock()
                    attempt = next(attempts, None)
                    if attempt is None:
                        break
                    texts = self._read(attempt, True)
                    self._learn(key, (self._clock() - t0) / image.size)
                    out.tries += 1
                    self.reads += 1
                    if texts:
                        out.texts, out.rung = texts, rung
                        self.rescues[rung] += 1
                        return self._done(out, start)
        return self._done(out, start)

    def _predict_s_per_px(self, key: str) -> float:
        if key in self._s_per_px:
            return self._s_per_px[key]
        return max(self._s_per_px.values(), default=FIRST_GUESS_S_PER_PX)

    def _learn(self, key: str, s_per_px: float) -> None:
        old = self._s_per_px.get(key, s_per_px)
        # Rise at once (never overrun twice in a row), fall gradually.
        self._s_per_px[key] = s_per_px if s_per_px > old else 0.7 * old + 0.3 * s_per_px

    def _skipped(self, key: str) -> None:
        # A rung skipped for its predicted cost is never measured again; let the estimate decay
        # so that a moment of machine load does not shut a rung out for good.
        if key in self._s_per_px:
            self._s_per_px[key] *= 0.9

    def _done(self, out: LadderOutcome, start: float) -> LadderOutcome:
        out.spent_s = self._clock() - start
        if out.cut_off:
            self.cut_offs += 1
        return out


def _crop(grey: np.ndarray, region: CodeRegion) -> np.ndarray:
    """The pixels of ``region``, halved when its side exceeds ``MAX_REGION_PX``."""
    crop = grey[region.y0:region.y1, region.x0:region.x1]
    if crop.size and region.side_px > MAX_REGION_PX:
        crop = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return crop


# ---- the rungs ---------------------------------------------------------------------------------
# Each rung is a generator of images to read, made lazily (one per ``next``), best first.


@dataclass(frozen=True)
class Smear:
    """How a region is blurred: the direction of least gradient energy (degrees, 0..180,
    counter-clockwise on screen) and the anisotropy (smaller/larger structure tensor eigenvalue,
    0..1: 1 is round or no blur)."""

    direction_deg: float
    anisotropy: float

    #: Below this anisotropy the region is smeared one way (motion), not round (focus).
    MOTION_BELOW = 0.6

    @property
    def is_motion(self) -> bool:
        """True when the region is clearly smeared one way."""
        return self.anisotropy < self.MOTION_BELOW

    @classmethod
    def of(cls, grey: np.ndarray) -> Smear:
        """The smear of ``grey`` (uint8 (H, W)), from :func:`blur_direction` on every second
        pixel (a direction does not change with scale)."""
        return cls(*blur_direction(grey[::2, ::2] if min(grey.shape) >= 64 else grey))


Rung = Callable[[np.ndarray, Smear], Iterator[np.ndarray]]


def _smooth(crop: np.ndarray, smear: Smear) -> Iterator[np.ndarray]:
    yield cv2.GaussianBlur(crop, (0, 0), 1.0)
    yield cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _upscale(crop: np.ndarray, smear: Smear) -> Iterator[np.ndarray]:
    if crop.size <= 400 * 400:
        yield cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _contrast(crop: np.ndarray, smear: Smear) -> Iterator[np.ndarray]:
    # Glare and dim screens: local normalisation first (each pixel against the mean and spread
    # of its surroundings, a few modules across: a veiling reflection or a dark screen beside a
    # bright wall no longer sets the scale), then a local mean threshold after a light blur; then
    # a stretch of the whole range and CLAHE.
    yield local_normalise(crop, LOCAL_SIGMA_PX)
    yield cv2.adaptiveThreshold(cv2.GaussianBlur(crop, (0, 0), 1.0), 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                cv2.THRESH_BINARY, 25, 2)
    yield np.asarray(cv2.normalize(crop, None, 0, 255, cv2.NORM_MINMAX), np.uint8)
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))
    yield np.asarray(clahe.apply(cv2.GaussianBlur(crop, (0, 0), 1.0)), np.uint8)


def local_normalise(grey: np.ndarray, sigma_px: float) -> np.ndarray:
    """``grey`` (uint8 (H, W)) with each pixel's difference from its Gaussian-weighted
    neighbourhood (``sigma_px``) divided by the neighbourhood's spread: uint8 (H, W) around 128.

    A code under a veiling reflection or on a dim screen keeps its module pattern at a usable
    contrast wherever the sensor did not saturate.
    """
    f = grey.astype(np.float32)
    d = f - cv2.GaussianBlur(f, (0, 0), sigma_px)
    spread = cv2.sqrt(cv2.GaussianBlur(d * d, (0, 0), sigma_px)) + 2.0
    return np.asarray(np.clip(128.0 + 60.0 * d / spread, 0, 255), np.uint8)


def _deblur(crop: np.ndarray, smear: Smear) -> Iterator[np.ndarray]:
    # First at half size (a quarter of the work; the result enlarged back for the read), then at
    # full size with the neighbouring PSFs.
    half = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    size = (crop.shape[1], crop.shape[0])
    if smear.is_motion:
        length = blur_length(crop, smear.direction_deg)
        small = Deconvolver(half, pad_px=int(length / 2) + 4)
        yield cv2.resize(small.apply(line_psf(length / 2, smear.direction_deg), 0.02), size,
                         interpolation=cv2.INTER_CUBIC)
        full = Deconvolver(crop, pad_px=int(length) + 4)
        for extra, nsr in ((0, 0.02), (1, 0.03), (-1, 0.03)):
            if length + extra >= 3:
                yield full.apply(line_psf(length + extra, smear.direction_deg), nsr)
    else:
        small = Deconvolver(half, pad_px=8)
        for radius in (1.5, 2.0):
            yield cv2.resize(small.apply(disc_psf(radius), 0.02), size, interpolation=cv2.INTER_CUBIC)
        full = Deconvolver(crop, pad_px=8)
        for radius in (3.0, 4.0):
            yield full.apply(disc_psf(radius), 0.02)


_ATTEMPTS: dict[str, Rung] = {"smooth": _smooth, "deblur": _deblur, "upscale": _upscale, "contrast": _contrast}


# ---- deblurring --------------------------------------------------------------------------------


def blur_direction(grey: np.ndarray) -> tuple[float, float]:
    """(direction in degrees 0..180 along which ``grey`` is smeared, anisotropy 0..1).

    From the gradient structure tensor: the eigenvector with the smaller eigenvalue points along
    the smear (a line blur removes gradients along its direction); anisotropy is the ratio of
    the smaller to the larger eigenvalue (1: round or no blur).
    """
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    tr, det = jxx + jyy, jxx * jyy - jxy * jxy
    disc = math.sqrt(max(0.0, tr * tr / 4 - det))
    lmax, lmin = tr / 2 + disc, tr / 2 - disc
    if lmax <= 0:
        return 0.0, 1.0
    # Eigenvector of the smaller eigenvalue: the direction with least gradient energy.
    angle = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy)) + 90.0
    # Image y grows downwards; report the angle counter-clockwise as seen on screen.
    return (-angle) % 180.0, lmin / lmax


def blur_length(grey: np.ndarray, direction_deg: float, max_px: int = 30) -> float:
    """Length in pixels of a line blur along ``direction_deg``: the lag at which the derivative
    along that direction is most anti-correlated with itself (a line blur turns each edge into a
    pair of opposite steps ``length`` apart). Every third line is enough. Returns 3..``max_px``."""
    h, w = grey.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), -direction_deg, 1.0)
    g = cv2.warpAffine(grey, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    m = max(2, min(h, w) // 6)
    d = np.diff(g[m:h - m:3, m:w - m].astype(np.float32), axis=1)
    if d.shape[1] <= 2 * max_px:
        return 8.0
    d -= d.mean(axis=1, keepdims=True)
    n = cv2.getOptimalDFTSize(2 * d.shape[1])
    spec = np.fft.rfft(d, n=n, axis=1)
    corr = np.fft.irfft((spec * spec.conj()).real.sum(axis=0), n=n)
    if corr[0] <= 0:
        return 8.0
    return float(3 + int(np.argmin(corr[3:max_px + 1])))


class Deconvolver:
    """Wiener deconvolution of one image by several PSFs: the image's spectrum is computed once.

    Args:
        grey: uint8 (H, W).
        pad_px: reflected border added before the transform (at least the PSF's radius), so
            the frame's edges do not ring into the code.
    """

    def __init__(self, grey: np.ndarray, pad_px: int) -> None:
        self._h, self._w = grey.shape
        self._pad = pad_px
        g = cv2.copyMakeBorder(grey.astype(np.float32), pad_px, pad_px, pad_px, pad_px, cv2.BORDER_REFLECT)
        gh, gw = cv2.getOptimalDFTSize(g.shape[0]), cv2.getOptimalDFTSize(g.shape[1])
        g = cv2.copyMakeBorder(g, 0, gh - g.shape[0], 0, gw - g.shape[1], cv2.BORDER_REFLECT)
        self._shape = (gh, gw)
        self._spectrum = cv2.dft(g, flags=cv2.DFT_COMPLEX_OUTPUT)
        self._kernel = np.zeros((gh, gw), np.float32)

    def apply(self, psf: np.ndarray, nsr: float) -> np.ndarray:
        """The image deconvolved by ``psf`` (float32 (K, K), sums to 1, K < the padded size) with
        noise-to-signal ratio ``nsr``: G·conj(H) / (|H|² + nsr); uint8 (H, W)."""
        gh, gw = self._shape
        kh, kw = psf.shape
        k = self._kernel
        k[:] = 0
        # The PSF centred on the origin, wrapped around the edges (circular convolution).
        cy, cx = kh // 2, kw // 2
        k[:kh - cy, :kw - cx] = psf[cy:, cx:]
        k[:kh - cy, gw - cx:] = psf[cy:, :cx]
        k[gh - cy:, :kw - cx] = psf[:cy, cx:]
        k[gh - cy:, gw - cx:] = psf[:cy, :cx]
        kf = cv2.dft(k, flags=cv2.DFT_COMPLEX_OUTPUT)
        power = cv2.add(cv2.magnitude(kf[..., 0], kf[..., 1]) ** 2, nsr)
        num = np.asarray(cv2.mulSpectrums(self._spectrum, kf, 0, conjB=True), np.float32)
        num /= power[..., None]
        f = cv2.idft(num, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        p = self._pad
        return np.asarray(cv2.min(cv2.max(f[p:p + self._h, p:p + self._w], 0.0), 255.0), np.float32).astype(np.uint8)


def disc_psf(radius_px: float) -> np.ndarray:
    """A defocus PSF: a uniform disc of ``radius_px``; float32 (K, K), sums to 1."""
    r = int(math.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    k = np.clip(radius_px + 0.5 - np.sqrt(xx * xx + yy * yy), 0, 1)
    return np.asarray(k / k.sum(), np.float32)


def line_psf(length_px: float, angle_deg: float) -> np.ndarray:
    """A motion-blur PSF: a line ``length_px`` long at ``angle_deg`` (counter-clockwise from the
    x axis as seen on screen); float32 (K, K), sums to 1."""
    size = int(math.ceil(length_px)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    a = math.radians(angle_deg)
    dx, dy = math.cos(a) * (length_px - 1) / 2, -math.sin(a) * (length_px - 1) / 2
    cv2.line(k, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)),
             1.0, 1, cv2.LINE_AA, shift=4)
    return np.asarray(k / max(float(k.sum()), 1e-6), np.float32)
