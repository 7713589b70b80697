"""End to end: server and door node as separate processes, the guide's story over HTTP.

The story itself is :class:`campuspass.walkthrough.Walkthrough` (the same code ``campuspass demo
--walkthrough`` runs): doors see passes as camera-like photos (perspective, blur, noise) written
into the node's watched folder. These tests then check what the story alone does not: the
node's GPIO pin states (gpiozero MockFactory, reported by its status endpoint), the node's own
SQLite log (verdicts, reasons, serials, an intact hash chain) and the server's scan records after
sync. Two negative tests show that the checks bite: a pass with one character changed is refused
(``bad_signature``) where the story expects the door to open, and with sync disabled the
revocation never reaches the door, so the story fails and the old pass still opens it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from campuspass.demo_photo import jpeg, photo_of, tampered_text
from campuspass.processes import campuspass_argv
from campuspass.walkthrough import StepFailed, Walkthrough
from server.qr import qr_png
from shared.pass_format import decode_pass
from shared.scanlog import GENESIS_HASH, ScanRecord, verify_chain

from .conftest import StartCampus

pytestmark = pytest.mark.e2e

COLUMNS = ("seq", "scan_id", "node_id", "at_ms", "mono_ms", "clock_trusted", "serial", "subject", "text_sha256",
           "verdict", "reason", "direction", "prev_hash", "hash")


def node_log(db_path: Path) -> tuple[list[ScanRecord], list[int]]:
    """The node's scan records (read-only connection) and their ``synced`` flags."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)}, synced FROM scans ORDER BY seq").fetchall()
    finally:
        conn.close()
    records = [ScanRecord(**{**dict(zip(COLUMNS, r[:-1], strict=True)), "clock_trusted": bool(r[5])}) for r in rows]
    return records, [int(r[-1]) for r in rows]


def test_story_from_checkin_to_a_green_light_and_a_revoked_pass(campus_factory: StartCampus) -> None:
    layout, running = campus_factory()
    lines: list[str] = []
    report = Walkthrough(layout, out=lines.append, revocation_timeout_s=20.0).run()
    assert sum(1 for x in lines if x.startswith("\n[")) == 14

    # GPIO (MockFactory pins as the node reports them): red and locked for the black pass,
    # green and the relay pulsed for the green one, red and locked for the revoked one.
    black, green, revoked = report.doors["black"], report.doors["green"], report.doors["revoked"]
    assert (black.verdict, black.reason, black.red_seen, black.relay_pulsed) == ("deny", "not_cleared", True, False)
    assert black.showing == "not_cleared"
    assert (green.verdict, green.reason, green.green_seen, green.relay_pulsed) == ("accept", "accepted", True, True)
    assert green.showing == "accept"
    assert (revoked.verdict, revoked.reason, revoked.red_seen, revoked.relay_pulsed) == ("deny", "revoked", True, False)
    assert revoked.revocation_version > green.revocation_version
    time.sleep(3.2)  # the 3 s relay pulse of the accept is long over: locked again
    status = httpx.get(layout.node("library").status_url, timeout=5).json()
    assert status["outputs"]["relay"] == "locked" and status["online"] is True

    # The node's own log: three records with the serials of the passes shown, chain intact, synced.
    records, synced = node_log(layout.node("library").db_path)
    black_serial = decode_pass(report.black_text).fields.serial.hex()
    green_serial = decode_pass(report.green_text).fields.serial.hex()
    assert [(r.verdict, r.reason, r.serial) for r in records] == [
        ("deny", "not_cleared", black_serial), ("accept", "accepted", green_serial), ("deny", "revoked", green_serial)]
    assert verify_chain([r.to_json() for r in records], GENESIS_HASH, 0) == []
    assert records[0].prev_hash == GENESIS_HASH
    assert synced == [1, 1, 1]

    # The server's records after sync: the same scans, attributed to the student.
    assert [(s["scan_id"], s["seq"], s["verdict"], s["reason"], s["serial"]) for s in report.server_scans] == [
        (r.scan_id, r.seq, r.verdict, r.reason, r.serial) for r in records]
    assert {s["person_number"] for s in report.server_scans} == {report.student}
    assert {s["node_id"] for s in report.server_scans} == {layout.node("library").node_id}
    assert sum(int(x["inserted"]) for x in report.sync_log) == 3

    # Prometheus scrapes of both processes count the story's three scans.
    node_id = layout.node("library").node_id
    node_metrics = scrape(layout.node("library").status_url.replace("/status", "/metrics"))
    assert {k: v for k, v in node_metrics.items() if k[0] == "campuspass_node_decisions_total"} == {
        ("campuspass_node_decisions_total", (("reason", "accepted"), ("verdict", "accept"))): 1.0,
        ("campuspass_node_decisions_total", (("reason", "not_cleared"), ("verdict", "deny"))): 1.0,
        ("campuspass_node_decisions_total", (("reason", "revoked"), ("verdict", "deny"))): 1.0}
    assert node_metrics[("campuspass_node_decode_seconds_count", ())] >= 3
    assert node_metrics[("campuspass_node_unsynced_scans", ())] == 0
    assert node_metrics[("campuspass_node_camera_state", (("state", "ok"),))] == 1
    server_metrics = scrape(f"{layout.url}/metrics")
    assert server_metrics[("campuspass_scans_ingested_total", (("node", node_id),))] == 3
    assert server_metrics[("campuspass_sync_requests_total", (("result", "ok"),))] >= 1
    recent = {k[1]: v for k, v in server_metrics.items() if k[0] == "campuspass_scans_recent"}
    assert recent == {(("reason", "accepted"), ("verdict", "accept")): 1.0,
                      (("reason", "not_cleared"), ("verdict", "deny")): 1.0,
                      (("reason", "revoked"), ("verdict", "deny")): 1.0}
    assert 0 <= server_metrics[("campuspass_node_last_seen_age_seconds",
                                (("building", "LIB"), ("node", node_id)))] < 60
    assert running.server.alive() and running.nodes["library"].alive()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of one Prometheus scrape."""
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def test_a_pass_with_one_character_changed_does_not_open_the_door(campus_factory: StartCampus) -> None:
    layout, _ = campus_factory()
    issued = subprocess.run(
        campuspass_argv("pass", "issue", "--data", layout.data_dir, "--visitor", "Li Lei", "--hours", "2",
                        "--scope", "teaching"),
        capture_output=True, text=True, timeout=60, check=True)
    genuine = issued.stdout.splitlines()[0]
    forged = tampered_text(genuine)
    assert sum(a != b for a, b in zip(genuine, forged, strict=True)) == 1
    wt = Walkthrough(layout, out=lambda _line: None)

    opened = wt.door_opens("the genuine pass opens the library", jpeg(photo_of(qr_png(genuine), seed=3)), ".jpg")
    assert opened.relay_pulsed
    time.sleep(1.3)  # past the node's 1 s repeat window for this serial

    # The story's "door opens" step, given the forged photo, fails: the door denies it.
    with pytest.raises(StepFailed) as failed:
        wt.door_opens("the forged pass opens the library", jpeg(photo_of(qr_png(forged), seed=5)), ".jpg")
    assert "deny bad_signature" in failed.value.seen
    records, _ = node_log(layout.node("library").db_path)
    assert [(r.verdict, r.reason) for r in records] == [("accept", "accepted"), ("deny", "bad_signature")]
    assert records[1].serial is None  # nothing of a pass that does not verify is trusted or logged
    assert verify_chain([r.to_json() for r in records], GENESIS_HASH, 0) == []


def test_without_sync_the_revocation_never_reaches_the_door(campus_factory: StartCampus) -> None:
    layout, _ = campus_factory(sync=False)
    wt = Walkthrough(layout, out=lambda _line: None, revocation_timeout_s=5.0)
    with pytest.raises(StepFailed) as failed:
        wt.run()
    assert failed.value.step == "the node syncs the revocation and the door refuses the old green pass"
    assert "the revocation never arrived" in failed.value.seen
    # Every earlier step held (decisions are offline), and the revoked pass still opens the door.
    assert [k for k in wt.report.doors] == ["black", "green"]
    still = wt.door("the old pass at a door that never synced", wt.report.green_photo, ".jpg")
    assert (still.verdict, still.reason, still.relay_pulsed) == ("accept", "accepted", True)
