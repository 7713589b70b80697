"""Pieces of the door node tests: a campus (keys, passes, documents), node bundles, photo effects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.bundle import write_bundle
from edge.config import NodeConfig, node_config_from_mapping
from server.qr import qr_png
from shared.keys import Ed25519PrivateKey, generate_key, public_key_bytes
from shared.pass_format import PassFields, PassStatus, sign_pass
from shared.policy import make_policy_document
from shared.revocation import RevocationEntry, make_delta
from shared.trust import TrustBundle, issue_certificate, make_bundle

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"

# 2026-11-29 16:00 Asia/Shanghai, inside the default opening hours.
T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
T0_S = int(T0.timestamp())
DORM_GROUP = 1
LIB_GROUP = 2


@dataclass
class Campus:
    """A root key, issuer key 1, a trust bundle, revocations and a policy, all at ``t0_s``
    (default T0; tests that go through the system clock pass the current time)."""

    t0_s: int = T0_S
    root: Ed25519PrivateKey = field(default_factory=generate_key)
    issuer: Ed25519PrivateKey = field(default_factory=generate_key)
    revocation_version: int = 1
    revocations: list[RevocationEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        t0 = self.t0_s
        cert = issue_certificate(self.root, 1, self.issuer.public_key(), t0 - 86400, t0 + 400 * 86400)
        self.bundle: TrustBundle = make_bundle(self.root, 1, t0 - 600, [cert])

    @property
    def root_public(self) -> bytes:
        return public_key_bytes(self.root)

    def pass_text(self, *, status: PassStatus = PassStatus.GREEN, scope: tuple[int, ...] = (DORM_GROUP,),
                  valid_from_s: int | None = None, valid_until_s: int | None = None,
                  serial: bytes | None = None, subject: bytes | None = None) -> str:
        valid_from_s = self.t0_s - 3600 if valid_from_s is None else valid_from_s
        valid_until_s = self.t0_s + 86400 if valid_until_s is None else valid_until_s
        fields = PassFields(
            key_id=1, serial=serial or os.urandom(8), subject=subject or os.urandom(8), status=status, scope=scope,
            valid_from_s=valid_from_s, valid_until_s=valid_until_s,
        )
        return sign_pass(fields, self.issuer)

    def revocation_doc(self, since: int = 0, issued_at_s: int | None = None) -> dict[str, Any]:
        issued_at_s = self.t0_s - 300 if issued_at_s is None else issued_at_s
        entries = [e for e in self.revocations if e.version > since]
        return make_delta(self.issuer, 1, since, self.revocation_version, issued_at_s, entries)

    def revoke_serial(self, serial: bytes, expires_s: int | None = None) -> dict[str, Any]:
        """Add a serial revocation; returns the delta since the previous version."""
        expires_s = self.t0_s + 86400 if expires_s is None else expires_s
        since = self.revocation_version
        self.revocation_version += 1
        self.revocations.append(RevocationEntry(self.revocation_version, expires_s, serial=serial))
        return self.revocation_doc(since=since, issued_at_s=self.t0_s - 200)

    def policy_doc(self, version: int = 1, hours: list[str] | None = None) -> dict[str, Any]:
        return make_policy_document(
            self.issuer, 1, version, self.t0_s - 500,
            groups=[
                {"id": DORM_GROUP, "name": "dorms", "allowed_statuses": ["green"], "hours": hours or []},
                {"id": LIB_GROUP, "name": "library", "allowed_statuses": ["green"], "hours": []},
            ],
            buildings=[{"code": "D7", "name": "Dormitory 7", "group": DORM_GROUP},
                       {"code": "LIB", "name": "Library", "group": LIB_GROUP}],
        )


def node_config(folder: Path, **tables: dict[str, Any]) -> NodeConfig:
    """A node config in ``folder`` with a mock pin factory and a folder camera."""
    data: dict[str, Any] = {
        "node": {"id": "d7-east", "name": "D7 east", "building": "D7", "data_dir": "data"},
        "camera": {"source": "dir:incoming", "stall_s": 0.5, "reopen_max_s": 0.2},
        "gpio": {"pin_factory": "mock", "relay_pulse_s": 3.0},
        "status": {"port": 0},
    }
    for name, table in tables.items():
        data[name] = {**data.get(name, {}), **table}
    return node_config_from_mapping(data, folder)


def make_bundle_dir(folder: Path, campus: Campus, **tables: dict[str, Any]) -> NodeConfig:
    """Write a full node bundle into ``folder``; returns its config (loaded back from node.toml)."""
    from edge.config import load_node_config

    cfg = node_config(folder, **tables)
    path = write_bundle(folder, cfg, campus.root_public, generate_key(), campus.bundle,
                        campus.revocation_doc(), campus.policy_doc())
    return load_node_config(path)




# ---- photographed-like renderings -------------------------------------------------------------

def pass_image(text: str, scale_px: int = 6) -> np.ndarray:
    """The pass as the server renders it (server.qr.qr_png), decoded to (H, W, 3) BGR."""
    data = np.frombuffer(qr_png(text, scale_px=scale_px), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert img is not None
    return img


def on_background(img: np.ndarray, size: tuple[int, int] = (640, 480), grey: int = 110) -> np.ndarray:
    """``img`` pasted in the middle of a plain (W, H) scene."""
    w, h = size
    scene = np.full((h, w, 3), grey, np.uint8)
    ih, iw = img.shape[:2]
    y, x = (h - ih) // 2, (w - iw) // 2
    scene[y:y + ih, x:x + iw] = img
    return scene


def photographed(img: np.ndarray, seed: int = 1, invert: bool = False) -> np.ndarray:
    """A phone screen seen by a door camera: white-on-black (dark mode) if asked, tilted
    (perspective warp), defocused (blur), with moiré and sensor noise. (H, W, 3) BGR 640x480."""
    rng = np.random.default_rng(seed)
    if invert:
        img = 255 - img
    scene = on_background(img, (640, 480), grey=40 if invert else 120)
    h, w = scene.shape[:2]
    ih, iw = img.shape[:2]
    x0, y0 = (w - iw) / 2, (h - ih) / 2
    src = np.float32([[x0, y0], [x0 + iw, y0], [x0 + iw, y0 + ih], [x0, y0 + ih]])
    d = 0.08 * iw
    dst = np.float32([[x0 + d, y0 + d * 0.5], [x0 + iw - d * 0.3, y0], [x0 + iw, y0 + ih - d * 0.4],
                      [x0 - d * 0.2, y0 + ih - d * 0.1]])
    warped = cv2.warpPerspective(scene, cv2.getPerspectiveTransform(src, dst), (w, h),
                                 borderMode=cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(warped, (5, 5), 1.2)
    yy, xx = np.mgrid[0:h, 0:w]
    moire = 1.0 + 0.10 * np.sin(2 * np.pi * (xx * 0.23 + yy * 0.19))
    out = blurred.astype(np.float32) * moire[..., None]
    out += rng.normal(0, 8, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def write_image(path: Path, frame: np.ndarray) -> Path:
    """Write ``frame`` atomically (temporary dot-file, then rename), as a camera folder expects."""
    tmp = path.with_name("." + path.name)
    ok, data = cv2.imencode(path.suffix or ".png", frame)
    assert ok
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, path)
    return path
