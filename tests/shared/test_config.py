"""Strict config: unknown keys and wrong types are refused with the dotted key named."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from shared.config import from_mapping, load_toml
from shared.errors import ConfigError


@dataclass(frozen=True)
class Pins:
    relay: int = 17
    active_high: bool = True


@dataclass(frozen=True)
class Node:
    name: str
    direction: Literal["entry", "exit"] = "entry"
    pulse_s: float = 3.0
    pins: Pins = field(default_factory=Pins)
    tags: list[str] = field(default_factory=list)
    url: str | None = None


def test_valid_config_with_defaults() -> None:
    node = from_mapping(Node, {"name": "LIB-1", "pins": {"relay": 5}, "pulse_s": 2})
    assert node == Node(name="LIB-1", pins=Pins(relay=5), pulse_s=2.0)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "x", "colour": "red"}, "unknown key 'colour'"),
        ({"name": "x", "pins": {"realy": 5}}, "unknown key 'pins.realy'"),
        ({"name": "x", "pins": {"relay": "17"}}, "pins.relay = '17'; expected an integer"),
        ({"name": "x", "pins": {"active_high": 1}}, "pins.active_high = 1; expected true or false"),
        ({"name": "x", "direction": "sideways"}, "direction = 'sideways'; expected one of"),
        ({"name": "x", "tags": "a"}, "tags = 'a'; expected a list"),
        ({}, "missing required key 'name'"),
    ],
)
def test_errors_name_the_key_and_value(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(Node, data)
    assert needle in str(info.value)


def test_load_toml_reports_syntax_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "node.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad, Node)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml", Node)


@dataclass(frozen=True)
class WithInternal:
    name: str
    folder: str = field(default=".", metadata={"config": False})


def test_internal_fields_are_neither_read_nor_listed() -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(WithInternal, {"name": "x", "folder": "/etc"})
    assert "unknown key 'folder'" in str(info.value) and "['name']" in str(info.value)
    with pytest.raises(ConfigError) as info:
        from_mapping(WithInternal, {"name": "x", "typo": 1})
    assert "folder" not in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ConfigError, match="expected a finite number"):
        from_mapping(Node, {"name": "x", "pulse_s": value})
