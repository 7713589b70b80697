"""The retry ladder: it reads hard door frames raw zxing-cpp misses, runs only where a code is
likely, keeps to its time budget, and never turns a non-pass into a pass."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from gpiozero.pins.mock import MockFactory

from campuspass.door_scenes import HARD_CLASSES, noise_frame, qr_modules, render, scene_specs
from edge.config import NodeConfig
from edge.node import Node, open_store
from qrdecode.decoders import DecoderError, ZxingDecoder, make_decoder, read_image
from qrdecode.ladder import (
    CodeRegion,
    RetryLadder,
    blur_direction,
    blur_length,
    local_normalise,
    region_around_finders,
    structure_regions,
)
from shared.clock import FakeClock
from shared.errors import PassFormatError
from shared.keys import private_key_from_seed
from shared.pass_format import decode_pass

from .helpers import CORPUS, Campus

ZX = zxingcpp.BarcodeFormat.QRCode


class FrozenClock:
    """A monotonic clock that stands still unless a test moves it: the budget never runs out
    by itself, so what the ladder reads does not depend on how busy the machine is."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def unbounded_decoder() -> ZxingDecoder:
    return ZxingDecoder(retry_budget_s=0.5, clock=FrozenClock())


def raw_reads(frame: np.ndarray, text: str) -> bool:
    return text in [r.text for r in zxingcpp.read_barcodes(frame, formats=ZX, try_invert=True) if r.valid]


def pass_shaped(text: str) -> bool:
    try:
        decode_pass(text)
    except PassFormatError:
        return text.startswith("CP")
    return True


def test_the_ladder_reads_hard_frames_raw_zxing_misses_in_every_hard_class() -> None:
    campus = Campus()
    decoder = unbounded_decoder()
    per_class = 8
    gains: dict[str, int] = {}
    for cls in HARD_CLASSES:
        raw_ok = node_ok = 0
        for spec in scene_specs(cls, per_class, seed=7):
            text = campus.pass_text()
            frame = render(spec, qr_modules(text))
            raw_ok += raw_reads(frame, text)
            node_ok += text in decoder.decode(frame)
        assert node_ok >= raw_ok, cls  # the ladder only adds reads
        gains[cls] = node_ok - raw_ok
    assert sum(gains.values()) >= 4, gains
    assert decoder.ladder is not None and sum(decoder.ladder.rescues.values()) == sum(gains.values())


def test_frames_without_a_code_and_easy_frames_never_start_the_ladder() -> None:
    campus = Campus()
    decoder = unbounded_decoder()
    for spec in scene_specs("none", 12, seed=3):
        assert decoder.decode(render(spec, None)) == []
    for spec in scene_specs("easy", 6, seed=3):
        text = campus.pass_text()
        assert decoder.decode(render(spec, qr_modules(text))) == [text]
    assert decoder.ladder is not None and decoder.ladder.runs == 0
    assert decoder.evidence_frames == 0


def test_structure_test_finds_a_tiny_code_but_not_an_edge_or_a_flat_wall() -> None:
    campus = Campus()
    tiny = next(iter(scene_specs("tiny", 1, seed=11)))
    regions = structure_regions(render(tiny, qr_modules(campus.pass_text())))
    assert regions and all(40 <= r.side_px <= 400 for r in regions)
    wall = np.full((720, 1280), 120, np.uint8)
    wall[:, 640:] = 30  # a door frame edge
    wall[200:500, 300:900] = 200  # a bright sign, one big rectangle
    assert structure_regions(wall) == []


def finder_like_only(frame: np.ndarray) -> bool:
    """zxing-cpp located only Micro QR / rMQR "symbols" in ``frame`` and the structure test
    found nothing: the ladder has only the region around those symbols to go on."""
    found = zxingcpp.read_barcodes(frame, formats=ZX, try_invert=True, return_errors=True)
    return bool(found) and not structure_regions(frame) and all(
        not r.valid and str((r.extra or {}).get("Version", "")).startswith(("M", "R")) for r in found)


def test_a_dim_code_seen_only_as_a_finder_is_read_from_the_region_around_it() -> None:
    """On a dimmed screen zxing-cpp often takes one finder pattern of the pass for a Micro QR
    symbol and the code is too faint for the structure test: the region around that symbol is
    the only evidence, and the ladder reads the pass there."""
    campus = Campus(issuer=private_key_from_seed(bytes(32)))  # fixed key: fixed signatures
    decoder = unbounded_decoder()
    rescued = candidates = 0
    rng = random.Random(4)  # the same passes every run: which frames qualify depends on the bits
    for spec in scene_specs("dim", 30, seed=4):
        text = campus.pass_text(serial=rng.randbytes(8), subject=rng.randbytes(8))
        frame = render(spec, qr_modules(text))
        if raw_reads(frame, text) or not finder_like_only(frame):
            continue
        candidates += 1
        rescued += text in decoder.decode(frame)
    assert candidates >= 3 and rescued >= 1, (candidates, rescued)


def test_the_region_around_finders_covers_the_code_in_every_direction() -> None:
    shape = (720, 1280)
    region = region_around_finders([(600, 300, 660, 360), (610, 310, 650, 350)], shape)
    assert region is not None and region.source == "finder"
    assert (region.x0, region.y0, region.x1, region.y1) == (480, 180, 780, 480)  # 2 x 60 px each side
    edge = region_around_finders([(0, 0, 40, 30)], shape)
    assert edge is not None and (edge.x0, edge.y0, edge.x1, edge.y1) == (0, 0, 120, 110)
    assert region_around_finders([], shape) is None
    assert region_around_finders([(5, 5, 8, 9)], shape) is None  # a speck, not a finder


def test_local_normalisation_spreads_a_dim_code_and_a_glared_one_over_the_grey_range() -> None:
    rng = np.random.default_rng(1)
    modules = np.kron(rng.integers(0, 2, (20, 20)), np.ones((6, 6))).astype(np.float32)
    for dark, light in ((10.0, 30.0), (215.0, 250.0)):  # a dim screen; a veil of reflected light
        grey = np.asarray(np.clip(dark + (light - dark) * modules + rng.normal(0, 2, modules.shape), 0, 255),
                          np.uint8)
        out = local_normalise(grey, 6.0)
        assert out.shape == grey.shape and out.dtype == np.uint8
        lo, hi = np.percentile(out[modules == 1], 50), np.percentile(out[modules == 0], 50)
        assert lo - hi > 80, (dark, light, lo, hi)  # from 20-35 grey levels apart


def test_blur_direction_and_length_are_recovered_from_a_smeared_code() -> None:
    campus = Campus()
    for length_px, angle_deg in ((14.0, 30.0), (9.0, 100.0)):
        spec = next(iter(scene_specs("easy", 1, seed=5)))
        sharp = render(spec, qr_modules(campus.pass_text()))
        import cv2

        from campuspass.door_scenes import line_psf

        smeared = cv2.filter2D(sharp, -1, line_psf(length_px, angle_deg))
        region = structure_regions(smeared)[0]
        crop = smeared[region.y0:region.y1, region.x0:region.x1]
        direction, anisotropy = blur_direction(crop)
        assert anisotropy < 0.6
        assert min(abs(direction - angle_deg), 180 - abs(direction - angle_deg)) < 8
        assert abs(blur_length(crop, direction) - length_px) <= 2


class SteppingClock:
    """Advances ``step_s`` on each read the ladder makes (a fake decoder cost)."""

    def __init__(self, step_s: float) -> None:
        self.now_s = 0.0
        self.step_s = step_s
        self.reads = 0

    def __call__(self) -> float:
        return self.now_s

    def read(self, grey: np.ndarray, try_invert: bool) -> list[str]:
        self.now_s += self.step_s
        self.reads += 1
        return []


@pytest.mark.parametrize(("budget_s", "step_s"), [(0.05, 0.01), (0.025, 0.01), (0.012, 0.005), (0.004, 0.01)])
def test_the_budget_cuts_the_ladder_off_before_it_is_exceeded(budget_s: float, step_s: float) -> None:
    clock = SteppingClock(step_s)
    ladder = RetryLadder(clock.read, budget_s, clock=clock)
    grey = noise_frame(1, frame_px=(320, 240))
    region = CodeRegion(40, 40, 200, 200, "structure")
    ladder.run(grey, [region])  # the first try of a process has no cost to plan with
    for _ in range(3):  # from then on the ladder plans within the budget
        start, reads = clock.now_s, clock.reads
        outcome = ladder.run(grey, [region])
        assert outcome.texts == [] and outcome.cut_off
        assert outcome.spent_s <= budget_s + 1e-9
        assert clock.now_s - start <= budget_s + 1e-9
        assert clock.reads - reads == outcome.tries <= int(budget_s / step_s + 1e-9)
    assert ladder.cut_offs == 4


def test_a_zero_budget_turns_the_ladder_off_and_a_bad_budget_is_refused() -> None:
    assert ZxingDecoder(retry_budget_s=0).ladder is None
    with pytest.raises(DecoderError) as err:
        make_decoder("zxing", retry_budget_s=5.0)
    assert "5.0" in err.value.message


def foreign_texts() -> list[tuple[Path, str | None]]:
    folder = CORPUS / "qr-foreign"
    if not (folder / "images").is_dir():
        pytest.skip("corpus qr-foreign absent (expected in shared/corpus next to the repository)")
    out = []
    for image in sorted((folder / "images").iterdir()):
        expected = json.loads((folder / "expected" / f"{image.name}.json").read_text(encoding="utf-8"))
        out.append((image, expected.get("text")))
    return out


def test_foreign_codes_in_hard_frames_are_never_turned_into_pass_shaped_text() -> None:
    """Foreign codes as they are and re-rendered tiny, blurred, moiré-striped and dim: the ladder
    reads each as itself or not at all."""
    decoder = unbounded_decoder()
    for image, text in foreign_texts():
        for got in decoder.decode(read_image(image)):
            assert not pass_shaped(got)
            assert text is None or got == text
        if text is None or len(text) > 400:  # big certificates do not fit a door-sized rendering
            continue
        modules = qr_modules(text)
        for cls in ("tiny", "motion", "moire", "dim"):
            spec = next(iter(scene_specs(cls, 1, seed=len(text))))
            for got in decoder.decode(render(spec, modules)):
                assert got == text and not pass_shaped(got)
    assert decoder.ladder is not None and decoder.ladder.runs > 0  # the ladder did run on them


def test_noise_frames_read_nothing_pass_shaped_and_raise_nothing() -> None:
    """A few hundred of the bench's 10,000 noise frames (``bench/door_decoding.py`` runs them all)."""
    decoder = unbounded_decoder()
    for i in range(320):
        for got in decoder.decode(noise_frame(i, frame_px=(160, 120))):
            assert not pass_shaped(got)
    assert decoder.ladder is not None and decoder.ladder.runs > 0


async def test_the_node_accepts_a_pass_only_the_ladder_reads_and_denies_foreign_ones(
    config: NodeConfig, clock: FakeClock, campus: Campus,
) -> None:
    text = campus.pass_text()
    hard = None
    for spec in scene_specs("motion", 40, seed=9):
        frame = render(spec, qr_modules(text))
        if not raw_reads(frame, text) and text in unbounded_decoder().decode(frame):
            hard = frame
            break
    assert hard is not None
    store = await open_store(config)
    node = Node(config, store, decoder=unbounded_decoder(), pin_factory=MockFactory(), clock=clock)
    try:
        [decision] = await node.process_frame(hard)
        assert decision.record.verdict == "accept"
        for image, _text in foreign_texts():
            for d in await node.process_frame(read_image(image)):
                assert d.record.verdict == "deny"
    finally:
        node.outputs.close()
        await store.close()


def test_the_contrast_fixes_look_at_a_region_grown_by_a_quarter() -> None:
    """Glare washes out part of a code, and a structure region stops where the pattern does:
    the contrast rung reads the region grown by a quarter of its side; the other rungs read the
    region itself."""
    shapes: list[tuple[int, ...]] = []

    def read(grey: np.ndarray, try_invert: bool) -> list[str]:
        shapes.append(grey.shape)
        return []

    ladder = RetryLadder(read, 0.5, clock=FrozenClock())
    dim = np.asarray(np.random.default_rng(3).integers(10, 30, (720, 1280)), np.uint8)  # low contrast
    outcome = ladder.run(dim, [CodeRegion(400, 200, 600, 400, "structure")])
    assert outcome.texts == [] and outcome.tries == len(shapes) > 4
    contrast_tries = 4  # local normalisation, local mean threshold, stretch, CLAHE: first here
    assert shapes[:contrast_tries] == [(300, 300)] * contrast_tries  # 200 px + 2 x 50 px
    # The other rungs: the region itself, halved (smooth) or enlarged 2x (upscale).
    assert set(shapes[contrast_tries:]) <= {(200, 200), (100, 100), (400, 400)}
