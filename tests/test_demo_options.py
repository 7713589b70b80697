"""``campuspass demo`` options: door status ports, the walkthrough's free ports, the banner's hint."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from campuspass import demo
from campuspass.demo_setup import load_demo, set_status_ports, setup_demo
from campuspass.processes import free_port
from edge.config import load_node_config
from server.passwords import FAST_TEST_PARAMS


def test_status_ports_option_reads_two_different_ports() -> None:
    assert demo.status_ports_arg("8571,8572") == (8571, 8572)
    assert demo.status_ports_arg(" 9001 , 9002 ") == (9001, 9002)
    for bad in ("8571", "8571,8571", "a,b", "0,8572", "8571,70000", "1,2,3", "８５７１,8572"):
        with pytest.raises(argparse.ArgumentTypeError):
            demo.status_ports_arg(bad)


def test_the_cli_refuses_bad_status_ports_with_the_usage() -> None:
    r = subprocess.run([sys.executable, "-m", "campuspass", "demo", "--status-ports", "8571"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "expected two ports A,B" in r.stderr


def test_chosen_ports_are_used_and_busy_ones_refused() -> None:
    a, b = free_port(), free_port()
    assert demo._status_ports(8080, (a, b), prefer_defaults=True) == (a, b)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(demo.DemoError, match="in use"):
            demo._status_ports(8080, (busy, b), prefer_defaults=True)
    with pytest.raises(demo.DemoError, match="server port"):
        demo._status_ports(a, (a, b), prefer_defaults=True)
    # The walkthrough (prefer_defaults=False) never takes the well-known ports.
    assert not set(demo._status_ports(8080, None, prefer_defaults=False)) & set(demo.STATUS_PORTS)


def test_a_reused_demo_moves_its_doors_to_the_given_ports(tmp_path: Path) -> None:
    layout = setup_demo(tmp_path / "data", port=free_port(), status_ports=(free_port(), free_port()),
                        students_per_department=1, hasher_params=FAST_TEST_PARAMS, sync=False)
    a, b = free_port(), free_port()
    moved = set_status_ports(layout, (a, b))
    assert [n.status_port for n in moved.nodes] == [a, b]
    assert [load_node_config(n.config_path).status.port for n in moved.nodes] == [a, b]
    again = load_demo(tmp_path / "data")
    assert again is not None and [n.status_port for n in again.nodes] == [a, b]


def test_the_banner_suggests_a_walkthrough_command_that_exists_here(tmp_path: Path) -> None:
    old = Path.cwd()
    try:
        os.chdir(Path(__file__).resolve().parents[1])  # a source checkout: ./dev
        assert demo.walkthrough_command() == "./dev demo --walkthrough"
        os.chdir(tmp_path)  # elsewhere: what is on the PATH, or this interpreter
        cmd = demo.walkthrough_command()
        assert cmd in ("campuspass demo --walkthrough", f"{sys.executable} -m campuspass demo --walkthrough")
    finally:
        os.chdir(old)
