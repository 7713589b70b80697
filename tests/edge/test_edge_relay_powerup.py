"""The relay pin is never driven to the energised level outside an accept pulse, from the
moment its pin object exists to after shutdown, for either polarity.

Every (function, level) the relay's MockFactory pin passes through is recorded by a pin class
that notes each change of either; the recording starts when gpiozero creates the pin.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edge.config import GpioConfig, NodeConfig, PinConfig
from edge.node import Node, open_store
from edge.outputs import DoorOutputs, Indication, NodeStatus
from edge.pins import SafeMockFactory, SafeMockPin, make_pin_factory
from shared.clock import FakeClock
from shared.errors import CampusPassError

RELAY = 23

Event = tuple[str, bool]  # (function "input"/"output", level True = high)


class _Recording:
    """Mixin: ``history`` holds every (function, level) the pin has been in, from creation."""

    history: list[Event]

    def _record(self) -> None:
        now = (self._function, bool(self._state))  # type: ignore[attr-defined]
        if not self.history or self.history[-1] != now:
            self.history.append(now)

    def _set_function(self, value: str) -> None:
        super()._set_function(value)  # type: ignore[misc]
        self._record()

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)  # type: ignore[misc]
        self._record()
        return changed


class RecordingSafePin(_Recording, SafeMockPin):
    def __init__(self, factory: Any, info: Any) -> None:
        self.history = []
        super().__init__(factory, info)
        self._record()


class RecordingPlainPin(_Recording, MockPin):
    def __init__(self, factory: Any, info: Any) -> None:
        self.history = []
        super().__init__(factory, info)
        self._record()


def gpio(active_high: bool) -> GpioConfig:
    return GpioConfig(pin_factory="mock", relay_pulse_s=3.0, green=PinConfig(17), red=PinConfig(27),
                      buzzer=PinConfig(22), relay=PinConfig(RELAY, active_high))


def driven(history: list[Event]) -> list[bool]:
    """The levels the pin drove, in order (consecutive repeats folded)."""
    out: list[bool] = []
    for function, level in history:
        if function == "output" and (not out or out[-1] != level):
            out.append(level)
    return out


@pytest.mark.parametrize("active_high", [True, False])
def test_plain_gpiozero_mock_pin_blips_an_active_low_relay(active_high: bool) -> None:
    """Why edge.pins exists: gpiozero makes the pin an output before setting its level, so an
    active-low relay is driven low (energised) for a moment at every start."""
    factory = MockFactory(pin_class=RecordingPlainPin)
    out = DoorOutputs(gpio(active_high), factory)
    energised = active_high
    blipped = energised in driven(factory.pin(RELAY).history)
    out.close()
    assert blipped is (not active_high)


@pytest.mark.parametrize("active_high", [True, False])
def test_relay_energised_only_during_the_accept_pulse_from_construction_to_close(active_high: bool) -> None:
    factory = SafeMockFactory(pin_class=RecordingSafePin)
    energised, locked = active_high, not active_high
    out = DoorOutputs(gpio(active_high), factory, start_mono_s=0.0)
    pin = factory.pin(RELAY)
    assert driven(pin.history) == [locked]  # the first level it ever drives is the locked one

    for status in (NodeStatus.ONLINE, NodeStatus.OFFLINE, NodeStatus.TRUST_STALE,
                   NodeStatus.STORAGE_FAULT, NodeStatus.FAULT):
        out.set_status(status, 1.0)
        for i in range(50):
            out.tick(1.0 + i * 0.1)
    for ind in (Indication.INVALID, Indication.EXPIRED, Indication.NOT_CLEARED):
        out.show(ind, 10.0)
        for i in range(30):
            out.tick(10.0 + i * 0.1)
    assert driven(pin.history) == [locked]

    before_accept = len(pin.history)
    out.show(Indication.ACCEPT, 20.0)
    assert pin.history[-1] == ("output", energised)
    for i in range(50):
        out.tick(20.0 + i * 0.1)
    assert pin.history[before_accept:] == [("output", energised), ("output", locked)]

    out.show(Indication.ACCEPT, 30.0)
    out.lock()  # a camera outage in mid-pulse
    out.close()
    assert driven(pin.history) == [locked, energised, locked, energised, locked]
    assert pin.history[-1][0] == "input"  # released: the pull resistor holds the lock from here


@pytest.mark.parametrize("active_high", [True, False])
async def test_node_built_from_config_never_energises_the_relay_at_start_or_stop(
    active_high: bool, config: NodeConfig, clock: FakeClock
) -> None:
    factory = SafeMockFactory(pin_class=RecordingSafePin)
    config = replace(config, gpio=gpio(active_high))
    store = await open_store(config)
    try:
        node = Node(config, store, pin_factory=factory, clock=clock)
        node.refresh_status()
        node.outputs.close()
    finally:
        await store.close()
    pin = factory.pin(RELAY)
    assert driven(pin.history) == [not active_high]
    assert pin.history[0][0] == "input" and pin.history[-1][0] == "input"


def test_make_pin_factory_mock_is_safe_and_native_without_gpio_names_the_fix() -> None:
    assert isinstance(make_pin_factory("mock"), SafeMockFactory)
    with pytest.raises(ValueError, match="SafeMockPin"):
        SafeMockFactory(pin_class=MockPin)
    with pytest.raises(CampusPassError) as err:
        make_pin_factory("native")
    assert err.value.code == "gpio" and "python3-lgpio" in str(err.value)
