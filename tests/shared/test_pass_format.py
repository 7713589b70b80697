"""The pass format: round trip, size limit, and every way text can fail to be a pass."""

from __future__ import annotations

import pytest

from server.qr import qr_version
from shared.base45 import ALPHABET, b45encode
from shared.errors import PassFormatError, SignatureError
from shared.pass_format import (
    PREFIX,
    PassStatus,
    decode_pass,
    record_bytes,
    verify_pass_signature,
)
from tests.shared.helpers import GREEN, ISSUER, ROOT, make_text


def test_round_trip_fields_and_signature() -> None:
    text = make_text()
    signed = decode_pass(text)
    assert signed.fields == GREEN
    verify_pass_signature(signed, ISSUER.public_key())
    with pytest.raises(SignatureError):
        verify_pass_signature(signed, ROOT.public_key())


def test_text_is_ascii_qr_alphanumeric() -> None:
    text = make_text(scope=(1, 2, 3))
    assert text.startswith(PREFIX)
    assert set(text) <= set(ALPHABET)


@pytest.mark.parametrize("scope", [(0,), (7,), (1, 2), (65535, 65534, 65533)])
def test_every_pass_fits_qr_version_6_at_m(scope: tuple[int, ...]) -> None:
    assert qr_version(make_text(scope=scope)) <= 6


def test_visitor_flag_and_black_status_round_trip() -> None:
    f = decode_pass(make_text(visitor=True, status=PassStatus.BLACK)).fields
    assert f.visitor is True
    assert f.status is PassStatus.BLACK


def test_scanner_suffixes_are_ignored_but_inner_text_is_not() -> None:
    text = make_text()
    assert decode_pass("  " + text + "\r\n").fields == GREEN


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "not_campus_pass"),
        ("https://example.edu/pass?id=1", "not_campus_pass"),
        ("HC1:NCFOXN%TS3DH3ZSUZK", "not_campus_pass"),
        ("shc:/5676290952432060346029", "not_campus_pass"),
        ("cp1:abc", "not_campus_pass"),
        ("CP2:ABCDEF", "unsupported_version"),
        ("CP17:ABCDEF", "unsupported_version"),
        ("CP1:", "malformed"),
        ("CP1:abc", "malformed"),
        ("CP1:A", "malformed"),
        ("CP1:" + b45encode(b"\x01" * 40), "malformed"),
    ],
)
def test_format_errors_have_stable_codes(text: str, code: str) -> None:
    with pytest.raises(PassFormatError) as info:
        decode_pass(text)
    assert info.value.code == code


def _with_record(**overrides: int) -> str:
    """A pass whose record bytes are altered at fixed offsets (signature left as is)."""
    raw = bytearray(record_bytes(GREEN) + b"\x00" * 64)
    offsets = {"version": 0, "status": 19, "flags": 20, "n_scope": 29}
    for name, value in overrides.items():
        raw[offsets[name]] = value
    return PREFIX + b45encode(bytes(raw))


@pytest.mark.parametrize(
    "overrides",
    [{"version": 2}, {"status": 2}, {"flags": 0x80}, {"n_scope": 0}, {"n_scope": 2}, {"n_scope": 4}],
)
def test_out_of_range_record_fields_are_malformed(overrides: dict[str, int]) -> None:
    with pytest.raises(PassFormatError) as info:
        decode_pass(_with_record(**overrides))
    assert info.value.code == "malformed"


def test_writer_refuses_out_of_range_fields() -> None:
    for bad in [dict(scope=()), dict(scope=(1, 2, 3, 4)), dict(valid_until_s=GREEN.valid_from_s),
                dict(serial=b"short"), dict(key_id=70000)]:
        with pytest.raises(PassFormatError):
            make_text(**bad)
