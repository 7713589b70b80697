"""``campuspass init``, ``pass issue`` and ``pass check`` end to end on a real data directory."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from campuspass.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = tmp_path / "data"
    code, out, _ = run(capsys, "init", "--data", str(d))
    assert code == 0 and "trust bundle v1" in out
    code, _, _ = run(capsys, "server", "building", "add", "--data", str(d), "LIB", "Main Library", "--group", "teaching")
    assert code == 0
    code, _, _ = run(capsys, "server", "building", "add", "--data", str(d), "D7", "Dormitory 7", "--group", "dorm")
    assert code == 0
    return d


def test_init_makes_owner_only_keys_and_refuses_to_overwrite(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for key in (data / "keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700
    before = (data / "keys" / "root.key").read_bytes()
    code, _, err = run(capsys, "init", "--data", str(data))
    assert code == 1 and "refusing to overwrite" in err
    assert (data / "keys" / "root.key").read_bytes() == before


def test_issue_then_check_accepts_and_tampered_is_denied(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pass", "issue", "--data", str(data), "--visitor", "Li Lei", "--hours", "4",
                         "--scope", "teaching")
    assert code == 0, err
    text = out.strip()
    assert text.startswith("CP1:") and "Li Lei" not in text

    code, out, _ = run(capsys, "pass", "check", "--data", str(data), "--building", "LIB", text)
    result = json.loads(out)
    assert (code, result["verdict"], result["reason"]) == (0, "accept", "accepted")
    assert result["pass"]["visitor"] is True

    code, out, _ = run(capsys, "pass", "check", "--data", str(data), "--building", "D7", text)
    assert (code, json.loads(out)["reason"]) == (1, "out_of_scope")

    tampered = text[:25] + ("X" if text[25] != "X" else "Y") + text[26:]
    code, out, err = run(capsys, "pass", "check", "--data", str(data), "--building", "LIB", tampered)
    result = json.loads(out)
    assert (code, result["verdict"], result["reason"], result["pass"]) == (1, "deny", "bad_signature", None)
    assert "Traceback" not in err


def test_check_image_decodes_a_photographed_pass(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "pass.png"
    code, _, _ = run(capsys, "pass", "issue", "--data", str(data), "--visitor", "Guest", "--hours", "1",
                     "--png", str(png))
    assert code == 0
    img = cv2.imread(str(png))
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[w * 0.08, h * 0.05], [w * 0.95, 0], [w, h], [0, h * 0.92]])
    warped = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=(255, 255, 255))
    photo = cv2.GaussianBlur(warped, (3, 3), 0)
    photo_path = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo_path), photo, [cv2.IMWRITE_JPEG_QUALITY, 70])
    code, out, _ = run(capsys, "pass", "check", "--data", str(data), "--image", str(photo_path))
    assert (code, json.loads(out)["reason"]) == (0, "accepted")


def test_check_foreign_and_unreadable_input_is_a_clean_deny(data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pass", "check", "--data", str(data), "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL")
    assert (code, json.loads(out)["reason"]) == (1, "not_campus_pass")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    code, out, err = run(capsys, "pass", "check", "--data", str(data), "--image", str(junk))
    assert code == 1 and "not a readable image" in err and "Traceback" not in err
    code, _, err = run(capsys, "pass", "check", "--data", str(data), "--building", "NOPE", "CP1:AAA")
    assert code == 1 and "unknown_building" in err


def test_issue_refuses_bad_hours_and_unknown_group(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pass", "issue", "--data", str(data), "--visitor", "X", "--hours", "1000")
    assert code == 1 and "bad_hours" in err
    code, _, err = run(capsys, "pass", "issue", "--data", str(data), "--visitor", "X", "--hours", "1",
                       "--scope", "nowhere")
    assert code == 1 and "unknown_group" in err


def test_commands_on_a_missing_data_dir_explain_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pass", "check", "--data", str(tmp_path / "none"), "CP1:AAA")
    assert code == 1 and "campuspass init" in err


def test_console_help_for_every_group() -> None:
    for group in ["init", "server", "edge", "provision", "pass", "demo"]:
        proc = subprocess.run([sys.executable, "-m", "campuspass", group, "--help"], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, (group, proc.stderr)
        assert "usage: campuspass" in proc.stdout
