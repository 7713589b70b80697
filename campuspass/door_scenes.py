"""Door camera frames of a pass, rendered like photos, for the decoding benchmark and its tests.

Each frame is what a door camera's grey (Y) plane would hold when a phone showing ``text`` as a
QR code is held in front of it: a wall, a phone body, its lit screen with the code on it, seen at
an angle, through a lens, integrated by sensor pixels, with noise. A :class:`SceneSpec` names the
conditions; :func:`scene_specs` draws a seeded, reproducible set of them per class:

=========  ==================================================================================
class      what the camera sees
=========  ==================================================================================
easy       a code at 5-8 camera pixels per module, slight tilt, a sharp lens
tiny       the phone far away: 1.5-2.3 camera pixels per module
moire      a screen whose pixel grid is about as fine as the sensor's (0.75-1.3 camera pixels
           per screen pixel) at several angles: the grids beat into moiré bands
motion     a moving hand: a straight-line blur 7-18 px long in any direction
focus      the phone closer than the focus distance: a disc blur of radius 2.5-4.5 px
glare      a ceiling light reflected on the screen: veiling light over the code and a bright spot
dim        a dimmed screen at night: 20-50 grey levels between dark and light modules, noise
none       no code (the phone shows a photo, or no phone at all)
=========  ==================================================================================

Rendering: the screen (code plus its lit background, optional pixel grid) is sampled at
``SUPERSAMPLE``× the camera resolution through a perspective map, then averaged over each camera
pixel (a sensor integrates light over its area: this is where moiré comes from), blurred by the
lens PSF, scaled by exposure and given Gaussian shot/read noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from server.qr import make_qr

#: Camera pixel side is averaged over SUPERSAMPLE × SUPERSAMPLE screen samples (2 × 2 when the
#: screen's pixel grid is too fine to show).
SUPERSAMPLE = 4
#: Hard classes (the raw decoder misses some of each); ``easy`` and ``none`` are the controls.
HARD_CLASSES = ("tiny", "moire", "motion", "focus", "glare", "dim")
CLASSES = ("easy", *HARD_CLASSES, "none")
MOIRE_ANGLES_DEG = (0.0, 4.0, 11.0, 22.0, 37.0)


@dataclass(frozen=True)
class SceneSpec:
    """One frame's conditions.

    Attributes:
        cls: class name (see the module docstring).
        seed: random seed for placement and noise.
        frame_px: (width, height) of the frame in camera pixels.
        module_px: camera pixels per QR module (0: no code in the frame).
        angle_deg: in-plane rotation of the phone.
        tilt: perspective strength (0..0.2 of the code size moved at the corners).
        screen_pitch_px: camera pixels per screen pixel (0: no visible pixel grid).
        grid_fill: lit fraction of each screen pixel's side (the rest is the dark gap).
        blur: ``("gauss", sigma_px)``, ``("disc", radius_px)``, ``("motion", length_px, angle_deg)``.
        dark, light: grey levels (0..255) of dark and light modules before noise.
        glare: strength of the reflected light (0: none).
        noise_sigma: Gaussian noise, grey levels.
    """

    cls: str
    seed: int
    frame_px: tuple[int, int] = (1280, 720)
    module_px: float = 6.0
    angle_deg: float = 0.0
    tilt: float = 0.05
    screen_pitch_px: float = 0.0
    grid_fill: float = 0.7
    blur: tuple[object, ...] = ("gauss", 0.6)
    dark: float = 25.0
    light: float = 225.0
    glare: float = 0.0
    noise_sigma: float = 3.0


def scene_specs(cls: str, count: int, seed: int = 2026, frame_px: tuple[int, int] = (1280, 720)
                ) -> Iterator[SceneSpec]:
    """``count`` seeded specs of class ``cls`` (same seed, same specs).

    Raises:
        ValueError: unknown class.
    """
    if cls not in CLASSES:
        raise ValueError(f"scene class {cls!r}; expected one of {CLASSES}")
    rng = np.random.default_rng([seed, CLASSES.index(cls)])
    for i in range(count):
        s = int(rng.integers(0, 2**31))
        angle = float(rng.uniform(-25, 25))
        tilt = float(rng.uniform(0.0, 0.08))
        base = SceneSpec(cls, s, frame_px, module_px=float(rng.uniform(5.0, 8.0)), angle_deg=angle, tilt=tilt,
                         screen_pitch_px=float(rng.uniform(0.15, 0.3)), blur=("gauss", float(rng.uniform(0.4, 0.8))))
        if cls == "easy":
            yield base
        elif cls == "tiny":
            yield _replace(base, module_px=float(rng.uniform(1.5, 2.3)), tilt=tilt / 2,
                           blur=("gauss", float(rng.uniform(0.45, 0.7))), noise_sigma=4.0)
        elif cls == "moire":
            yield _replace(base, module_px=float(rng.uniform(3.2, 5.0)),
                           angle_deg=MOIRE_ANGLES_DEG[i % len(MOIRE_ANGLES_DEG)] + float(rng.uniform(-1, 1)),
                           screen_pitch_px=float(rng.uniform(0.75, 1.3)), grid_fill=float(rng.uniform(0.45, 0.7)),
                           blur=("gauss", float(rng.uniform(0.2, 0.4))))
        elif cls == "motion":
            yield _replace(base, blur=("motion", float(rng.uniform(6, 15)), float(rng.uniform(0, 180))))
        elif cls == "focus":
            yield _replace(base, blur=("disc", base.module_px * float(rng.uniform(0.6, 0.9))))
        elif cls == "glare":
            yield _replace(base, glare=float(rng.uniform(0.8, 1.2)), dark=float(rng.uniform(40, 80)),
                           noise_sigma=4.0)
        elif cls == "dim":
            dark = float(rng.uniform(8, 16))
            yield _replace(base, dark=dark, light=dark + float(rng.uniform(20, 40)), noise_sigma=float(rng.uniform(2.5, 3.5)))
        else:
            yield _replace(base, module_px=0.0)


def _replace(spec: SceneSpec, **changes: object) -> SceneSpec:
    from dataclasses import replace

    return replace(spec, **changes)  # type: ignore[arg-type]


def qr_modules(text: str) -> np.ndarray:
    """The QR code of ``text`` as the server renders it (error correction M): bool (N, N), True = dark."""
    return np.array(make_qr(text).matrix, dtype=bool)


def render(spec: SceneSpec, modules: np.ndarray | None) -> np.ndarray:
    """The frame for ``spec``: uint8 (H, W) grey, the camera's Y plane.

    ``modules`` (bool (N, N), True = dark) is the code on the screen; ``None`` or a spec with
    ``module_px == 0`` shows a screen without a code.
    """
    rng = np.random.default_rng(spec.seed)
    w, h = spec.frame_px
    frame = _wall(rng, w, h)
    has_code = modules is not None and spec.module_px > 0
    n = modules.shape[0] + 8 if has_code and modules is not None else 45
    module_px = spec.module_px if has_code else float(rng.uniform(4, 8))
    side_px = n * module_px  # code with its quiet zone, in camera pixels
    screen_w, screen_h = side_px * 1.15, side_px * 1.9
    cx = float(rng.uniform(0.3, 0.7)) * w
    cy = float(rng.uniform(0.35, 0.65)) * h
    if spec.cls == "none" and rng.uniform() < 0.3:
        return _finish(spec, rng, frame.astype(np.float32))
    # Homography: screen coordinates (units: code modules, origin at the screen's centre) → camera px.
    a = math.radians(spec.angle_deg)
    scale = module_px
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32)
    tilt = spec.tilt * np.asarray(rng.uniform(-1, 1, (4, 2)), np.float32)
    half = np.array([screen_w, screen_h], np.float32) / 2 / scale
    src = corners * half
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
    dst = (corners + tilt) * half * scale @ rot.T + np.array([cx, cy], np.float32)
    hom = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    # Phone body (dark, slightly larger than the screen) then the screen.
    body = (corners * (half + 0.08 * half.max())) * scale @ rot.T + np.array([cx, cy], np.float32)
    cv2.fillConvexPoly(frame, body.astype(np.int32), int(rng.uniform(15, 40)))
    x0, y0, x1, y1 = _bbox(dst, w, h, pad=4)
    if x1 <= x0 or y1 <= y0:
        return _finish(spec, rng, frame.astype(np.float32))
    region = _screen_region(spec, rng, modules if has_code else None, n, hom, x0, y0, x1, y1)
    out = frame.astype(np.float32)
    inside = region >= 0
    out[y0:y1, x0:x1][inside] = region[inside]
    return _finish(spec, rng, out)


def _wall(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A lit wall with a door frame edge and a soft gradient: uint8 (H, W)."""
    gx = np.linspace(float(rng.uniform(90, 140)), float(rng.uniform(60, 120)), w, dtype=np.float32)
    gy = np.linspace(1.05, 0.9, h, dtype=np.float32)
    wall = gy[:, None] * gx[None, :]
    edge = int(rng.uniform(0.05, 0.2) * w)
    wall[:, :edge] *= 0.55
    return np.asarray(np.clip(wall, 0, 255), np.uint8)


def _bbox(pts: np.ndarray, w: int, h: int, pad: int) -> tuple[int, int, int, int]:
    x0 = max(0, int(math.floor(pts[:, 0].min())) - pad)
    y0 = max(0, int(math.floor(pts[:, 1].min())) - pad)
    x1 = min(w, int(math.ceil(pts[:, 0].max())) + pad)
    y1 = min(h, int(math.ceil(pts[:, 1].max())) + pad)
    return x0, y0, x1, y1


def _screen_region(spec: SceneSpec, rng: np.random.Generator, modules: np.ndarray | None, n: int,
                   hom: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Camera pixels [y0:y1, x0:x1] of the screen: float32 grey, -1 outside the screen."""
    # A visible screen grid needs fine sampling to beat with the sensor; otherwise 2× is enough.
    s = SUPERSAMPLE if spec.screen_pitch_px >= 0.5 else 2
    ys, xs = np.mgrid[0:(y1 - y0) * s, 0:(x1 - x0) * s].astype(np.float32)
    cam = np.stack([x0 + (xs + 0.5) / s, y0 + (ys + 0.5) / s], axis=-1).reshape(-1, 1, 2)
    scr = cv2.perspectiveTransform(cam, np.linalg.inv(hom)).reshape(ys.shape + (2,))
    u, v = scr[..., 0], scr[..., 1]  # module units from the screen centre
    half_w, half_h = n * 1.15 / 2, n * 1.9 / 2
    on_screen = (np.abs(u) <= half_w) & (np.abs(v) <= half_h)
    value: np.ndarray = np.full(u.shape, spec.light, np.float32)
    if modules is not None:
        # The code sits in the upper part of the screen (a pass page: code above the status text).
        cu = u + n / 2
        cv = v + n / 2 + n * 0.25
        col = np.floor(cu).astype(np.int32) - 4
        row = np.floor(cv).astype(np.int32) - 4
        m = modules.shape[0]
        in_code = (col >= 0) & (col < m) & (row >= 0) & (row < m)
        dark = np.zeros(u.shape, bool)
        dark[in_code] = modules[row[in_code], col[in_code]]
        value[dark] = spec.dark
        # Status text lines under the code: small dark bars.
        text_band = (cv > n + 1) & (cv < n + 1 + 0.06 * n * 3) & (np.abs(u) < n * 0.3)
        value[text_band & (np.floor(cv * 2) % 2 == 0)] = spec.dark
    else:
        # A photo or page on the screen: smooth blotches, no code structure.
        blot = cv2.resize(rng.uniform(spec.dark, spec.light, (6, 4)).astype(np.float32),
                          (u.shape[1], u.shape[0]), interpolation=cv2.INTER_CUBIC)
        value = blot
    if 0 < spec.screen_pitch_px < 0.5:
        # A grid much finer than a camera pixel integrates to its mean brightness.
        value = value * (0.25 + 0.75 * spec.grid_fill * max(spec.grid_fill, 0.85))
    elif spec.screen_pitch_px > 0:
        # Screen pixel grid: each screen pixel is lit over grid_fill of its side; the gap is dark.
        pitch_modules = spec.screen_pitch_px / spec.module_px if spec.module_px > 0 else 0.05
        fu = np.mod(u / pitch_modules, 1.0)
        fv = np.mod(v / pitch_modules, 1.0)
        lit = (fu < spec.grid_fill) & (fv < max(spec.grid_fill, 0.85))
        value = np.where(lit, value, value * 0.25)
    if spec.glare > 0:
        # Veiling reflection brightening a band across the screen, plus a near-saturated spot.
        gx, gy = float(rng.uniform(-0.4, 0.4)) * n, float(rng.uniform(-0.6, 0.2)) * n
        r2 = ((u - gx) ** 2 + (v - gy) ** 2) / (0.35 * n) ** 2
        value = value + spec.glare * 160 * np.exp(-r2) + spec.glare * 40
    value = np.where(on_screen, value, -1.0)
    # Sensor integration: average each s × s block (outside-screen samples excluded).
    valid = (value >= 0).astype(np.float32)
    tot = cv2.resize(np.where(value >= 0, value, 0), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    cov = cv2.resize(valid, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return np.asarray(np.where(cov > 0.5, tot / np.maximum(cov, 1e-6), -1.0), np.float32)


def _finish(spec: SceneSpec, rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """Lens blur, noise, 8-bit quantisation."""
    kind = spec.blur[0]
    if kind == "gauss":
        frame = cv2.GaussianBlur(frame, (0, 0), float(spec.blur[1]))  # type: ignore[arg-type]
    elif kind == "disc":
        frame = cv2.filter2D(frame, -1, disc_psf(float(spec.blur[1])))  # type: ignore[arg-type]
    elif kind == "motion":
        frame = cv2.filter2D(frame, -1, line_psf(float(spec.blur[1]), float(spec.blur[2])))  # type: ignore[arg-type]
    frame = frame + np.asarray(rng.normal(0.0, spec.noise_sigma, frame.shape), np.float32)
    return np.asarray(np.clip(frame + 0.5, 0, 255), np.uint8)


def disc_psf(radius_px: float) -> np.ndarray:
    """A defocus PSF: a uniform disc of ``radius_px``, float32 (K, K), sums to 1."""
    r = int(math.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    k = np.clip(radius_px + 0.5 - np.sqrt(xx * xx + yy * yy), 0, 1)
    return np.asarray(k / k.sum(), np.float32)


def line_psf(length_px: float, angle_deg: float) -> np.ndarray:
    """A motion-blur PSF: a line ``length_px`` long at ``angle_deg``, float32 (K, K), sums to 1."""
    size = int(math.ceil(length_px)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    a = math.radians(angle_deg)
    dx, dy = math.cos(a) * (length_px - 1) / 2, -math.sin(a) * (length_px - 1) / 2
    cv2.line(k, (round(c * 16 - dx * 16), round(c * 16 - dy * 16)),
             (round(c * 16 + dx * 16), round(c * 16 + dy * 16)), 1.0, 1, cv2.LINE_AA, shift=4)
    return np.asarray(k / max(float(k.sum()), 1e-6), np.float32)


NOISE_KINDS = ("gauss", "uniform", "blobs", "blocks", "stripes", "checker", "speckle", "boxes")


def noise_frame(index: int, seed: int = 2026, frame_px: tuple[int, int] = (240, 180)) -> np.ndarray:
    """Frame ``index`` of a seeded stream of frames without any code: uint8 (H, W) grey.

    Kinds cycle through :data:`NOISE_KINDS`: Gaussian and uniform noise, smooth blobs, random
    binary blocks of 1-6 px (a texture as busy as a code's modules), stripes at any angle,
    checkerboards, speckle on a flat field and random filled boxes. Several look like a code
    to the structure test on purpose: the retry ladder runs on them and must still read nothing
    that a decoder would not.
    """
    rng = np.random.default_rng([seed, index])
    w, h = frame_px
    kind = NOISE_KINDS[index % len(NOISE_KINDS)]
    f: np.ndarray
    if kind == "gauss":
        f = rng.normal(float(rng.uniform(60, 200)), float(rng.uniform(5, 60)), (h, w))
    elif kind == "uniform":
        f = rng.uniform(0, 255, (h, w))
    elif kind == "blobs":
        small = rng.uniform(0, 255, (max(2, h // 16), max(2, w // 16)))
        f = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), np.float64)
    elif kind == "blocks":
        cell = int(rng.integers(1, 7))
        cells = (rng.uniform(size=(h // cell + 1, w // cell + 1)) < 0.5) * 200.0 + 25.0
        f = np.asarray(np.kron(cells, np.ones((cell, cell))), np.float64)[:h, :w]
    elif kind == "stripes":
        yy, xx = np.mgrid[0:h, 0:w]
        a = float(rng.uniform(0, math.pi))
        period = float(rng.uniform(2, 20))
        f = 128 + 100 * np.sign(np.sin(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / period))
    elif kind == "checker":
        cell = int(rng.integers(1, 10))
        yy, xx = np.mgrid[0:h, 0:w]
        f = (((yy // cell) + (xx // cell)) % 2) * 200.0 + 25.0
    elif kind == "speckle":
        f = np.full((h, w), float(rng.uniform(40, 220)))
        mask = rng.uniform(size=(h, w)) < float(rng.uniform(0.01, 0.3))
        f[mask] = rng.uniform(0, 255, int(mask.sum()))
    else:
        f = np.full((h, w), float(rng.uniform(0, 255)))
        for _ in range(int(rng.integers(3, 40))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            bw, bh = int(rng.integers(2, w // 3)), int(rng.integers(2, h // 3))
            f[y0:y0 + bh, x0:x0 + bw] = float(rng.uniform(0, 255))
    if rng.uniform() < 0.3:
        f = np.asarray(cv2.GaussianBlur(np.asarray(f, np.float32), (0, 0), float(rng.uniform(0.5, 2.5))))
    return np.asarray(np.clip(f, 0, 255), np.uint8)
