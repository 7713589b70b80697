"""Revocation deltas (signed, versioned, pruned) and repeat-scan suppression."""

from __future__ import annotations

import pytest

from shared.dedup import RepeatFilter
from shared.errors import SignatureError, UnknownKeyError
from shared.keys import private_key_from_seed
from shared.revocation import RevocationEntry, RevocationSet, make_delta, verify_delta
from tests.shared.helpers import GREEN, ISSUER, KEY_ID, NOON, bundle


def test_delta_round_trip_and_apply() -> None:
    entries = [
        RevocationEntry(3, NOON + 100, serial=GREEN.serial),
        RevocationEntry(4, NOON + 200, subject=GREEN.subject, before_s=NOON),
    ]
    doc = make_delta(ISSUER, KEY_ID, 2, 4, NOON, entries)
    delta = verify_delta(doc, bundle(), NOON)
    assert (delta.since, delta.version, delta.entries) == (2, 4, tuple(entries))
    rs = RevocationSet()
    for e in delta.entries:
        rs.add(e)
    assert rs.version == 4 and rs.is_revoked(GREEN)
    assert rs.prune(NOON + 150) == 1
    assert rs.prune(NOON + 250) == 1
    assert len(rs) == 0


def test_delta_signed_by_unknown_or_wrong_key_is_refused() -> None:
    doc = make_delta(ISSUER, KEY_ID, 0, 1, NOON, [RevocationEntry(1, NOON + 1, serial=GREEN.serial)])
    doc["entries"][0]["serial"] = "ffffffffffffffff"
    with pytest.raises(SignatureError):
        verify_delta(doc, bundle(), NOON)
    stranger = make_delta(private_key_from_seed(b"\x07" * 32), 9, 0, 1, NOON, [])
    with pytest.raises(UnknownKeyError):
        verify_delta(stranger, bundle(), NOON)


def test_repeat_filter_window() -> None:
    f = RepeatFilter(window_s=3.0)
    assert f.is_new(b"a", 10.0)
    assert not f.is_new(b"a", 12.0)
    assert not f.is_new(b"a", 14.9)  # each sighting refreshes the window
    assert f.is_new(b"b", 15.0)
    assert f.is_new(b"a", 18.0)


def test_repeat_filter_memory_is_bounded() -> None:
    f = RepeatFilter(window_s=1.0)
    for i in range(10_000):
        f.is_new(i.to_bytes(4, "big"), float(i))
    assert len(f) <= 3
