"""Install extras: a Raspberry Pi installs ``campuspass[edge]`` and gets nothing of the central
server (no page templates, no LDAP, no spreadsheets); the server installs ``campuspass[server]``
and gets no GPIO library. Checked two ways: the dependency closure of each extra read from the
installed package's metadata (what pip resolves), and the command line run with the other
side's modules made unimportable (what a person on that machine sees)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from campuspass.cli import EXTRA_OF_MODULE

SERVER_ONLY = {"aiohttp-jinja2", "segno", "openpyxl", "ldap3", "psycopg", "psycopg-pool"}
EDGE_ONLY = {"gpiozero"}


def closure(extras: set[str]) -> set[str]:
    """Every distribution ``pip install campuspass[extras]`` brings, by canonical name."""
    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = [("campuspass", extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # a requirement for another platform (its marker said so)
        for line in requires:
            req = Requirement(line)
            env_ok = [req.marker is None or req.marker.evaluate({"extra": e}) for e in (wanted or {""})]
            if not any(env_ok):
                continue
            dep = canonicalize_name(req.name)
            if dep == "campuspass":
                todo.append((dep, set(req.extras)))
            elif dep not in seen:
                seen.add(dep)
                todo.append((dep, set(req.extras)))
    return seen


def test_the_edge_extra_brings_nothing_of_the_server() -> None:
    edge = closure({"edge"})
    assert EDGE_ONLY <= edge
    assert edge & SERVER_ONLY == set()


def test_the_server_extra_brings_no_gpio() -> None:
    server = closure({"server"})
    assert SERVER_ONLY <= server
    assert server & EDGE_ONLY == set()


def test_the_command_line_knows_every_extras_module() -> None:
    assert {m.replace("_", "-") for m, e in EXTRA_OF_MODULE.items() if e == "server"} == SERVER_ONLY
    assert {m for m, e in EXTRA_OF_MODULE.items() if e == "edge"} == EDGE_ONLY


BLOCKER = textwrap.dedent('''
    import os, sys
    from importlib.abc import MetaPathFinder

    BLOCKED = set(os.environ["CAMPUSPASS_TEST_UNINSTALLED"].split(","))

    class Uninstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled())
''')


def cli(tmp_path: Path, uninstalled: set[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``campuspass ARGS`` in a fresh interpreter where ``uninstalled`` modules cannot be imported."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{Path.cwd()}",
           "CAMPUSPASS_TEST_UNINSTALLED": ",".join(sorted(uninstalled))}
    return subprocess.run([sys.executable, "-m", "campuspass", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)


@pytest.mark.parametrize(("uninstalled", "works", "refused", "extra"), [
    ({m for m, e in EXTRA_OF_MODULE.items() if e == "server"},
     ["provision", "enroll", "--help"], ["server", "run", "--data", "data"], "server"),
    ({m for m, e in EXTRA_OF_MODULE.items() if e == "edge"},
     ["server", "check-config", "--help"], ["edge", "run", "--config", "node.toml"], "edge"),
])
def test_a_command_of_the_missing_side_says_how_to_install_it(
    tmp_path: Path, uninstalled: set[str], works: list[str], refused: list[str], extra: str,
) -> None:
    listed = cli(tmp_path, uninstalled, "--help")
    assert listed.returncode == 0, listed.stderr
    assert "(not installed here)" in listed.stdout
    ok = cli(tmp_path, uninstalled, *works)
    assert ok.returncode == 0, ok.stderr
    no = cli(tmp_path, uninstalled, *refused)
    assert no.returncode == 1
    assert f"pip install 'campuspass[{extra}]'" in no.stderr and "Traceback" not in no.stderr
