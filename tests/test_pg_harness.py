"""The throwaway PostgreSQL server of the tests and benchmarks (tests/pg.py) does not outlive the
process that started it: a test run killed with SIGKILL leaves no server behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import time
from tests.pg import start_cluster
cluster = start_cluster()
print(cluster.process.pid, cluster.folder, flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_server_ends_when_its_starter_is_killed() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pid, folder = 0, ""
    try:
        assert child.stdout is not None
        pid_text, folder = child.stdout.readline().split()
        pid = int(pid_text)
        assert alive(pid)
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid), "the PostgreSQL server outlived the process that started it"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if pid and alive(pid):  # the failure above: do not leave it behind either
            os.kill(pid, signal.SIGQUIT)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
