"""The localhost status endpoint, ``edge check-image``, ``edge run`` on a replay, and the decoder
path over the real-photo corpus."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import pytest
from aiohttp.test_utils import TestClient
from gpiozero.pins.mock import MockFactory

from campuspass.cli import main
from edge.config import NodeConfig, dump_node_config
from edge.node import Node, open_store
from edge.status import make_status_app
from qrdecode.decoders import ZxingDecoder, read_image
from shared.clock import FakeClock
from shared.pass_format import PassStatus

from .helpers import CORPUS, Campus, make_bundle_dir, pass_image, photographed


async def test_status_endpoint(config: NodeConfig, campus: Campus, clock: FakeClock, aiohttp_client) -> None:
    store = await open_store(config)
    node = Node(config, store, pin_factory=MockFactory(), clock=clock)
    try:
        client: TestClient = await aiohttp_client(make_status_app(node))
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["ok"] is True
        await node.process_frame(pass_image(campus.pass_text()))
        body = await (await client.get("/status")).json()
        assert body["node"] == {"id": "d7-east", "building": "D7", "direction": "entry"}
        assert body["last_decision"]["verdict"] == "accept"
        assert body["unsynced"] == 1 and body["queue_depth"] == 0
        assert body["clock"]["trusted"] is True
        assert body["trust"] == {"age_s": 300, "stale": False, "fail_mode": "secure", "bundle_version": 1,
                                 "revocation_version": 1, "policy_version": 1}
        assert body["outputs"]["relay"] == "unlocked" and body["outputs"]["showing"] == "accept"
        assert body["decoder"] == "zxing" and body["camera"]["state"] == "starting"
        missing = await client.get("/nope")
        assert missing.status == 404
        assert (await missing.json())["error"]["code"] == "not_found"
        node.supervisor._set("down", "unplugged")
        resp = await client.get("/healthz")
        assert resp.status == 503 and (await resp.json())["camera"] == "down"
        assert node.outputs.state()["relay"] == "locked"  # an outage locks the door at once
    finally:
        node.outputs.close()
        await store.close()


def now_campus(tmp_path: Path) -> tuple[Campus, NodeConfig]:
    """The CLI reads the system clock: a campus whose keys and documents are signed now."""
    campus = Campus(t0_s=int(time.time()))
    return campus, make_bundle_dir(tmp_path / "node-now", campus)


def test_check_image_prints_hashes_never_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campus, config = now_campus(tmp_path)
    now = campus.t0_s
    good = campus.pass_text(valid_from_s=now - 60, valid_until_s=now + 3600)
    black = campus.pass_text(status=PassStatus.BLACK, valid_from_s=now - 60, valid_until_s=now + 3600)
    a, b = tmp_path / "good.png", tmp_path / "black.jpg"
    cv2.imwrite(str(a), photographed(pass_image(good)))
    cv2.imwrite(str(b), pass_image(black))
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), photographed(pass_image(good))[:40, :40])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    code = main(["edge", "check-image", "--config", str(config.base_dir / "node.toml"),
                 str(a), str(b), str(empty), str(broken)])
    out = capsys.readouterr().out
    assert good not in out and black not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # one unreadable image
    assert [line["path"] for line in lines] == [str(a), str(b), str(empty), str(broken)]
    assert lines[0]["codes"] == [{
        "sha256": hashlib.sha256(good.encode()).hexdigest(), "verdict": "accept", "reason": "accepted",
    }]
    assert lines[1]["codes"][0]["reason"] == "not_cleared"
    assert lines[2]["codes"] == [] and lines[2]["ms"] >= 0
    assert lines[3]["error"]["code"] == "bad_image"


def test_edge_run_replays_files_and_exits(tmp_path: Path) -> None:
    campus, config = now_campus(tmp_path)
    now = campus.t0_s
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(3):
        text = campus.pass_text(valid_from_s=now - 60, valid_until_s=now + 3600)
        cv2.imwrite(str(shots / f"{i}.png"), photographed(pass_image(text), seed=i))
    cfg = replace(config, camera=replace(config.camera, source=f"files:{shots}/*.png"))
    path = config.base_dir / "node.toml"
    path.write_text(dump_node_config(cfg), encoding="utf-8")
    assert main(["edge", "run", "--config", str(path)]) == 0

    async def verdicts() -> list[str]:
        store = await open_store(cfg)
        try:
            return [r.verdict for r in await store.records()]
        finally:
            await store.close()

    assert asyncio.run(verdicts()) == ["accept"] * 3  # every replayed frame decided and logged


def real_corpus() -> Path:
    folder = CORPUS / "qr-real"
    if not (folder / "images").is_dir():
        pytest.skip("corpus qr-real absent (expected in shared/corpus next to the repository)")
    return folder


def test_node_decoder_reads_the_real_corpus_at_least_as_well_as_raw_zxing() -> None:
    import zxingcpp

    folder = real_corpus()
    node_decoder = ZxingDecoder()
    raw_ok = node_ok = 0
    for image in sorted((folder / "images").iterdir()):
        expected = sorted(json.loads((folder / "expected" / f"{image.name}.json").read_text(encoding="utf-8")))
        frame = read_image(image)
        raw = sorted(r.text for r in zxingcpp.read_barcodes(frame, formats=zxingcpp.BarcodeFormat.QRCode))
        raw_ok += raw == expected
        node_ok += sorted(node_decoder.decode(frame)) == expected
    assert node_ok >= raw_ok
    assert node_ok >= 150
