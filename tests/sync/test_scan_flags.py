"""The scan log's rules as tables (server/scan_flags.py): clock correction, admitted while
revoked, repeated entries."""

from __future__ import annotations

import pytest

from server.config import SyncServerConfig
from server.scan_flags import (
    Admission,
    RevocationFact,
    corrected_at_ms,
    repeated_entries,
    revoked_when_admitted,
)

S1, S2 = b"\x01" * 8, b"\x02" * 8
SERIAL, OTHER = b"\xaa" * 8, b"\xbb" * 8


@pytest.mark.parametrize(("at_ms", "trusted", "skew_ms", "expected"), [
    (1_000_000, True, 180_000, 1_180_000),   # a slow clock: moved forward by the measured skew
    (1_000_000, True, -90_000, 910_000),     # a fast one: back
    (1_000_000, True, 1_500, 1_000_000),     # within the measurement's error: left alone
    (1_000_000, False, 180_000, 1_000_000),  # the node's estimate from server time: not corrected again
])
def test_corrected_time(at_ms: int, trusted: bool, skew_ms: int, expected: int) -> None:
    assert corrected_at_ms(at_ms, trusted, skew_ms, 2_000) == expected


SERIAL_ENTRY = RevocationFact(5, 1_000, serial=SERIAL)
SUBJECT_ENTRY = RevocationFact(7, 2_000, subject=S1, before_s=2_000)


@pytest.mark.parametrize(("at_ms", "serial", "valid_from_s", "expected"), [
    (999_999, SERIAL, 500, None),             # admitted before the revocation: the truth
    (1_000_000, SERIAL, 500, SERIAL_ENTRY),   # from the entry's second on
    (1_500_000, OTHER, 500, None),            # another pass of the person, before the subject entry
    (2_000_000, OTHER, 1_999, SUBJECT_ENTRY),  # valid from before the subject entry's time
    (2_000_000, OTHER, 2_000, None),          # signed from then on (after a clear): not covered
    (2_000_000, OTHER, None, SUBJECT_ENTRY),  # a pass the server has no record of: covered
    (3_000_000, SERIAL, 500, SERIAL_ENTRY),   # both match: the earliest is named
])
def test_admitted_while_revoked(at_ms: int, serial: bytes, valid_from_s: int | None,
                                expected: RevocationFact | None) -> None:
    facts = [SUBJECT_ENTRY, SERIAL_ENTRY, RevocationFact(9, 100, subject=S2, before_s=10_000)]
    assert revoked_when_admitted(at_ms, serial, S1, valid_from_s, facts) == expected


W = 300_000


def _flags(rows: list[Admission], new: set[str]) -> dict[str, str | None]:
    return repeated_entries(rows, new, W)


def test_a_second_entry_within_the_window_repeats_the_first_whichever_arrives_first() -> None:
    a, b = Admission("a", S1, 0, "entry"), Admission("b", S1, 60_000, "entry")
    assert _flags([a, b], {"a", "b"}) == {"b": "a"}
    assert _flags([b], {"b"}) == {}  # the later one alone: nothing yet
    assert _flags([a, b], {"a"}) == {"b": "a"}  # the earlier one arrives later: the stored one is flagged
    assert _flags([a, Admission("b", S1, 60_000, "entry", "a")], {"a"}) == {}  # already so: no write


def test_window_exit_between_other_people_and_unflagging() -> None:
    rows = [Admission("a", S1, 0, "entry"), Admission("b", S1, W, "entry"),  # exactly the window apart
            Admission("c", S2, 10_000, "entry")]
    assert _flags(rows, {"a", "b", "c"}) == {}
    # an exit uploaded late ends the stay: the entry after it is no repeat any more
    rows = [Admission("a", S1, 0, "entry"), Admission("x", S1, 30_000, "exit"),
            Admission("b", S1, 60_000, "entry", "a")]
    assert _flags(rows, {"x"}) == {"b": None}
    # the same second, three doors: each repeats the one before (scan id breaks the tie)
    rows = [Admission(i, S1, 5_000, "entry") for i in ("q", "p", "r")]
    assert _flags(rows, {"p", "q", "r"}) == {"q": "p", "r": "q"}


def test_the_window_is_configured() -> None:
    assert SyncServerConfig().repeat_window_s == 300
    with pytest.raises(ValueError, match="repeat_window_s"):
        SyncServerConfig(repeat_window_s=-1)
