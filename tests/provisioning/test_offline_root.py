"""The offline root: export the root key, rotate through a request/response round trip."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from campuspass.cli import main
from provisioning.offline_root import export_root
from provisioning.rotation import (
    RotationError,
    RotationRequest,
    RotationResponse,
    install_response,
    pending_path,
    rotate_issuer,
    sign_request,
    start_rotation,
)
from server.datadir import DataDir, DataDirError
from shared.clock import FakeClock, from_unix, to_unix
from shared.decision import Reason
from shared.errors import BundleSignatureError
from shared.keys import generate_key, load_private_key, public_key_bytes, save_private_key
from shared.pass_format import decode_pass
from shared.trust import issue_certificate, make_bundle

from .helpers import at_door, issue, node_view

HOUR = 3600


def test_export_root_moves_the_key_and_checks_the_copy(dd: DataDir, tmp_path: Path) -> None:
    original = dd.root_key_path.read_bytes()
    usb = tmp_path / "usb"
    usb.mkdir()
    result = export_root(dd, usb / "root.key")
    assert not dd.root_key_path.exists()
    assert (usb / "root.key").read_bytes() == original
    assert stat.S_IMODE((usb / "root.key").stat().st_mode) == 0o600
    assert public_key_bytes(load_private_key(usb / "root.key")) == dd.root_public() == result.root_public

    with pytest.raises(DataDirError) as err:
        export_root(dd, usb / "again.key")
    assert err.value.code == "root_offline"


def test_export_root_refuses_a_target_inside_the_data_dir_or_an_existing_file(dd: DataDir, tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="inside the data directory"):
        export_root(dd, dd.root / "root-copy.key")
    existing = tmp_path / "taken.key"
    existing.write_text("something else")
    with pytest.raises(DataDirError, match="exists"):
        export_root(dd, existing)
    assert dd.root_key_path.exists() and existing.read_text() == "something else"


def test_online_rotation_without_the_root_changes_nothing(dd: DataDir, clock: FakeClock, tmp_path: Path) -> None:
    export_root(dd, tmp_path / "root.key")
    before = dd.bundle_path.read_bytes()
    with pytest.raises(DataDirError) as err:
        rotate_issuer(dd, clock.now())
    assert err.value.code == "root_offline" and "--offline-request" in err.value.message
    assert dd.bundle_path.read_bytes() == before
    assert not dd.issuer_key_path(2).exists() and not pending_path(dd).exists()


async def test_offline_round_trip_through_the_command_line(
    live_dd: DataDir, live_clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dd, clock = live_dd, live_clock
    old_pass = await issue(dd, clock.now())
    unsynced = node_view(dd)
    usb = tmp_path / "usb"
    usb.mkdir()
    assert main(["provision", "export-root", "--data", str(dd.root), "--out", str(usb / "root.key")]) == 0

    # Server: request. The new private key stays here; the request holds only public data.
    assert main(["provision", "rotate-issuer", "--data", str(dd.root), "--offline-request",
                 str(usb / "request.json")]) == 0
    request = json.loads((usb / "request.json").read_text())
    assert request["key_id"] == 2 and dd.issuer_key_path(2).exists()
    assert "PRIVATE" not in (usb / "request.json").read_text()
    assert node_view(dd).version == 1  # nothing published yet
    shutil.copy(dd.bundle_path, usb / "bundle.json")

    # Offline machine: sign.
    assert main(["provision", "sign-request", "--root-key", str(usb / "root.key"), str(usb / "request.json"),
                 "--bundle", str(usb / "bundle.json"), "--out", str(usb / "response.json")]) == 0
    # Server: install (the command line uses the real clock; the request was made with it too).
    assert main(["provision", "install-response", "--data", str(dd.root), str(usb / "response.json")]) == 0
    out = capsys.readouterr().out
    assert "published trust bundle v2 with issuer key 2" in out

    synced = node_view(dd)
    assert synced.version == 2 and [c.key_id for c in synced.issuers] == [1, 2]
    assert not pending_path(dd).exists()
    now = clock.now()
    assert at_door(old_pass, synced, now).reason is Reason.ACCEPTED
    assert at_door(old_pass, unsynced, now).reason is Reason.ACCEPTED
    signing_from = dd.signing_schedule()[2]
    new_pass = await issue(dd, from_unix(signing_from))
    assert decode_pass(new_pass).fields.key_id == 2
    assert at_door(new_pass, synced, from_unix(signing_from)).reason is Reason.ACCEPTED


def test_sign_request_refuses_another_root_and_a_stale_bundle(dd: DataDir, clock: FakeClock) -> None:
    root = dd.root_private()
    request = start_rotation(dd, clock.now())
    with pytest.raises(RotationError, match="another root"):
        sign_request(generate_key(), request, dd.trust_bundle().to_json())

    # A bundle version the request was not made on (another rotation happened meanwhile).
    later = RotationRequest.from_json({**request.to_json(), "based_on_version": 7})
    with pytest.raises(RotationError, match="make a new request"):
        sign_request(root, later, dd.trust_bundle().to_json())

    # A forged bundle (another root) handed to the offline machine.
    forged = dd.trust_bundle().to_json()
    forged["version"] = 99
    with pytest.raises(BundleSignatureError):
        sign_request(root, request, forged)


def test_install_refuses_a_bundle_not_signed_by_the_pinned_root(dd: DataDir, clock: FakeClock) -> None:
    request = start_rotation(dd, clock.now())
    impostor = generate_key()
    # A correct-looking response signed by an impostor root.
    cert = issue_certificate(impostor, 2, request.public_key, request.valid_from_s, request.valid_until_s)
    bundle = make_bundle(impostor, 2, request.created_at_s, [cert])
    response = RotationResponse(2, cert.to_json(), bundle.to_json())
    before = dd.bundle_path.read_bytes()
    with pytest.raises(BundleSignatureError):
        install_response(dd, response, clock.now())
    assert dd.bundle_path.read_bytes() == before and pending_path(dd).exists()


def test_install_after_the_signing_time_is_refused(dd: DataDir, clock: FakeClock) -> None:
    request = start_rotation(dd, clock.now(), overlap_s=2 * HOUR)
    response = sign_request(dd.root_private(), request, dd.trust_bundle().to_json())
    clock.set_wall(from_unix(request.signing_from_s + 1))
    with pytest.raises(RotationError, match="too late"):
        install_response(dd, response, clock.now())
    assert node_view(dd).version == 1


def test_install_refuses_a_response_for_another_key(dd: DataDir, clock: FakeClock) -> None:
    request = start_rotation(dd, clock.now())
    other = RotationRequest.from_json({**request.to_json(), "public_key": request.to_json()["root_key"]})
    response = sign_request(dd.root_private(), other, dd.trust_bundle().to_json())
    with pytest.raises(RotationError, match="does not certify the pending issuer key 2"):
        install_response(dd, response, clock.now())
    good = sign_request(dd.root_private(), request, dd.trust_bundle().to_json())
    result = install_response(dd, good, clock.now())
    assert result.bundle_version == 2
    assert result.signing_from_s == to_unix(clock.now()) + 48 * HOUR


def test_bad_request_file_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_private_key(generate_key(), tmp_path / "root.key")
    (tmp_path / "request.json").write_text('{"type": "something else"}')
    (tmp_path / "bundle.json").write_text("{}")
    code = main(["provision", "sign-request", "--root-key", str(tmp_path / "root.key"),
                 str(tmp_path / "request.json"), "--bundle", str(tmp_path / "bundle.json"),
                 "--out", str(tmp_path / "response.json")])
    err = capsys.readouterr().err
    assert code == 1 and "[rotation]" in err and "Traceback" not in err
    assert not (tmp_path / "response.json").exists()


def test_offline_emergency_rotation_starts_signing_when_installed(dd: DataDir, clock: FakeClock,
                                                                  tmp_path: Path) -> None:
    root = dd.root_private()
    export_root(dd, tmp_path / "root.key")
    request = start_rotation(dd, clock.now(), drop_old=True)
    response = sign_request(root, request, dd.trust_bundle().to_json())
    clock.advance(3 * HOUR)  # the trip to the safe and back
    result = install_response(dd, response, clock.now())
    assert result.signing_from_s == to_unix(clock.now()) and result.dropped == (1,)
    assert dd.current_signer(clock.now()).key_id == 2
    assert [c.key_id for c in node_view(dd).issuers] == [2]
