"""What several benchmark scripts share: starting a server process and reading its address."""

from __future__ import annotations

import os
import re
import subprocess


def start(cmd: list[str], listening: int = 1) -> tuple[subprocess.Popen[str], str]:
    """Start ``cmd`` (a server that prints ``http://127.0.0.1:PORT/`` once it listens) and return
    the process and that base URL, once ``listening`` such lines came (``--workers N``: one per
    process; other lines before them are skipped).

    Raises:
        SystemExit: the process ended (or printed 50 lines) before that (it is killed).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    urls: list[str] = []
    lines: list[str] = []
    while len(urls) < listening:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if m:
            urls.append(m.group(1))
        elif not line or len(lines) > 50:
            proc.kill()
            raise SystemExit(f"server did not start: {''.join(lines)!r}")
    return proc, urls[0]
