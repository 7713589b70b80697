"""What several benchmark scripts share: starting a server process and reading its address."""

from __future__ import annotations

import os
import re
import subprocess


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``cmd`` (a server that prints ``http://127.0.0.1:PORT/`` on its first line) and
    return the process and that base URL.

    Raises:
        SystemExit: the first line names no loopback address (the process is killed).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, m.group(1)
