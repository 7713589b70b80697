"""A camera read that hangs in its driver must not keep the stopped node's process alive.

The supervisor abandons a hung read with its thread. That thread used to be a
``ThreadPoolExecutor`` worker, which the interpreter joins at exit: after SIGTERM the node
logged "stopped; relay locked" and then never exited (systemd kills it only after its stop
timeout). Checked in a child interpreter, because the hang is at interpreter exit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, threading, time
import numpy as np
from edge.camera import CameraSupervisor

class HangingCamera:
    name = "hanging"
    live = True
    def __init__(self):
        self.reads = 0
        self.opens = 0
    def open(self):
        self.opens += 1
    def read(self, timeout_s):
        self.reads += 1
        if self.reads % 2 == 1:
            return np.zeros((8, 8), np.uint8)
        threading.Event().wait()  # a driver that never returns
    def close(self):
        pass

async def main():
    cam = HangingCamera()
    sup = CameraSupervisor(cam, stall_s=0.2, reopen_max_s=0.2)
    async def consume():
        async for _ in sup.frames():
            pass
    task = asyncio.create_task(consume())
    await asyncio.sleep(1.0)  # the read hangs, is abandoned, the camera reopens and hangs again
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert cam.opens >= 2, cam.opens  # hung, abandoned, reopened (and hung again)
    print("stopped", flush=True)

asyncio.run(main())
"""


def test_process_exit_is_prompt_with_a_hung_camera_read() -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"process still alive 15 s after the camera loop stopped: {out!r}") from None
    assert proc.returncode == 0, err
    assert "stopped" in out
