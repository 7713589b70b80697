"""The enrolment commands: ``provision node`` writes a bundle ``edge check-config`` accepts,
``provision token`` + ``provision enroll`` (against a loopback server) and ``server node
disable``. They run on the system clock, so the data directory is made at the real time."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from campuspass.cli import main
from edge.bundle import load_node_key
from edge.config import load_node_config
from server.app import create_app
from server.datadir import DataDir
from server.passwords import FAST_TEST_PARAMS, PasswordHasher
from shared.clock import FakeClock
from shared.keys import b64u_encode, public_key_bytes


def node_row(dd: DataDir, node_id: str) -> tuple[bytes, int] | None:
    with sqlite3.connect(dd.db_path) as conn:
        row = conn.execute("SELECT public_key, enabled FROM nodes WHERE id = ?", (node_id,)).fetchone()
    return None if row is None else (bytes(row[0]), int(row[1]))


def test_provision_node_bundle_passes_check_config(live_dd: DataDir, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = str(live_dd.root)
    assert main(["server", "building", "add", "--data", data, "D7", "Dormitory 7", "--group", "dorms"]) == 0
    out = tmp_path / "bundle"
    assert main(["provision", "node", "--data", data, "--name", "d7-east-1", "--building", "D7",
                 "--direction", "entry", "--server-url", "https://pass.example.edu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "enrolled node d7-east-1" in printed and "install-pi.sh" in printed
    assert stat.S_IMODE((out / "node.key").stat().st_mode) == 0o600

    assert main(["edge", "check-config", "--config", str(out / "node.toml")]) == 0
    checked = capsys.readouterr().out
    assert "config OK (node d7-east-1, building D7, entry" in checked
    assert "bundle: policy v" in checked and "building D7 in group" in checked

    key = load_node_key(load_node_config(out / "node.toml"))
    assert node_row(live_dd, "d7-east-1") == (public_key_bytes(key), 1)

    # a second run never overwrites the bundle or enrols twice
    assert main(["provision", "node", "--data", data, "--name", "d7-east-1", "--building", "D7",
                 "--direction", "entry", "--server-url", "https://pass.example.edu", "--out", str(out)]) == 1
    assert "[bundle_exists]" in capsys.readouterr().err

    assert main(["server", "node", "disable", "--data", data, "d7-east-1"]) == 0
    assert node_row(live_dd, "d7-east-1") == (public_key_bytes(key), 0)
    assert main(["server", "node", "enable", "--data", data, "d7-east-1"]) == 0
    assert node_row(live_dd, "d7-east-1") == (public_key_bytes(key), 1)
    assert main(["server", "node", "disable", "--data", data, "nobody"]) == 1
    assert "[unknown_node]" in capsys.readouterr().err


async def test_token_then_enroll_commands_over_http(
    live_dd: DataDir, live_clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    data = str(live_dd.root)

    def cli(*argv: str) -> int:
        return main(list(argv))

    assert await asyncio.to_thread(cli, "server", "building", "add", "--data", data, "LIB", "Library") == 0
    assert await asyncio.to_thread(cli, "provision", "token", "--data", data, "--name", "Library gate",
                                   "--building", "LIB", "--direction", "exit", "--ttl-hours", "1") == 0
    printed = capsys.readouterr().out
    token = re.search(r"--token (cpe1_\S+)", printed)
    assert token is not None
    root = b64u_encode(live_dd.root_public())
    # "=" form: a base64url key may begin with "-", which argparse would take for an option
    assert f"--root-key={root}" in printed

    app = create_app(live_dd, clock=live_clock, hasher=PasswordHasher(FAST_TEST_PARAMS), run_sms_sender=False, run_jobs=False)
    server = await aiohttp_server(app)
    url = str(server.make_url("/"))
    out = tmp_path / "pi"
    assert await asyncio.to_thread(cli, "provision", "enroll", "--server-url", url, "--token", token.group(1),
                                   f"--root-key={root}", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    node_id = re.search(r"enrolled as node (\S+);", printed)
    assert node_id is not None and node_id.group(1).startswith("lib-exit-")
    config = load_node_config(out / "node.toml")
    assert (config.node.name, config.node.building, config.node.direction) == ("Library gate", "LIB", "exit")
    key = load_node_key(config)
    assert node_row(live_dd, node_id.group(1)) == (public_key_bytes(key), 1)
    assert await asyncio.to_thread(cli, "edge", "check-config", "--config", str(out / "node.toml")) == 0

    assert await asyncio.to_thread(cli, "provision", "enroll", "--server-url", url, "--token", token.group(1),
                                   "--out", str(tmp_path / "again")) == 1
    assert "[token_used]" in capsys.readouterr().err
