"""Child processes for the demo and the end-to-end test: start, watch, stop, leave nothing behind.

:class:`ProcessGroup` is a context manager. Each child it starts runs in its own session (its
own process group), so a Ctrl-C in the terminal reaches only the parent, which then stops the
children in order: SIGTERM to the child's whole process group, then SIGKILL after
``stop_timeout_s``. Leaving the ``with`` block always stops every child, whatever the reason
(normal end, exception, KeyboardInterrupt, SIGTERM turned into :class:`Terminated` by
:func:`terminate_on_sigterm`).

A reader thread per child collects its combined stdout/stderr lines: the last lines are kept
(:attr:`Child.tail`, shown when something fails) and every line goes to the group's queue
(:meth:`ProcessGroup.lines`), so the demo can print the lights of the door nodes as they change.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType

import httpx

from shared.errors import CampusPassError


class ProcessError(CampusPassError):
    """A child did not come up. Codes: ``child_exited`` (it ended while starting; the message
    shows its last output lines), ``child_timeout`` (it did not answer in time)."""

    code = "child_exited"


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (see :func:`terminate_on_sigterm`)."""


@dataclass
class Child:
    """One started child process.

    Attributes:
        name: label used in output (``server``, ``library``).
        popen: the process.
        tail: its last output lines (at most 200).
    """

    name: str
    popen: subprocess.Popen[str]
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))

    @property
    def pid(self) -> int:
        """The child's process id (also its process group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def describe_tail(self, lines: int = 25) -> str:
        """The last ``lines`` output lines, indented, for error messages."""
        return "\n".join(f"    {x}" for x in list(self.tail)[-lines:]) or "    (no output)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def campuspass_argv(*args: str) -> list[str]:
    """The command line running ``campuspass ARGS`` with this interpreter."""
    return [sys.executable, "-m", "campuspass", *args]


class ProcessGroup:
    """Starts children and always stops them (context manager).

    Args:
        stop_timeout_s: seconds between SIGTERM and SIGKILL when stopping a child.
    """

    def __init__(self, stop_timeout_s: float = 8.0) -> None:
        self.stop_timeout_s = stop_timeout_s
        self.children: list[Child] = []
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_all()

    @property
    def pids(self) -> list[int]:
        """Process ids of every child started (running or not)."""
        return [c.pid for c in self.children]

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        """Start ``argv`` as child ``name`` in a new session; output is collected line by line."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        popen = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, encoding="utf-8", errors="replace", bufsize=1, env=full_env, start_new_session=True,
        )
        child = Child(name, popen)
        self.children.append(child)
        t = threading.Thread(target=self._read, args=(child,), name=f"read-{name}", daemon=True)
        t.start()
        self._threads.append(t)
        return child

    def _read(self, child: Child) -> None:
        assert child.popen.stdout is not None
        for raw in child.popen.stdout:
            line = raw.rstrip("\n")
            child.tail.append(line)
            self._lines.put((child.name, line))

    def lines(self, timeout_s: float) -> Iterator[tuple[str, str]]:
        """``(child name, line)`` for every output line arriving within ``timeout_s`` seconds
        (returns early when none comes)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                yield self._lines.get(timeout=left)
            except queue.Empty:
                return

    def wait_http(self, child: Child, url: str, timeout_s: float = 30.0) -> None:
        """Wait until ``url`` answers any HTTP status.

        Raises:
            ProcessError: the child exited first (``child_exited``) or ``timeout_s`` passed
                (``child_timeout``); the message carries its last output lines.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if not child.alive():
                raise ProcessError(f"{child.name} exited with status {child.popen.returncode} while "
                                   f"starting:\n{child.describe_tail()}", code="child_exited")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=1.0)
                return
            if time.monotonic() > deadline:
                raise ProcessError(f"{child.name} did not answer at {url} within {timeout_s:.0f} s:\n"
                                   f"{child.describe_tail()}", code="child_timeout")
            time.sleep(0.1)

    def stop(self, child: Child) -> int | None:
        """SIGTERM to the child's process group, SIGKILL after ``stop_timeout_s``; returns its
        exit status (None if it could not be reaped)."""
        if child.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.popen.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(5.0)
        # Anything the child left in its group (it started none, but be sure) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        return child.popen.returncode

    def stop_all(self) -> None:
        """Stop every child, newest first (nodes before the server), and join the readers.

        A second Ctrl-C while stopping does not abandon the remaining children.
        """
        pending = list(reversed(self.children))
        while pending:
            try:
                self.stop(pending[0])
                pending.pop(0)
            except (KeyboardInterrupt, Terminated):
                continue
        for t in self._threads:
            t.join(timeout=2.0)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` in the main thread (so ``with``
    blocks clean up as for Ctrl-C); the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
