"""The command line: init prints the first admin's one-time password, create-admin,
import-roster exit codes, and `server run` printing its address."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient

from campuspass.cli import main
from provisioning.init import InitResult, init_data_dir
from server.app import create_app
from server.datadir import DataDir

ROSTER = ("number,name,id_last6,department_code,department_name,role\n"
          "2021001,张三,31452X,CS,计算机学院,student\n"
          "2021002,李四,1,CS,计算机学院,student\n")


def test_init_create_admin_and_import_roster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["init", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    m = re.search(r"first admin: admin\s+one-time password: (\S+)", out)
    assert m and len(m.group(1)) >= 12

    assert main(["server", "create-admin", "--data", str(data), "it01"]) == 0
    assert re.search(r"one-time password: \S+", capsys.readouterr().out)
    assert main(["server", "create-admin", "--data", str(data), "it01"]) == 1
    assert "already exists" in capsys.readouterr().err

    roster = tmp_path / "r.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    assert main(["server", "import-roster", "--data", str(data), str(roster)]) == 1
    err = capsys.readouterr().err
    assert "r.csv: line 3: id_last6 '1'" in err and "nothing was imported" in err
    assert main(["server", "import-roster", "--data", str(data), str(roster), "--skip-bad-rows"]) == 0
    assert "1 created, 0 updated, 1 departments, 1 rows skipped" in capsys.readouterr().out


@pytest.fixture
def initialised(tmp_path: Path) -> InitResult:
    return init_data_dir(tmp_path / "d", admin="root-admin")


async def test_first_admin_must_change_the_one_time_password(
    initialised: InitResult, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    result = initialised
    assert result.admin_number == "root-admin" and result.admin_password
    client = await aiohttp_client(create_app(result.datadir, run_sms_sender=False, run_jobs=False))
    r = await client.post("/api/v1/auth/login", json={"username": "root-admin", "password": result.admin_password})
    body = await r.json()
    assert r.status == 200 and body["user"]["role"] == "system_admin" and body["must_change_password"] is True
    r = await client.get("/api/v1/admin/sms")
    assert r.status == 403 and (await r.json())["error"]["code"] == "setup_required"


def test_server_run_prints_its_address(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["init", "--data", str(data)]) == 0
    DataDir(data).require_initialised()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "campuspass", "server", "run", "--data", str(data),
                             "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"campuspass server listening on (http://127\.0\.0\.1:\d+/)", line)
        assert m, line
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.get(m.group(1) + "api/v1/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200 and "/api/v1/auth/login" in r.json()["paths"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
