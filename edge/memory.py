"""Keeping the node's resident memory flat: freed frame buffers are handed back to the system.

Why: every frame passes through a few buffers of 0.3–3 MB (grey conversion, the decoder's and
the retry ladder's working images), allocated and freed by numpy, OpenCV and zxing-cpp through
C ``malloc``. glibc serves blocks above its mmap threshold (128 KiB) with ``mmap`` and unmaps
them on free, but after the first such free it raises the threshold to that block's size (its
"dynamic threshold", up to 32 MB); from then on frame buffers come from the heap arenas, one per
thread that allocates (camera, decode, SQLite, ...), and freed heap pages stay resident. The edge
pipeline benchmark held about 20–30 MB this way after its 1280×720 runs.

Two cures were measured (``bench/edge_pipeline.py``, same machine): fixing the mmap threshold
(``mallopt``) returns every buffer at once but makes each frame pay fresh page faults (decoding
10–25 % slower); ``malloc_trim(0)`` every few seconds costs 0.1–0.6 ms a call and leaves decoding
as fast as before. The node does the latter: :class:`MemoryTrimmer` runs as a supervised task.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between two trims of the node's heap.
TRIM_INTERVAL_S = 5.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        return None
    fn.argtypes = (ctypes.c_size_t,)
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_freed_memory() -> bool:
    """Return the free pages of every malloc arena to the system (glibc ``malloc_trim(0)``;
    blocks; 0.1–1 ms). True when memory was released, False when none was or the C library has
    no ``malloc_trim``."""
    return _MALLOC_TRIM is not None and bool(_MALLOC_TRIM(0))


class MemoryTrimmer:
    """Trims the heap every ``interval_s`` seconds, in a worker thread (never on the event loop).

    Attributes:
        trims: trims done so far.
    """

    def __init__(self, interval_s: float = TRIM_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.trims = 0

    @property
    def available(self) -> bool:
        """True when the C library can trim (glibc)."""
        return _MALLOC_TRIM is not None

    async def run(self) -> None:
        """Until cancelled (a supervised node task)."""
        if _MALLOC_TRIM is None:
            log.debug("no malloc_trim in this C library; the heap is not trimmed")
            return
        while True:
            await asyncio.sleep(self.interval_s)
            await asyncio.to_thread(trim_freed_memory)
            self.trims += 1
