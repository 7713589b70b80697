"""What an installer gets wrong on a first install: every mistake is a named error, no traceback.

Each case went through ``campuspass edge check-config`` / ``edge run`` as an installer would:
a folder or binary file where ``node.toml`` should be, ``nan``/``inf`` settings, a world-readable
``node.key``, an unreadable bundle file, a pin name the board does not have, a corrupt node
database or a ``data_dir`` that is a file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from campuspass.cli import main
from edge.bundle import check_bundle
from edge.config import GpioConfig, PinConfig, load_node_config
from edge.node import open_store
from edge.outputs import DoorOutputs
from edge.store import StoreError
from shared.errors import CampusPassError, ConfigError

from .helpers import Campus, make_bundle_dir


def _check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["edge", "check-config", "--config", str(path)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out + out.err


def test_a_folder_named_node_toml_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "node.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_node_config(folder)
    rc, out = _check_config(folder, capsys)
    assert rc == 1 and "[bad_config]" in out and str(folder) in out


def test_a_binary_node_toml_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.toml"
    path.write_bytes(b"\xff\xfe[node]\n")
    rc, out = _check_config(path, capsys)
    assert rc == 1 and "not UTF-8 text" in out and "[bad_config]" in out


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("[camera]\nstall_s = nan\n", "camera.stall_s = nan"),
        ("[camera]\nreopen_max_s = inf\n", "camera.reopen_max_s = inf"),
        ("[sync]\nread_timeout_s = inf\n", "sync.read_timeout_s = inf"),
        ("[sync]\nconnect_timeout_s = -nan\n", "sync.connect_timeout_s = nan"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path: Path, line: str, named: str) -> None:
    # stall_s = nan used to pass: the camera then flapped between outage and recovery.
    path = tmp_path / "node.toml"
    path.write_text(f"[node]\nid = 'd7-east'\nbuilding = 'D7'\n{line}", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a finite number") as err:
        load_node_config(path)
    assert named in err.value.message


def test_world_readable_node_key_is_refused_by_check_config(
    tmp_path: Path, campus: Campus, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_bundle_dir(tmp_path / "node", campus)
    key = config.path(config.files.node_key)
    key.chmod(0o644)
    with pytest.raises(CampusPassError) as err:
        check_bundle(config)
    assert err.value.code == "key_permissions" and "0644" in err.value.message
    rc, out = _check_config(config.base_dir / "node.toml", capsys)
    assert rc == 1 and "chmod 600" in out
    key.chmod(0o600)
    assert _check_config(config.base_dir / "node.toml", capsys)[0] == 0


@pytest.mark.parametrize("name", ["policy.json", "root.pub", "node.key"])
def test_an_unreadable_bundle_file_is_named(
    tmp_path: Path, campus: Campus, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    config = make_bundle_dir(tmp_path / "node", campus)
    path = config.base_dir / name
    path.unlink()
    path.mkdir()  # reading it fails with an OSError, as an unreadable file does
    rc, out = _check_config(config.base_dir / "node.toml", capsys)
    assert rc == 1 and "cannot be read" in out and name in out


def test_a_pin_the_board_lacks_is_a_gpio_error_with_pins_released() -> None:
    factory = MockFactory()
    config = GpioConfig(red=PinConfig("GPIO99"))
    with pytest.raises(CampusPassError) as err:
        DoorOutputs(config, pin_factory=factory)
    assert err.value.code == "gpio" and "GPIO99" in err.value.message
    # the relay claimed first was released again, locked: a second node can claim it
    outputs = DoorOutputs(GpioConfig(), pin_factory=factory)
    assert outputs.state()["relay"] == "locked"
    outputs.close()


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path, campus: Campus) -> None:
    config = make_bundle_dir(tmp_path / "node", campus)
    config.data_dir.write_text("", encoding="utf-8")
    with pytest.raises(StoreError) as err:
        asyncio.run(open_store(config))
    assert err.value.code == "bad_database"
