"""Repeat-scan suppression: the camera sees the same phone for many frames (docs/architecture.md §6).

The same key (a pass serial, or a hash of foreign text) seen again within ``window_s``
seconds of its last sighting is the same scan. Times are monotonic seconds.
"""

from __future__ import annotations


class RepeatFilter:
    """Remembers recent sightings; memory is bounded by pruning entries older than the window.

    Args:
        window_s: seconds during which a repeated sighting is not a new scan (≥ 0).
    """

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError(f"repeat window {window_s} s; expected ≥ 0")
        self.window_s = window_s
        self._last: dict[bytes | str, float] = {}
        self._next_prune = 0.0

    def is_new(self, key: bytes | str, mono_s: float) -> bool:
        """True when ``key`` was not seen within the window before ``mono_s``.

        Each sighting refreshes the window, so a phone held up for a minute is one scan.
        """
        if mono_s >= self._next_prune:
            cutoff = mono_s - self.window_s
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
            self._next_prune = mono_s + max(self.window_s, 1.0)
        last = self._last.get(key)
        self._last[key] = mono_s
        return last is None or mono_s - last > self.window_s

    def __len__(self) -> int:
        """How many keys are remembered (at most those seen within about two windows)."""
        return len(self._last)
