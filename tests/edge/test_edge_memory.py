"""Freed frame buffers are handed back to the system (edge.memory).

The heap behaviour is checked in child interpreters (it is process-wide): 60 frame-sized
(2 MiB) buffers are allocated, each followed by a small block that outlives it, and then freed.
With glibc's default (its mmap threshold raised by the first large free) they stay resident;
one trim returns them. The node trims on its own, every few seconds, in a supervised task.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from edge.camera import ArrayCamera
from edge.config import NodeConfig
from edge.node import Node, open_store
from edge.pins import SafeMockFactory
from shared.clock import FakeClock

CHILD = r"""
import sys
import numpy as np
from edge.memory import trim_freed_memory

def rss_mb():
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

first = np.ones(1 << 21, np.uint8)
del first  # glibc raises its mmap threshold here
base = rss_mb()
big, keep = [], []
for _ in range(60):
    big.append(np.ones(1 << 21, np.uint8))  # a frame-sized working buffer
    keep.append(np.ones(4096, np.uint8))  # a small block that outlives it
del big
held = rss_mb() - base
assert trim_freed_memory()
print(held, rss_mb() - base)
"""


def test_freed_frame_buffers_stay_resident_until_trimmed() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=repo, capture_output=True, text=True,
                         timeout=60, check=True)
    held_mb, after_trim_mb = (float(x) for x in out.stdout.split())
    assert held_mb > 60  # why the node trims: ~120 MB of freed buffers still resident
    assert after_trim_mb < 10


async def test_the_running_node_trims_its_heap(config: NodeConfig, clock: FakeClock) -> None:
    store = await open_store(config)
    frames = [np.zeros((480, 640), np.uint8)] * 40
    node = Node(config, store, camera=ArrayCamera(frames, interval_s=0.01), pin_factory=SafeMockFactory(),
                clock=clock)
    node.memory.interval_s = 0.05
    try:
        await node.run(handle_signals=False)
    finally:
        await store.close()
    assert node.memory.trims >= 2 and "memory" in node.tasks.health
