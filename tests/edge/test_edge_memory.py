"""Freed frame-sized buffers leave the node's resident set (edge.memory).

Checked in child interpreters, because the setting is process-wide: 60 frame-sized (2 MiB)
buffers are allocated, each followed by a small block that outlives it, and then freed. With
glibc's default (its mmap threshold raised by the first large free) they stay resident; with
the node's setting they are returned at once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys
import numpy as np

def rss_mb():
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

if sys.argv[1] == "node":
    from edge.memory import return_large_blocks_to_the_system
    assert return_large_blocks_to_the_system()
first = np.ones(1 << 21, np.uint8)
del first  # glibc raises its mmap threshold here (unless fixed)
base = rss_mb()
big, keep = [], []
for _ in range(60):
    big.append(np.ones(1 << 21, np.uint8))  # a frame-sized working buffer
    keep.append(np.ones(4096, np.uint8))  # a small block that outlives it
del big
print(rss_mb() - base)
"""


def retained_mb(mode: str) -> float:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=repo, capture_output=True, text=True,
                         timeout=60, check=True)
    return float(out.stdout.strip())


def test_freed_frame_buffers_are_returned_with_the_node_setting() -> None:
    assert retained_mb("glibc-default") > 60  # why the setting exists: ~120 MB held
    assert retained_mb("node") < 10
