"""A real, throwaway PostgreSQL server for tests: ``initdb`` and ``postgres`` from Debian's package
(``./dev`` installs it), a cluster in a temporary folder on a free loopback port, durability off
(fsync, synchronous commit: the data is thrown away). As root the server runs as the ``postgres``
user (PostgreSQL refuses to run as root); otherwise as the current user. Stopped by its own process
id. One migrated template database; each test gets a fresh copy (``CREATE DATABASE … TEMPLATE``),
dropped afterwards."""

from __future__ import annotations

import asyncio
import functools
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from campuspass.processes import free_port
from server.datadir import DataDir

TEMPLATE = "campuspass_template"


def bin_dir() -> Path:
    """The folder of the newest installed PostgreSQL server binaries (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found; install the postgresql package (./dev does)")


@dataclass
class PgCluster:
    """A running PostgreSQL server: ``admin_url`` (superuser ``postgres``), its process and folder."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, *, empty: bool = False, copy_of: str | None = None) -> str:
        """A fresh copy of the migrated template (``empty``: a database with no tables; ``copy_of``: a
        copy of that database of this server, given by its URL, which nobody may be connected to);
        returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        template = "template0" if empty else f'"{copy_of.rsplit("/", 1)[1]}"' if copy_of else TEMPLATE
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {template}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, ending any connection still open to it."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster's own pid), immediate after 10 s; then remove the folder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """In the forked child before exec: ask the kernel for SIGQUIT (PostgreSQL's immediate
    shutdown, which ends its backends too) when the process that started the server dies, so a test
    run killed with SIGKILL leaves no server behind. Runs after Popen's switch to ``user`` (a change
    of user would clear the request)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGQUIT)


def start_cluster(*, crash_safe: bool = False, shared_buffers_mb: int = 64) -> PgCluster:
    """initdb a cluster in a new temporary folder and start it on a free port; wait until it accepts
    connections (at most 30 s), create and migrate the template database.

    Args:
        crash_safe: keep ``fsync`` and full-page writes on (the benchmarks: the durability of the
            server's SQLite file in WAL mode with ``synchronous=NORMAL``, which is committed
            transactions survive a crash of the server process or of the operating system apart from
            the last few). Commits are still not waited for (``synchronous_commit=off``, as SQLite's
            NORMAL does not sync at commit). False (the tests): durability off.
        shared_buffers_mb: PostgreSQL's page cache.

    Raises:
        RuntimeError: the binaries are missing or the server did not start (with its log).
    """
    bindir = bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="campuspass-pg-"))
    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data = folder / "data"
    run = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                          "--locale=C", "--no-sync"], cwd=folder, user=user, capture_output=True, timeout=120)
    if run.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {run.stderr.decode(errors='replace')}")
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server writes it until stopped
    process = subprocess.Popen(
        [str(bindir / "postgres"), "-D", str(data), "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
         "-c", f"unix_socket_directories={folder}", "-c", "synchronous_commit=off",
         *(() if crash_safe else ("-c", "fsync=off", "-c", "full_page_writes=off")),
         "-c", "max_connections=400", "-c", f"shared_buffers={shared_buffers_mb}MB"],
        cwd=folder, user=user, stdout=log, stderr=subprocess.STDOUT, preexec_fn=functools.partial(_die_with_parent, os.getpid()))
    log.close()
    cluster = PgCluster(port, process, folder)
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(cluster.admin_url, autocommit=True, connect_timeout=2) as conn:
                conn.execute(f"CREATE DATABASE {TEMPLATE}")
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                text = (folder / "server.log").read_text(errors="replace")
                cluster.stop()
                raise RuntimeError(f"PostgreSQL did not start: {text}") from None
            time.sleep(0.1)
    asyncio.run(_migrate(cluster.url(TEMPLATE)))
    return cluster


def use_database(datadir: DataDir, url: str) -> DataDir:
    """Point ``datadir``'s ``server.toml`` at ``url`` (``[database] url``); returns ``datadir``."""
    if url:
        text = datadir.config_path.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^(\[database\](?:\n#.*)*\n)url = ""$', lambda m: f'{m.group(1)}url = "{url}"', text)
        assert url in text, "server.toml has no [database] url line"
        datadir.config_path.write_text(text, encoding="utf-8")
    return datadir


async def _migrate(url: str) -> None:
    from server.storage.postgres import PgDatabase

    db = await PgDatabase.open(url)
    await db.close()
