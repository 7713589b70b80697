"""`campuspass server check-config` names every value that cannot work; `server run` refuses to
start on them before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from campuspass.cli import main
from provisioning.init import init_data_dir
from server.config import load_server_config
from server.config_check import config_problems
from shared.clock import SystemClock


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return init_data_dir(tmp_path / "data", SystemClock(), admin=None).datadir.root


def test_a_fresh_data_directory_is_workable(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "check-config", "--data", str(data)]) == 0
    assert "config OK" in capsys.readouterr().out


def test_unworkable_values_are_named_and_run_refuses_to_start(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = data / "server.toml"
    toml.write_text('[passes]\ncampus_groups = []\ncheckin_deadline = "25:00"\n'
                    '\n[workflow]\nsms_approved = "{name} {when}"\n', encoding="utf-8")
    assert main(["server", "check-config", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "passes.campus_groups = []: expected 1 to 3 building group names" in err
    assert "passes.checkin_deadline = '25:00': expected HH:MM" in err
    assert "workflow.sms_approved = '{name} {when}'" in err and "['when']" in err
    assert "the server will not start" in err

    assert main(["server", "run", "--data", str(data), "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert "listening" not in captured.out
    assert "server.toml cannot work" in captured.err and "passes.campus_groups = []" in captured.err


def test_the_defaults_have_no_problem(data: Path) -> None:
    assert config_problems(load_server_config(data / "server.toml")) == []


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite:///tmp/x.db", "campuspass.db"])
def test_a_database_url_of_another_kind_is_refused(data: Path, url: str, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "server.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    assert main(["server", "check-config", "--data", str(data)]) != 0
    err = capsys.readouterr().err
    assert "database: url starts with" in err and "expected postgresql://user@host:port/dbname" in err


def test_an_unreachable_postgresql_server_stops_the_server_with_a_storage_error(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from campuspass.processes import free_port

    (data / "server.toml").write_text(
        f'[database]\nurl = "postgresql://campuspass:s3cret@127.0.0.1:{free_port()}/campuspass?connect_timeout=2"\n',
        encoding="utf-8")
    assert main(["server", "check-config", "--data", str(data)]) == 0  # the file is well formed
    assert main(["server", "run", "--data", str(data), "--port", "0"]) != 0
    err = capsys.readouterr().err
    assert "cannot open database" in err and "s3cret" not in err and "Traceback" not in err


def test_who_lifts_an_abnormal_checkin_hold_is_checked(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = data / "server.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'abnormal_hold_cleared_by = "counsellor"' in text  # the default, written out by init
    toml.write_text(text.replace('abnormal_hold_cleared_by = "counsellor"',
                                 'abnormal_hold_cleared_by = "student"'), encoding="utf-8")
    assert main(["server", "check-config", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert ("passes.abnormal_hold_cleared_by = 'student': expected \"counsellor\" or "
            "\"counsellor_or_later_checkin\"") in err
    toml.write_text(text.replace('abnormal_hold_cleared_by = "counsellor"',
                                 'abnormal_hold_cleared_by = "counsellor_or_later_checkin"'), encoding="utf-8")
    assert main(["server", "check-config", "--data", str(data)]) == 0
