"""Door outputs through gpiozero: green and red lights, buzzer, door relay (docs/architecture.md §7).

Every pin is a gpiozero ``DigitalOutputDevice`` built with the pin factory passed in
(``MockFactory`` off the Pi, chosen by ``gpio.pin_factory`` in ``node.toml``). Patterns are
driven by the node's clock, not by gpiozero's background blink threads: :meth:`DoorOutputs.show`
starts a pattern at a monotonic time and :meth:`DoorOutputs.tick` sets each pin for the time
it is given, so tests with a fake clock see exact pin states.

Patterns (seconds from the start of the result; ``pulse`` = ``gpio.relay_pulse_s``):

============  ======================  ==========================  =====================
result        lights                  buzzer                      relay
============  ======================  ==========================  =====================
accept        green for max(pulse,1.5)  one chirp 0–0.08           energised 0–pulse
not_cleared   red 0–2                 two beeps 0–0.15, 0.3–0.45  locked
expired       red 0–2                 one long beep 0–0.6         locked
invalid       red 0–2                 three beeps of 0.1 s        locked
============  ======================  ==========================  =====================

Under the results, a steady status indication repeats every period: ``online`` green blip
(0.1 s every 4 s), ``offline`` red blip (0.1 s every 4 s), ``trust_stale`` red blinking (0.5 s
on, 0.5 s off), ``storage_fault`` (the disk refuses writes; decisions held in memory) two red
blinks then one green blink every 2 s, ``fault`` (camera outage) red steady. The relay is never
energised by a status.

Fail-secure: the relay starts de-energised (locked) for its configured polarity, and
:meth:`DoorOutputs.lock` / :meth:`DoorOutputs.close` de-energise it (stop, SIGTERM, crash).
The pin factories of :mod:`edge.pins` set each pin's level before it becomes an output, so the
relay is never driven to the energised level, not even for an instant at start, except during an
accept pulse.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from gpiozero import DigitalOutputDevice
from gpiozero.pins import Factory

from edge.config import GpioConfig, PinConfig
from shared.decision import Reason
from shared.errors import CampusPassError

log = logging.getLogger(__name__)


class Indication(enum.StrEnum):
    """The four result patterns."""

    ACCEPT = "accept"
    NOT_CLEARED = "not_cleared"
    EXPIRED = "expired"
    INVALID = "invalid"


class NodeStatus(enum.StrEnum):
    """The steady status indication, most urgent last."""

    ONLINE = "online"
    OFFLINE = "offline"
    TRUST_STALE = "trust_stale"
    STORAGE_FAULT = "storage_fault"
    FAULT = "fault"


def indication_for(accepted: bool, reason: Reason | str) -> Indication:
    """The pattern for a verdict: accept, not cleared (black pass), expired, or invalid (any other
    denial: foreign code, bad signature, revoked, out of scope, closed, stale trust)."""
    if accepted:
        return Indication.ACCEPT
    if reason == Reason.NOT_CLEARED:
        return Indication.NOT_CLEARED
    if reason == Reason.EXPIRED:
        return Indication.EXPIRED
    return Indication.INVALID


Intervals = tuple[tuple[float, float], ...]
_DENY_LIGHT_S = 2.0


def _pattern(ind: Indication, pulse_s: float) -> tuple[float, dict[str, Intervals]]:
    if ind is Indication.ACCEPT:
        length = max(pulse_s, 1.5)
        return length, {"green": ((0, length),), "buzzer": ((0, 0.08),), "relay": ((0, pulse_s),)}
    beeps: Intervals = {
        Indication.NOT_CLEARED: ((0, 0.15), (0.3, 0.45)),
        Indication.EXPIRED: ((0, 0.6),),
        Indication.INVALID: ((0, 0.1), (0.2, 0.3), (0.4, 0.5)),
    }[ind]
    return _DENY_LIGHT_S, {"red": ((0, _DENY_LIGHT_S),), "buzzer": beeps}


_STATUS: dict[NodeStatus, tuple[float, dict[str, Intervals]]] = {
    NodeStatus.ONLINE: (4.0, {"green": ((0, 0.1),)}),
    NodeStatus.OFFLINE: (4.0, {"red": ((0, 0.1),)}),
    NodeStatus.TRUST_STALE: (1.0, {"red": ((0, 0.5),)}),
    NodeStatus.STORAGE_FAULT: (2.0, {"red": ((0, 0.2), (0.4, 0.6)), "green": ((1.0, 1.2),)}),
    NodeStatus.FAULT: (1.0, {"red": ((0, 1.0),)}),
}

_DEVICES = ("green", "red", "buzzer", "relay")


def _on(intervals: Intervals, t: float) -> bool:
    return any(start <= t < end for start, end in intervals)


Listener = Callable[[dict[str, Any]], None]


class DoorOutputs:
    """Lights, buzzer and relay of one door.

    Args:
        config: pins, polarity and relay pulse length.
        pin_factory: gpiozero pin factory (:func:`edge.pins.make_pin_factory`; a plain
            ``MockFactory()`` in tests; None = gpiozero's default, which may blip an active-low relay).
        start_mono_s: monotonic time of creation (the status pattern's phase origin).

    Raises:
        CampusPassError: code ``gpio`` when a pin cannot be claimed (translated from gpiozero).
    """

    def __init__(self, config: GpioConfig, pin_factory: Factory | None = None, start_mono_s: float = 0.0
                 ) -> None:
        self._pulse_s = config.relay_pulse_s
        self._closed = False  # set before claiming pins: close() runs if a claim fails
        self._devices: dict[str, DigitalOutputDevice] = {}
        pins: dict[str, PinConfig] = {
            "relay": config.relay, "green": config.green, "red": config.red, "buzzer": config.buzzer,
        }
        try:
            for name, pin in pins.items():  # relay first: it is locked before anything else
                self._devices[name] = DigitalOutputDevice(
                    pin.pin, active_high=pin.active_high, initial_value=False, pin_factory=pin_factory
                )
        except Exception as exc:  # gpiozero raises many kinds (GPIOZeroError, OSError, ...)
            self.close()
            raise CampusPassError(f"cannot claim GPIO pin for {name} ({pins[name].pin!r}): {exc}",
                                  code="gpio") from exc
        self._values = {name: False for name in _DEVICES}
        self._showing: Indication | None = None
        self._show_start_s = 0.0
        self._show_len_s = 0.0
        self._show_pattern: dict[str, Intervals] = {}
        self._status = NodeStatus.OFFLINE
        self._status_origin_s = start_mono_s
        self._listeners: list[Listener] = []

    # ---- observers ---------------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(state)`` (see :meth:`state`) after every change of a pin or indication."""
        self._listeners.append(fn)

    def state(self) -> dict[str, Any]:
        """``{"green": bool, "red": bool, "buzzer": bool, "relay": "locked"|"unlocked",
        "showing": result pattern or None, "status": status indication}``."""
        return {
            "green": self._values["green"],
            "red": self._values["red"],
            "buzzer": self._values["buzzer"],
            "relay": "unlocked" if self._values["relay"] else "locked",
            "showing": None if self._showing is None else self._showing.value,
            "status": self._status.value,
        }

    @property
    def status(self) -> NodeStatus:
        """The status indication shown under the results."""
        return self._status

    # ---- driving -----------------------------------------------------------------------

    def set_status(self, status: NodeStatus, mono_s: float) -> None:
        """Change the steady status indication (from ``mono_s``); logged once per change."""
        if status is self._status:
            return
        log.info("status indication: %s -> %s", self._status.value, status.value)
        self._status = status
        self._status_origin_s = mono_s
        self.tick(mono_s, force_notify=True)

    def show(self, indication: Indication, mono_s: float) -> None:
        """Start a result pattern at ``mono_s`` (replaces one still showing)."""
        length, pattern = _pattern(indication, self._pulse_s)
        self._showing = indication
        self._show_start_s = mono_s
        self._show_len_s = length
        self._show_pattern = pattern
        log.info("lights: %s", indication.value)
        self.tick(mono_s, force_notify=True)

    def tick(self, mono_s: float, force_notify: bool = False) -> None:
        """Set every pin for monotonic time ``mono_s`` (call often: every 20 ms or so)."""
        if self._closed:
            return
        if self._showing is not None and mono_s - self._show_start_s >= self._show_len_s:
            log.info("lights: %s over, back to %s", self._showing.value, self._status.value)
            self._showing = None
            force_notify = True
        if self._showing is not None:
            t = mono_s - self._show_start_s
            wanted = {name: _on(self._show_pattern.get(name, ()), t) for name in _DEVICES}
        else:
            period, pattern = _STATUS[self._status]
            t = (mono_s - self._status_origin_s) % period
            wanted = {name: _on(pattern.get(name, ()), t) for name in _DEVICES}
            wanted["relay"] = False
        changed = self._apply(wanted)
        if changed or force_notify:
            self._notify()

    def lock(self) -> None:
        """De-energise the relay now (door locked) and end any accept pattern."""
        if self._showing is Indication.ACCEPT:
            self._show_pattern = {**self._show_pattern, "relay": ()}
        if self._apply({**self._values, "relay": False}):
            log.info("relay locked")
            self._notify()

    def close(self) -> None:
        """Lock the relay, switch everything off and release the pins (idempotent)."""
        relay = self._devices.get("relay")
        if relay is not None and not relay.closed:
            relay.off()
        for dev in self._devices.values():
            if not dev.closed:
                dev.off()
                dev.close()
        if not self._closed and hasattr(self, "_values"):
            self._values = {name: False for name in _DEVICES}
            self._showing = None
        self._closed = True

    def _apply(self, wanted: dict[str, bool]) -> bool:
        changed = False
        for name in ("relay", "green", "red", "buzzer"):
            if wanted[name] != self._values[name]:
                dev = self._devices[name]
                dev.on() if wanted[name] else dev.off()
                self._values[name] = wanted[name]
                log.debug("pin %s -> %s", name, "on" if wanted[name] else "off")
                changed = True
        return changed

    def _notify(self) -> None:
        state = self.state()
        for fn in self._listeners:
            fn(state)
