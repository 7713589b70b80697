"""``campuspass edge ...``: run and check a door node."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path

from edge.bundle import check_bundle
from edge.config import load_node_config
from edge.logcheck import verify_log
from edge.node import open_store
from edge.runner import run_node
from edge.timekeeping import TrustedTime
from qrdecode.decoders import DecoderError, make_decoder, read_image
from shared.clock import SystemClock
from shared.decision import decide
from shared.errors import CampusPassError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``campuspass edge`` commands: ``run``, ``check-config``, ``check-image``,
    ``verify-log``."""
    run = sub.add_parser(
        "run",
        help="run the door node",
        description="Scan passes from the camera, decide offline, log every decision, drive the lights "
        "and the door relay. Stops on SIGTERM/SIGINT with the relay locked.",
    )
    run.add_argument("--config", type=Path, required=True, help="node.toml")
    run.set_defaults(handler=_run)

    check = sub.add_parser(
        "check-config",
        help="validate node.toml and the provisioning bundle",
        description="Check node.toml strictly (unknown keys and bad values are named) and verify the "
        "bundle files next to it (root key, trust bundle, revocations, policy, node key).",
    )
    check.add_argument("--config", type=Path, required=True, help="node.toml")
    check.set_defaults(handler=_check_config)

    image = sub.add_parser(
        "check-image",
        help="decode still images and decide as this door would",
        description="Run the node's decoder and decision on still images. Prints one JSON line per "
        "image: path, time taken, and per code the SHA-256 of its text, the verdict and the reason. "
        "Nothing is logged and no output pin is touched.",
    )
    image.add_argument("--config", type=Path, required=True, help="node.toml")
    image.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    image.set_defaults(handler=_check_image)

    verify = sub.add_parser(
        "verify-log",
        help="check the node database and its scan log's hash chain",
        description="Open the node database read-only, run SQLite's integrity check and verify the "
        "scan log's hash chain (hashes, links, no missing sequence number). Prints one line: records, "
        "first and last sequence number, chain epoch, gaps, altered records, integrity. Exit 1 on "
        "any break or damage.",
    )
    verify.add_argument("--config", type=Path, required=True, help="node.toml")
    verify.set_defaults(handler=_verify_log)


def _run(args: argparse.Namespace) -> int:
    config = load_node_config(args.config)
    return asyncio.run(run_node(config))


def _check_config(args: argparse.Namespace) -> int:
    config = load_node_config(args.config)
    print(f"{args.config}: config OK (node {config.node.id}, building {config.node.building}, "
          f"{config.node.direction}, camera {config.camera.source}, decoder {config.decoder.name}, "
          f"pins {config.gpio.pin_factory})")
    try:
        lines = check_bundle(config)
    except CampusPassError as exc:
        print(f"bundle: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    for line in lines:
        print(f"bundle: {line}")
    return 0


def check_images(config_path: Path, images: list[Path]) -> list[dict[str, object]]:
    """Decode and decide every image as the node at ``config_path`` would.

    Returns one JSON-ready object per image: ``{"path", "ms", "codes": [{"sha256", "verdict",
    "reason"}]}``, or ``{"path", "error": {"code", "message"}}`` for an unreadable image.
    The pass text is never included.
    """
    config = load_node_config(config_path)
    decoder = make_decoder(config.decoder.name, config.decoder.retry_budget_s)

    async def run() -> list[dict[str, object]]:
        store = await open_store(config)
        try:
            assert store.trust_bundle is not None and store.policies is not None
            policy = store.policies.for_building(config.node.building)
            trusted = TrustedTime(SystemClock(), store)
            out: list[dict[str, object]] = []
            for path in images:
                start = time.perf_counter()
                try:
                    frame = read_image(path)
                except DecoderError as exc:
                    out.append({"path": str(path), "error": {"code": exc.code, "message": exc.message}})
                    continue
                texts = decoder.decode(frame)
                when = trusted.now()
                stale = when.at.timestamp() - store.revocations_issued_at_s > config.trust.stale_after_s
                fresh = config.trust.fail_mode == "open" or not stale
                codes = []
                for text in texts:
                    verdict = decide(text, store.trust_bundle, store.revocations, policy, when.at,
                                     revocations_fresh=fresh)
                    codes.append({
                        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                        "verdict": "accept" if verdict.accepted else "deny",
                        "reason": verdict.reason.value,
                    })
                ms = (time.perf_counter() - start) * 1000
                out.append({"path": str(path), "ms": round(ms, 2), "clock_trusted": when.trusted,
                            "codes": codes})
            return out
        finally:
            await store.close()

    return asyncio.run(run())


def _check_image(args: argparse.Namespace) -> int:
    results = check_images(args.config, args.images)
    for line in results:
        print(json.dumps(line, ensure_ascii=True))
    return 1 if any("error" in r for r in results) else 0


def _verify_log(args: argparse.Namespace) -> int:
    report = verify_log(load_node_config(args.config).db_path)
    print(report.summary())
    return 0 if report.ok else 1
