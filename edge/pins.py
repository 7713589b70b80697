"""gpiozero pin factories that set an output's level *before* the pin becomes an output.

Why: gpiozero's ``OutputDevice(initial_value=False)`` calls ``pin.output_with_state(level)``,
whose default (and the lgpio backend's) makes the pin an output first and writes the level
second. ``lgpio.gpio_claim_output`` without a level claims the line at 0 V, so an **active-low**
relay (energised by a low pin) is energised for the moment between the two steps, at every
start: on a real door, a click of the lock. The factories here override that one step per
backend so that the line is never driven to a level other than the one asked for:

========  ================================================================================
backend   how the level is set first
========  ================================================================================
mock      :class:`SafeMockPin` latches the level, then switches the function to output
lgpio     :class:`SafeLGPIOPin` claims the line as an output *with* its level (one call)
rpigpio   gpiozero's own ``GPIO.setup(..., initial=level)`` already does it (used as is)
========  ================================================================================

pigpio and gpiozero's pure-Python ``native`` backend are not offered: a door relay on them
would be driven before its level is set (``make_pin_factory`` says so instead).

Between power-on and the first output call the pin is an input and the level is set by the
pull resistors (docs/raspberry-pi.md, "Relay polarity"); after ``close()`` gpiozero returns
the pin to an input, and the same pull resistor holds the lock.
"""

from __future__ import annotations

import importlib
from typing import Any

from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPin

from shared.errors import CampusPassError


class SafeMockPin(MockPin):
    """A gpiozero ``MockPin`` whose :meth:`output_with_state` latches the level before the pin
    becomes an output, like a real GPIO's output register (so a recording of the pin never
    shows it driven at a level nobody asked for)."""

    def output_with_state(self, state: Any) -> None:
        """Make the pin an output at ``state`` (bool level, True = high), level first."""
        if self._function == "output":
            self.state = state
            return
        self._change_state(bool(state))  # the latch: not driven while the pin is an input
        self.function = "output"


class SafeMockFactory(MockFactory):
    """gpiozero ``MockFactory`` whose pins are :class:`SafeMockPin` (or a subclass of it, given as
    ``pin_class``: tests pass a recording one)."""

    def __init__(self, revision: str | None = None, pin_class: type[MockPin] | None = None) -> None:
        cls = pin_class or SafeMockPin
        if not issubclass(cls, SafeMockPin):
            raise ValueError(f"pin_class must be a SafeMockPin, not {cls!r}")
        super().__init__(revision=revision, pin_class=cls)


def _safe_lgpio_factory() -> Factory:
    """gpiozero's ``LGPIOFactory`` with :class:`SafeLGPIOPin` pins (imports lgpio: on a Pi only)."""
    lgpio = importlib.import_module("lgpio")
    lgpio_pins = importlib.import_module("gpiozero.pins.lgpio")

    class SafeLGPIOPin(lgpio_pins.LGPIOPin):  # type: ignore[name-defined,misc]
        """An lgpio pin claimed as an output together with its level (``gpio_claim_output``'s
        ``level`` argument): no instant at the default 0 V."""

        def output_with_state(self, state: Any) -> None:
            callback = getattr(self, "_callback", None)  # a when_changed watcher (inputs only)
            if callback is not None:
                callback.cancel()
                self._callback = None
            lgpio.gpio_claim_output(self.factory._handle, self._number, 1 if state else 0)

    class SafeLGPIOFactory(lgpio_pins.LGPIOFactory):  # type: ignore[name-defined,misc]
        def __init__(self, chip: int | None = None) -> None:
            super().__init__(chip)
            self.pin_class = SafeLGPIOPin

    factory: Factory = SafeLGPIOFactory()
    return factory


def make_pin_factory(kind: str) -> Factory:
    """The gpiozero pin factory for ``gpio.pin_factory``.

    Args:
        kind: ``mock`` → a new :class:`SafeMockFactory`; ``native`` → lgpio (Raspberry Pi OS
            Bookworm's ``python3-lgpio``) with :class:`SafeLGPIOPin`, else RPi.GPIO.

    Raises:
        CampusPassError: code ``gpio`` when no GPIO library that can set a level before the pin
            becomes an output is installed (the messages of both attempts are given).
    """
    if kind == "mock":
        return SafeMockFactory()
    errors: list[str] = []
    try:
        return _safe_lgpio_factory()
    except Exception as exc:  # ImportError off a Pi, lgpio.error without /dev/gpiochip*
        errors.append(f"lgpio: {exc}")
    try:
        rpigpio = importlib.import_module("gpiozero.pins.rpigpio")
        factory: Factory = rpigpio.RPiGPIOFactory()
        return factory
    except Exception as exc:
        errors.append(f"RPi.GPIO: {exc}")
    raise CampusPassError(
        "gpio.pin_factory = \"native\": no usable GPIO library (" + "; ".join(errors) + "); "
        "install python3-lgpio (docs/raspberry-pi.md), or use pin_factory = \"mock\" off a Pi",
        code="gpio",
    )
