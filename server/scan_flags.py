"""What the server adds to uploaded scans so that the scan log tells the truth about offline doors
(docs/sync-protocol.md, "What the scan log says"; docs/architecture.md §10).

Three pure rules, applied by :meth:`server.sync.SyncService.upload` inside the upload
transaction:

* **Time.** A door node has no battery clock. The server measures each node's skew at every
  sync (server time − the node's ``node_time_ms``). A scan whose time came from the node's
  system clock (``clock_trusted``) is stored at its time corrected by the skew measured at the
  upload that brought it (:func:`corrected_at_ms`), next to the node's own time; the scan log
  is ordered by the corrected time. A scan made while the node did not believe its clock already
  carries the node's estimate from the server's last time (or its trusted floor) and is not
  corrected again.
* **Admitted while revoked.** An accept of a pass that was on the server's revocation list
  before the scan's time (by serial, or by subject: every pass of the person valid from before
  the entry's ``before``) is flagged (:func:`revoked_when_admitted`): the door was offline and
  had not learnt it.
* **Repeated entry.** An entry admitted less than ``[sync] repeat_window_s`` after an earlier
  admitted entry of the same person (the same pass subject; at any door) with no admitted exit
  between is flagged as a repeat of that entry (:func:`repeated_entries`): one pass let two
  people in, or a door admitted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def corrected_at_ms(at_ms: int, clock_trusted: bool, skew_ms: int, min_skew_ms: int) -> int:
    """The scan's time on the server's clock (Unix ms).

    Args:
        at_ms: the node's decision time (Unix ms).
        clock_trusted: the node took ``at_ms`` from its system clock (else it is already an
            estimate from the server's time: not corrected).
        skew_ms: server − node clock, measured at the upload that carried the scan (ms).
        min_skew_ms: a smaller skew is within the measurement's own error: not applied.
    """
    if not clock_trusted or abs(skew_ms) < min_skew_ms:
        return at_ms
    return max(0, at_ms + skew_ms)


@dataclass(frozen=True, slots=True)
class RevocationFact:
    """A revocation list entry as the server holds it.

    Attributes:
        version: its list version.
        created_s: when the server put it on the list (Unix seconds).
        serial: the revoked pass serial (8 bytes), or None for a subject entry.
        subject: the pass subject (8 bytes) of a subject entry, else None.
        before_s: a subject entry covers that subject's passes valid from before this time
            (Unix seconds).
    """

    version: int
    created_s: int
    serial: bytes | None = None
    subject: bytes | None = None
    before_s: int | None = None


def revoked_when_admitted(at_ms: int, serial: bytes | None, subject: bytes | None, valid_from_s: int | None,
                          facts: Iterable[RevocationFact]) -> RevocationFact | None:
    """The earliest revocation entry that covered this pass at ``at_ms``, or None.

    Args:
        at_ms: the scan's (corrected) time, Unix ms.
        serial, subject: the admitted pass's serial and subject (8 bytes each).
        valid_from_s: the pass's ``valid_from`` from the server's record of issued passes; None
            when the server has no record of the serial (then a subject entry of its subject
            is taken to cover it: nothing shows it was issued after the entry).
        facts: revocation entries of that serial or subject (others are ignored).

    An entry counts from its creation second: created at ``c`` it covers scans at or after
    ``c`` × 1000 ms (the list keeps whole seconds).
    """
    hits = []
    for f in facts:
        if f.created_s * 1000 > at_ms:
            continue
        if f.serial is not None and f.serial == serial:
            hits.append(f)
        elif (f.subject is not None and f.subject == subject and f.before_s is not None
              and (valid_from_s is None or valid_from_s < f.before_s)):
            hits.append(f)
    return min(hits, key=lambda f: (f.created_s, f.version)) if hits else None


@dataclass(frozen=True, slots=True)
class Admission:
    """An accepted scan as the repeated-entry rule sees it.

    Attributes:
        scan_id: the scan.
        subject: the pass subject (the person; 8 bytes).
        at_ms: corrected scan time, Unix ms.
        direction: ``entry`` or ``exit``.
        repeat_of: what is stored now (the scan id it repeats, or None).
    """

    scan_id: str
    subject: bytes
    at_ms: int
    direction: str
    repeat_of: str | None = None


def repeated_entries(admissions: Sequence[Admission], new_ids: set[str], window_ms: int) -> dict[str, str | None]:
    """Which admissions are repeated entries, for those a new upload can change.

    Args:
        admissions: every accepted scan of the subjects concerned from ``window_ms`` before the
            earliest new scan to ``window_ms`` after the latest one, new scans included.
        new_ids: scan ids stored by this upload.
        window_ms: ``[sync] repeat_window_s`` in milliseconds.

    Per person, admissions in (corrected time, scan id) order: an entry is a repeat of the
    admission before it when that one is also an entry less than ``window_ms`` earlier (an
    exit between ends the stay: no repeat). Only new scans and the admission right after each
    new one can change.

    Returns:
        ``{scan_id: scan id it repeats or None}`` for each of those whose value differs from
        its stored ``repeat_of``.
    """
    by_subject: dict[bytes, list[Admission]] = {}
    for a in admissions:
        by_subject.setdefault(a.subject, []).append(a)
    out: dict[str, str | None] = {}
    for rows in by_subject.values():
        rows.sort(key=lambda a: (a.at_ms, a.scan_id))
        for i, a in enumerate(rows):
            if a.scan_id not in new_ids and (i == 0 or rows[i - 1].scan_id not in new_ids):
                continue
            prev = rows[i - 1] if i else None
            repeat = (prev.scan_id if prev is not None and a.direction == "entry" and prev.direction == "entry"
                      and a.at_ms - prev.at_ms < window_ms else None)
            if repeat != a.repeat_of:
                out[a.scan_id] = repeat
    return out
