"""``provisioning/install-pi.sh --dry-run``: the commands it would run and the unit it installs."""

from __future__ import annotations

import configparser
import dataclasses
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from edge.config import NodeConfig, NodeIdentity, dump_node_config, load_node_config

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "provisioning" / "install-pi.sh"
UNIT = REPO / "provisioning" / "campuspass-node.service"
APT_PACKAGES = ("python3-venv", "python3-picamera2", "python3-lgpio", "libzbar0")
BUNDLE_FILES = ("node.toml", "node.key", "root.pub", "trust-bundle.json", "revocations.json", "policy.json")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    cfg = NodeConfig(node=NodeIdentity(id="d7-east-1", building="D7", name="Dormitory 7 east door"))
    for name in BUNDLE_FILES:
        (folder / name).write_text(dump_node_config(cfg) if name == "node.toml" else "{}\n")
    (folder / "node.key").chmod(0o600)
    return folder


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "campuspass-0.1.0-py3-none-any.whl"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return path


def dry_run(*args: str | Path, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), "--dry-run", *map(str, args)],
                          capture_output=True, text=True, timeout=30, check=False)


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_dry_run_names_every_package_the_venv_and_the_unit(wheel: Path, bundle: Path) -> None:
    result = dry_run(wheel, bundle)
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)

    apt = next(c for c in cmds if c.startswith("apt-get install"))
    for package in APT_PACKAGES:
        assert package in apt.split(), package
    assert "python3 -m venv --system-site-packages /opt/campuspass/venv" in cmds
    pip = next(c for c in cmds if c.startswith("/opt/campuspass/venv/bin/pip install"))
    assert pip.endswith(f"'{wheel}[edge]'") and "--constraint" in pip  # the door node's extra only
    assert "usermod --append --groups gpio,video campuspass" in cmds
    user_exists = subprocess.run(["id", "-u", "campuspass"], capture_output=True, check=False).returncode == 0
    made = [c for c in cmds if c.startswith("useradd --system") and c.endswith(" campuspass")]
    assert len(made) == (0 if user_exists else 1)
    if made:
        assert "--shell /usr/sbin/nologin" in made[0]

    # The bundle: node.key 0600 owned by the service user, the rest readable by its group.
    installed = {c.split()[-1]: c for c in cmds if c.startswith("install -o") and "/etc/campuspass/node/" in c}
    assert set(installed) == {f"/etc/campuspass/node/{name}" for name in BUNDLE_FILES}
    assert "-o campuspass -g campuspass -m 0600" in installed["/etc/campuspass/node/node.key"]
    assert "-m 0640" in installed["/etc/campuspass/node/node.toml"]
    assert "install -d -o campuspass -g campuspass -m 0700 /var/lib/campuspass" in cmds

    # The unit file is printed verbatim from its one source and installed, enabled, started.
    unit_text = UNIT.read_text()
    assert f"--- /etc/systemd/system/campuspass-node.service ---\n{unit_text}--- end of" in result.stdout
    assert f"install -o root -g root -m 0644 {UNIT} /etc/systemd/system/campuspass-node.service" in cmds
    assert cmds[-3:] == ["systemctl daemon-reload", "systemctl enable campuspass-node.service",
                         "systemctl restart campuspass-node.service"]


def test_dry_run_changes_nothing_and_accepts_a_source_folder(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "pyproject.toml").write_text("[project]\nname = 'campuspass'\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = dry_run(source, bundle)
    assert result.returncode == 0, result.stderr
    assert any(c.endswith(f"install --upgrade --constraint /opt/campuspass/constraints.txt '{source}[edge]'")
               for c in commands(result.stdout))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    ("make_args", "code", "message"),
    [
        (lambda w, b: (w.with_name("missing.whl"), b), 1, "does not exist"),
        (lambda w, b: (w, b / "node.toml"), 1, "is not a folder"),
        (lambda w, b: (b / "policy.json", b), 1, "is not a wheel"),
        (lambda w, b: (w,), 2, "PACKAGE"),
        (lambda w, b: ("--frobnicate", w, b), 2, "unknown option --frobnicate"),
    ],
)
def test_bad_arguments_are_refused_before_any_command(
    wheel: Path, bundle: Path, make_args: object, code: int, message: str
) -> None:
    args = make_args(wheel, bundle)  # type: ignore[operator]
    result = dry_run(*args)
    assert result.returncode == code
    assert message in result.stdout + result.stderr
    assert commands(result.stdout) == []


def test_incomplete_bundle_is_refused(wheel: Path, bundle: Path) -> None:
    (bundle / "node.key").unlink()
    result = dry_run(wheel, bundle)
    assert result.returncode == 1 and "node.key is missing" in result.stderr


def test_the_unit_is_read_from_next_to_the_script(wheel: Path, bundle: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(SCRIPT, alone / "install-pi.sh")
    result = dry_run(wheel, bundle, script=alone / "install-pi.sh")
    assert result.returncode == 1 and "campuspass-node.service is missing" in result.stderr


def test_data_dir_rewrite_gives_a_node_toml_that_loads(wheel: Path, bundle: Path, tmp_path: Path) -> None:
    """Run the script's own sed command on a real node.toml and load it with the node's loader."""
    result = dry_run(wheel, bundle)
    sed = next(c for c in commands(result.stdout) if c.startswith("sed -i"))
    target = tmp_path / "etc" / "node.toml"
    target.parent.mkdir()
    shutil.copy(bundle / "node.toml", target)
    assert load_node_config(target).data_dir == target.parent / "data"
    command = sed.replace("/etc/campuspass/node/node.toml", str(target))
    subprocess.run(["bash", "-c", command], check=True, timeout=10)
    cfg = load_node_config(target)
    assert cfg.data_dir == Path("/var/lib/campuspass")
    assert cfg.node.id == "d7-east-1"


def unit_sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_the_node_unprivileged_restarts_with_a_limit_and_logs_to_journald() -> None:
    unit = unit_sections()
    service = unit["Service"]
    assert service["ExecStart"] == (
        "/opt/campuspass/venv/bin/campuspass edge run --config /etc/campuspass/node/node.toml")
    assert service["User"] == "campuspass" and service["Group"] == "campuspass"
    assert set(service["SupplementaryGroups"].split()) == {"gpio", "video"}
    assert service["Restart"] == "on-failure"
    assert int(unit["Unit"]["StartLimitBurst"]) > 0 and int(unit["Unit"]["StartLimitIntervalSec"]) > 0
    assert service["StandardOutput"] == "journal" and service["StandardError"] == "journal"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/campuspass"
    # These would close /dev to the GPIO chip and the camera.
    for option in ("PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock"):
        assert option not in service, option
    assert "network-online.target" not in UNIT.read_text()  # the door works offline
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def verify(unit: Path) -> tuple[int, list[str]]:
    """``systemd-analyze verify``: exit code and the complaints about this unit."""
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True, timeout=60, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    return result.returncode, [line for line in lines if unit.name in line or str(unit) in line]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # As shipped, the only complaint allowed is that the venv's campuspass does not exist here.
    code, complaints = verify(UNIT)
    missing = "Command /opt/campuspass/venv/bin/campuspass is not executable"
    assert all(missing in line for line in complaints), complaints
    # With ExecStart pointed at an executable that exists, the unit verifies cleanly.
    copy = tmp_path / "campuspass-node.service"
    text = UNIT.read_text()
    assert text.count("ExecStart=/opt/campuspass/venv/bin/campuspass ") == 1
    copy.write_text(text.replace("ExecStart=/opt/campuspass/venv/bin/campuspass ", f"ExecStart={sys.executable} "))
    code, complaints = verify(copy)
    assert (code, complaints) == (0, [])


def test_apt_packages_in_the_script_match_the_documented_list() -> None:
    line = next(line for line in SCRIPT.read_text().splitlines() if line.startswith("APT_PACKAGES="))
    assert tuple(re.findall(r"[a-z0-9.+-]+", line.split("=", 1)[1])) == APT_PACKAGES
    docs = (REPO / "docs" / "raspberry-pi.md").read_text()
    for package in APT_PACKAGES:
        assert package in docs


def test_every_node_config_key_is_documented() -> None:
    docs = (REPO / "docs" / "raspberry-pi.md").read_text()
    for name, table in typing.get_type_hints(NodeConfig).items():
        if name == "base_dir":
            continue
        for key in dataclasses.fields(table):
            assert f"`{name}.{key.name}`" in docs, f"{name}.{key.name}"
