"""Keeping the node's resident memory flat: frame-sized buffers go back to the system when freed.

Why: every frame passes through a few buffers of 0.3–3 MB (grey conversion, the decoder's and
the retry ladder's working images), allocated and freed by numpy, OpenCV and zxing-cpp through
C ``malloc``. glibc serves blocks above its mmap threshold (128 KiB) with ``mmap`` and unmaps
them on free, but after the first such free it raises the threshold to that block's size (its
"dynamic threshold", up to 32 MB), and from then on frame buffers come from the heap arenas,
one per thread that allocates (camera, decode, SQLite, ...). Freed heap blocks stay resident:
the edge pipeline benchmark measured about 30 MB held this way after warm-up (``bench/edge_pipeline.py``:
166 MB with glibc's default, 138 MB with the threshold fixed). Fixing the threshold keeps every
frame-sized block mmapped, so it is returned on free; small allocations are unaffected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter number for the mmap threshold (malloc.h ``M_MMAP_THRESHOLD``).
_M_MMAP_THRESHOLD = -3
#: Blocks at least this big are mmapped and unmapped on free (glibc's own initial value).
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_blocks_to_the_system(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold_bytes`` (disabling its upward adjustment), so
    freed frame-sized buffers leave the resident set at once (module docstring).

    Call once, early, from the composition root (``edge run``). Returns True when set; False
    on a C library without ``mallopt`` (musl, macOS), where nothing changes.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(threshold_bytes)))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) refused; memory may grow with freed frame buffers",
                    threshold_bytes)
    return ok
