"""Scan links: each accepted scan of a pass subject points back to the previous accepted scan of
the same subject at the same building (pure; issue 19, docs/tracing.md).

A link is ``(prev_at_ms, prev_entry)``: the time of that previous scan and whether it was an
entry, or ``(None, None)`` when there is none within :data:`LINK_HORIZON_MS`. Scans are ordered
by ``(at_ms, direction, id)`` (ties: entry before exit, then upload order), the order the
co-presence sums assume. A link further back than the horizon would change nothing: a piece of
time inside depends on the previous scan only when it is within the cut-off plus the default stay
(:func:`server.presence.overlaps.pieces`), which the configuration keeps within the horizon.

Sync ingest computes the links of a batch's new scans before inserting them
(:func:`link_batch`) from the stored scans of the same subjects at that building within the
horizon around the batch; a scan uploaded late (an offline node) also becomes the previous scan
of the stored scan after it, whose link is corrected in the same transaction.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

LINK_HORIZON_MS = 86_400_000
"""Links reach back at most a day (``[presence] open_stay_h`` + ``default_stay_min`` may not exceed it)."""

Link = tuple[int | None, int | None]


def link_batch(
    stored: Sequence[tuple[bytes, int, str, int, int | None, int | None]],
    fresh: Sequence[tuple[Hashable, bytes, int, str]],
) -> tuple[dict[Hashable, Link], list[tuple[int | None, int | None, int]]]:
    """Links of a batch of new accepted scans at one building.

    Args:
        stored: the stored accepted scans of the batch's subjects at that building from
            :data:`LINK_HORIZON_MS` before the batch's earliest new scan to as long after its latest:
            ``(subject, at_ms, direction, id, prev_at, prev_entry)``.
        fresh: the new scans in insertion order (they get ids above every stored one):
            ``(key, subject, at_ms, direction)``.

    Returns:
        ``({key: (prev_at, prev_entry)}`` for every new scan, and ``[(prev_at, prev_entry, id)]``
        for the stored scans whose previous scan is now a new one (late uploads) and whose link
        changes.
    """
    by_subject: dict[bytes, list[tuple[int, str, int, int, Hashable, Link]]] = {}
    for subject, at_ms, direction, id_, prev_at, prev_entry in stored:
        by_subject.setdefault(subject, []).append((at_ms, direction, 0, id_, None, (prev_at, prev_entry)))
    for order, (key, subject, at_ms, direction) in enumerate(fresh):
        by_subject.setdefault(subject, []).append((at_ms, direction, 1, order, key, (None, None)))
    links: dict[Hashable, Link] = {}
    updates: list[tuple[int | None, int | None, int]] = []
    for items in by_subject.values():
        items.sort(key=lambda item: item[:4])
        prev: tuple[int, str, int, int, Hashable, Link] | None = None
        for item in items:
            at_ms, _direction, is_new, id_, key, held = item
            link: Link = (None, None)
            if prev is not None and at_ms - prev[0] <= LINK_HORIZON_MS:
                link = (prev[0], 1 if prev[1] == "entry" else 0)
            if is_new:
                links[key] = link
            elif prev is not None and prev[2] and held != link:
                updates.append((link[0], link[1], id_))
            prev = item
    return links, updates
