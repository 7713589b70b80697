"""``campuspass server run --workers N``: N server processes sharing one port (docs/deploy.md).

The parent starts N children, each a plain ``campuspass server run`` on the same address with
``SO_REUSEPORT`` (the kernel spreads new connections over them); every child has its own pool of
connections to the one PostgreSQL database, which holds everything they must agree on (sessions,
throttle counters, the SMS outbox, job leases). A child that dies is started again; one that dies
within :data:`EARLY_EXIT_S` of its start (bad configuration, unreachable database) stops them all
with its exit code. SIGTERM or SIGINT to the parent stops every child (SIGTERM, then SIGKILL after
:data:`STOP_TIMEOUT_S`). Refused on SQLite: its database is one process's.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

EARLY_EXIT_S = 5.0  # a child gone this soon after its start is not restarted: its cause would repeat
STOP_TIMEOUT_S = 15.0  # children still running this long after SIGTERM are killed
POLL_S = 0.2


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (for ``--port 0``: the children must agree)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def worker_command(data: Path, host: str, port: int) -> list[str]:
    """The command line of one child."""
    return [sys.executable, "-m", "campuspass", "server", "run", "--data", str(data), "--host", host,
            "--port", str(port), "--reuse-port"]


def supervise(data: Path, host: str, port: int, workers: int) -> int:
    """Run ``workers`` children until SIGTERM/SIGINT; returns the exit code (0, or the code of a child
    that failed at its start)."""
    command = worker_command(data, host, port)
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: list[tuple[subprocess.Popen[bytes], float]] = []
    code = 0
    try:
        children = [(subprocess.Popen(command), time.monotonic()) for _ in range(workers)]
        print(f"campuspass server: {workers} processes on port {port}", flush=True)
        while not stopping:
            for i, (child, started) in enumerate(children):
                rc = child.poll()
                if rc is None:
                    continue
                if time.monotonic() - started < EARLY_EXIT_S:
                    print(f"campuspass: error: server process {child.pid} exited with code {rc} at its start;"
                          " stopping the others", file=sys.stderr, flush=True)
                    code = rc or 1
                    stopping = True
                    break
                log.warning("server process %d exited with code %s; starting another", child.pid, rc)
                children[i] = (subprocess.Popen(command), time.monotonic())
            time.sleep(POLL_S)
    finally:
        for child, _ in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child, _ in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
