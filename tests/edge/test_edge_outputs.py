"""Door outputs on gpiozero MockFactory: exact pin states per verdict, status, fail-secure."""

from __future__ import annotations

from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import GpioConfig, PinConfig
from edge.outputs import DoorOutputs, Indication, NodeStatus, indication_for
from shared.decision import Reason

PINS = {"green": 17, "red": 27, "buzzer": 22, "relay": 23}


def levels(factory: MockFactory) -> dict[str, bool]:
    """Electrical level of each pin (True = high)."""
    return {name: bool(factory.pin(num).state) for name, num in PINS.items()}


def make(active_high: bool = True, pulse_s: float = 3.0) -> tuple[DoorOutputs, MockFactory]:
    factory = MockFactory()
    cfg = GpioConfig(
        pin_factory="mock", relay_pulse_s=pulse_s,
        green=PinConfig(17), red=PinConfig(27), buzzer=PinConfig(22), relay=PinConfig(23, active_high),
    )
    return DoorOutputs(cfg, factory, start_mono_s=0.0), factory


@pytest.mark.parametrize(
    ("accepted", "reason", "expected"),
    [
        (True, Reason.ACCEPTED, Indication.ACCEPT),
        (False, Reason.NOT_CLEARED, Indication.NOT_CLEARED),
        (False, Reason.EXPIRED, Indication.EXPIRED),
        (False, Reason.REVOKED, Indication.INVALID),
        (False, Reason.NOT_CAMPUS_PASS, Indication.INVALID),
        (False, Reason.STALE_TRUST, Indication.INVALID),
    ],
)
def test_verdict_to_pattern(accepted: bool, reason: Reason, expected: Indication) -> None:
    assert indication_for(accepted, reason) is expected


def test_relay_starts_locked_for_both_polarities() -> None:
    out, factory = make(active_high=True)
    assert levels(factory)["relay"] is False
    out.close()
    out, factory = make(active_high=False)
    assert levels(factory)["relay"] is True  # active-low relay: high = de-energised = locked
    out.close()


def test_accept_pulses_the_relay_for_exactly_the_configured_time() -> None:
    out, factory = make(pulse_s=3.0)
    out.show(Indication.ACCEPT, 100.0)
    assert levels(factory) == {"green": True, "red": False, "buzzer": True, "relay": True}
    out.tick(100.05)
    assert levels(factory)["buzzer"] is True
    out.tick(100.1)
    assert levels(factory) == {"green": True, "red": False, "buzzer": False, "relay": True}
    out.tick(102.999)
    assert levels(factory)["relay"] is True
    out.tick(103.0)
    assert levels(factory)["relay"] is False
    assert out.state()["showing"] is None
    out.close()


def test_active_low_relay_is_driven_low_to_open() -> None:
    out, factory = make(active_high=False, pulse_s=1.0)
    out.show(Indication.ACCEPT, 0.0)
    assert levels(factory)["relay"] is False
    assert out.state()["relay"] == "unlocked"
    out.tick(1.0)
    assert levels(factory)["relay"] is True
    out.close()
    assert levels(factory)["relay"] is True


def buzzer_spans(out: DoorOutputs, factory: MockFactory, start: float, length_s: float) -> list[tuple[float, float]]:
    """Buzzer on-intervals, sampled in the middle of every 10 ms step (no float edge effects)."""
    spans: list[tuple[float, float]] = []
    on_step = None
    steps = int(round(length_s / 0.01))
    for i in range(steps):
        out.tick(start + (i + 0.5) * 0.01)
        state = levels(factory)["buzzer"]
        if state and on_step is None:
            on_step = i
        elif not state and on_step is not None:
            spans.append((on_step / 100, i / 100))
            on_step = None
    return spans


@pytest.mark.parametrize(
    ("indication", "expected_beeps"),
    [
        (Indication.NOT_CLEARED, [(0.0, 0.15), (0.3, 0.45)]),
        (Indication.EXPIRED, [(0.0, 0.6)]),
        (Indication.INVALID, [(0.0, 0.1), (0.2, 0.3), (0.4, 0.5)]),
    ],
)
def test_denials_show_red_with_distinct_buzzer_patterns(indication: Indication, expected_beeps: list) -> None:
    out, factory = make()
    out.set_status(NodeStatus.ONLINE, 0.0)
    out.show(indication, 10.0)
    assert levels(factory) == {"green": False, "red": True, "buzzer": True, "relay": False}
    assert buzzer_spans(out, factory, 10.0, 1.0) == expected_beeps
    out.tick(11.99)
    assert levels(factory)["red"] is True
    out.tick(12.0)
    assert levels(factory)["red"] is False  # back to the online indication (green blips only)
    assert levels(factory)["relay"] is False
    out.close()


def test_status_indication_under_results() -> None:
    out, factory = make()
    changes: list[dict[str, Any]] = []
    out.add_listener(changes.append)
    out.set_status(NodeStatus.ONLINE, 0.0)
    assert levels(factory)["green"] is True  # the online blip
    out.tick(0.1)
    assert levels(factory)["green"] is False
    out.tick(4.05)
    assert levels(factory)["green"] is True
    out.set_status(NodeStatus.FAULT, 5.0)
    out.tick(5.5)
    assert levels(factory) == {"green": False, "red": True, "buzzer": False, "relay": False}
    out.show(Indication.ACCEPT, 6.0)
    out.tick(9.0)  # the result is over: back to the steady fault indication
    assert levels(factory)["red"] is True and out.state()["showing"] is None
    assert [c["status"] for c in changes][:1] == ["online"]
    assert any(c["showing"] == "accept" and c["relay"] == "unlocked" for c in changes)
    out.close()


def test_lock_ends_an_open_pulse_and_close_releases_pins() -> None:
    out, factory = make()
    out.show(Indication.ACCEPT, 0.0)
    out.lock()
    assert levels(factory)["relay"] is False
    out.tick(0.5)
    assert levels(factory)["relay"] is False  # the pattern does not re-open it
    out.close()
    out.close()
    assert levels(factory) == {"green": False, "red": False, "buzzer": False, "relay": False}
