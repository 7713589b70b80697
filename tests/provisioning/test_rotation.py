"""Issuer key rotation on a real data directory and a fake clock, checked with the shared door decision."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from datetime import timedelta

import pytest

from campuspass.cli import main
from provisioning.rotation import (
    RETIRE_MARGIN_S,
    RotationError,
    max_pass_lifetime_s,
    pending_path,
    plan_rotation,
    rotate_issuer,
    start_rotation,
)
from server.config import PassConfig, load_server_config
from server.datadir import DataDir
from shared.clock import FakeClock, from_unix, to_unix
from shared.decision import Reason
from shared.pass_format import decode_pass

from .helpers import at_door, issue, node_view

HOUR = 3600


@pytest.mark.parametrize(
    ("deadline", "visitor_hours", "expected_h"),
    [
        ("12:00", 72, 72),  # the default: visitor passes are the longest
        ("12:00", 12, 36),  # 00:00 today until 12:00 tomorrow
        ("23:30", 24, 47.5),
        ("00:00", 1, 24),
    ],
)
def test_longest_pass_lifetime(deadline: str, visitor_hours: int, expected_h: float) -> None:
    passes = PassConfig(checkin_deadline=deadline, visitor_max_hours=visitor_hours)
    assert max_pass_lifetime_s(passes) == expected_h * HOUR


async def test_rotation_keeps_old_passes_valid_and_switches_signing_after_overlap(dd: DataDir, clock: FakeClock) -> None:
    config = load_server_config(dd.config_path)
    unsynced = node_view(dd)  # a door node that never syncs after this point
    old_student = await issue(dd, clock.now())
    assert decode_pass(old_student).fields.key_id == 1

    result = rotate_issuer(dd, clock.now())
    overlap_s = config.keys.rotation_overlap_hours * HOUR
    assert (result.key_id, result.bundle_version) == (2, 2)
    assert result.signing_from_s == to_unix(clock.now()) + overlap_s

    synced = node_view(dd)
    assert synced.version == 2 and [c.key_id for c in synced.issuers] == [1, 2]
    old_cert = {c.key_id: c for c in synced.issuers}[1]
    # The old certificate covers the last pass key 1 can sign, plus the clock margin.
    assert old_cert.valid_until_s == result.signing_from_s + max_pass_lifetime_s(config.passes) + RETIRE_MARGIN_S
    assert old_cert.valid_until_s >= result.signing_from_s + 36 * HOUR

    for bundle in (synced, unsynced):
        assert at_door(old_student, bundle, clock.now()).reason is Reason.ACCEPTED

    # During the overlap the server still signs with key 1; both nodes accept it.
    clock.advance(overlap_s - 1)
    last_old = await issue(dd, clock.now(), visitor_hours=config.passes.visitor_max_hours)
    assert decode_pass(last_old).fields.key_id == 1
    for bundle in (synced, unsynced):
        assert at_door(last_old, bundle, clock.now()).reason is Reason.ACCEPTED

    # From signing_from on, new passes carry key 2.
    clock.advance(1)
    new_pass = await issue(dd, clock.now())
    assert decode_pass(new_pass).fields.key_id == 2
    assert at_door(new_pass, synced, clock.now()).reason is Reason.ACCEPTED
    assert at_door(new_pass, unsynced, clock.now()).reason is Reason.UNKNOWN_KEY
    assert at_door(last_old, unsynced, clock.now()).reason is Reason.ACCEPTED

    # The last key-1 pass stays valid on a synced node until its own expiry.
    last_fields = decode_pass(last_old).fields
    clock.set_wall(from_unix(last_fields.valid_until_s - 1))
    assert at_door(last_old, synced, clock.now()).reason is Reason.ACCEPTED
    clock.set_wall(from_unix(last_fields.valid_until_s))
    assert at_door(last_old, synced, clock.now()).reason is Reason.EXPIRED


async def test_expired_certificates_leave_the_next_bundle_with_their_keys(dd: DataDir, clock: FakeClock) -> None:
    first = rotate_issuer(dd, clock.now(), overlap_s=0)
    assert first.retired[1] > to_unix(clock.now())
    clock.set_wall(from_unix(first.retired[1]))
    second = rotate_issuer(dd, clock.now(), overlap_s=2 * HOUR)
    assert second.dropped == (1,)
    bundle = node_view(dd)
    assert [c.key_id for c in bundle.issuers] == [2, 3]
    assert not dd.issuer_key_path(1).exists()
    assert set(dd.signing_schedule()) == {2, 3}
    assert dd.current_signer(clock.now()).key_id == 2


def test_plan_retires_only_keys_whose_signing_ends_earlier(dd: DataDir) -> None:
    bundle = dd.trust_bundle()
    now = 1_780_000_000
    # Key 1 signs forever so far: the new key ends it and it is retired.
    start, retire, drop = plan_rotation(bundle, {1: now - 10}, 2, now, 100, 50)
    assert (start, retire, drop) == (now + 100, {1: now + 100 + 50 + RETIRE_MARGIN_S}, ())
    # A later start for key 3 than key 2's does not move key 1's end again.
    _start, retire, _drop = plan_rotation(bundle, {1: now - 10, 2: now + 10}, 3, now, 100, 50)
    assert retire == {}


def test_second_rotation_while_one_is_pending_is_refused(dd: DataDir, clock: FakeClock) -> None:
    start_rotation(dd, clock.now())
    with pytest.raises(RotationError, match="already pending"):
        start_rotation(dd, clock.now())
    assert stat.S_IMODE(pending_path(dd).stat().st_mode) == 0o600


def test_new_issuer_key_file_is_owner_only_and_matches_its_certificate(dd: DataDir, clock: FakeClock) -> None:
    rotate_issuer(dd, clock.now(), overlap_s=0)
    assert stat.S_IMODE(dd.issuer_key_path(2).stat().st_mode) == 0o600
    assert dd.current_signer(clock.now()).key_id == 2  # checks the key against its certificate


def test_cli_uses_the_configured_overlap_and_the_flag(live_dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    dd = live_dd
    dd.config_path.write_text(
        dd.config_path.read_text().replace("rotation_overlap_hours = 48", "rotation_overlap_hours = 6")
    )
    assert main(["provision", "rotate-issuer", "--data", str(dd.root)]) == 0
    out = capsys.readouterr().out
    assert "trust bundle v2 with issuer key 2" in out and "key 1 stays verifiable until" in out
    schedule = json.loads(dd.signing_path.read_text())["signing_from"]
    lead_2 = schedule["2"] - node_view(dd).issued_at_s
    assert lead_2 == 6 * HOUR

    assert main(["provision", "rotate-issuer", "--data", str(dd.root), "--overlap-hours", "0.5"]) == 0
    schedule = json.loads(dd.signing_path.read_text())["signing_from"]
    assert schedule["3"] - node_view(dd).issued_at_s == 30 * 60


def test_short_issuer_validity_is_refused_before_any_key_is_made(dd: DataDir, clock: FakeClock) -> None:
    config = load_server_config(dd.config_path)
    short = replace(config, keys=replace(config.keys, issuer_valid_days=2))
    with pytest.raises(RotationError, match="issuer_valid_days"):
        start_rotation(dd, clock.now(), config=short)
    assert not dd.issuer_key_path(2).exists() and not pending_path(dd).exists()


async def test_student_pass_signed_just_before_the_switch_verifies_until_it_expires(
    dd: DataDir, clock: FakeClock
) -> None:
    """With short visitor passes the student pass (36 h) is the longest; its key outlives it."""
    dd.config_path.write_text(dd.config_path.read_text().replace("visitor_max_hours = 72", "visitor_max_hours = 8"))
    assert max_pass_lifetime_s(load_server_config(dd.config_path).passes) == 36 * HOUR
    # Start 24 h from 00:00:30 local: the switch is at 00:00:30 local the next day.
    result = rotate_issuer(dd, clock.now(), overlap_s=24 * HOUR)
    clock.set_wall(from_unix(result.signing_from_s - 1))
    student = await issue(dd, clock.now())
    fields = decode_pass(student).fields
    assert fields.key_id == 1
    assert fields.valid_until_s - to_unix(clock.now()) > 35 * HOUR
    cert_1 = {c.key_id: c for c in node_view(dd).issuers}[1]
    assert fields.valid_until_s < cert_1.valid_until_s
    clock.set_wall(from_unix(fields.valid_until_s) - timedelta(seconds=1))
    assert at_door(student, node_view(dd), clock.now()).reason is Reason.ACCEPTED


async def test_emergency_rotation_drops_every_older_key_at_once(dd: DataDir, clock: FakeClock) -> None:
    leaked = await issue(dd, clock.now())
    with pytest.raises(RotationError, match="expected 0"):
        rotate_issuer(dd, clock.now(), overlap_s=HOUR, drop_old=True)
    assert not pending_path(dd).exists()

    result = rotate_issuer(dd, clock.now(), drop_old=True)
    assert (result.key_id, result.dropped, result.retired) == (2, (1,), {})
    assert result.signing_from_s == to_unix(clock.now())
    synced = node_view(dd)
    assert [c.key_id for c in synced.issuers] == [2]
    assert not dd.issuer_key_path(1).exists()
    assert at_door(leaked, synced, clock.now()).reason is Reason.UNKNOWN_KEY
    fresh = await issue(dd, clock.now())
    assert decode_pass(fresh).fields.key_id == 2
    assert at_door(fresh, synced, clock.now()).reason is Reason.ACCEPTED
