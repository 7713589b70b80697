"""node.toml: strict loading, relative paths, round trip, check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from campuspass.cli import main
from edge.config import NodeConfig, dump_node_config, load_node_config
from shared.errors import ConfigError

from .helpers import Campus

MINIMAL = """
[node]
id = "d7-east"
building = "D7"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_has_secure_defaults(tmp_path: Path) -> None:
    cfg = load_node_config(write(tmp_path, MINIMAL))
    assert cfg.trust.fail_mode == "secure"
    assert cfg.node.direction == "entry"
    assert cfg.decoder.name == "zxing"
    assert cfg.gpio.relay.active_high is True
    assert cfg.db_path == tmp_path.resolve() / "data" / "node.db"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[node]\nid='a'\nbuilding='D7'\ncolour='red'\n", "node.colour"),
        (MINIMAL + "[camera]\nsorce='dir:x'\n", "camera.sorce"),
        (MINIMAL + "[gpio]\nrelay = { pin = 23, active_hi = false }\n", "gpio.relay.active_hi"),
        (MINIMAL + "[mystery]\nx=1\n", "mystery"),
    ],
)
def test_unknown_keys_are_named_with_their_value(tmp_path: Path, extra: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_node_config(write(tmp_path, extra))
    assert repr(named) in err.value.message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("[node]\nid='a'\nbuilding='D7'\ndirection='sideways'\n", "'sideways'"),
        (MINIMAL + "[camera]\nsource='webcam'\n", "'webcam'"),
        (MINIMAL + "[gpio]\nrelay_pulse_s = 99\n", "99"),
        (MINIMAL + "[trust]\nfail_mode = 'yolo'\n", "'yolo'"),
        (MINIMAL + "[decoder]\nname = 'quirc'\n", "'quirc'"),
        (MINIMAL + "[decoder]\nretry_budget_s = 2.5\n", "decoder.retry_budget_s = 2.5"),
        (MINIMAL + "[gpio]\ngreen = { pin = 'GPIO23' }\n", "four different pins"),
        ("[node]\nid='has space'\nbuilding='D7'\n", "'has space'"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, extra: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_node_config(write(tmp_path, extra))
    assert fragment in err.value.message


def test_dump_round_trips(config: NodeConfig) -> None:
    again = load_node_config(config.base_dir / "node.toml")
    assert again == config
    assert dump_node_config(again) == dump_node_config(config)


def test_check_config_accepts_a_good_bundle(config: NodeConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edge", "check-config", "--config", str(config.base_dir / "node.toml")]) == 0
    out = capsys.readouterr().out
    assert "config OK" in out
    assert "policy v1: building D7 in group 1" in out


def test_check_config_rejects_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL + "relay_pulse = 3\n")
    assert main(["edge", "check-config", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "'node.relay_pulse' = 3" in err


def test_check_config_reports_a_bundle_from_another_campus(
    config: NodeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    other = Campus()
    (config.base_dir / "trust-bundle.json").write_text(other.bundle.dumps(), encoding="utf-8")
    assert main(["edge", "check-config", "--config", str(config.base_dir / "node.toml")]) == 1
    assert "root key" in capsys.readouterr().err
