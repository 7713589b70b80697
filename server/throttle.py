"""Login throttling per account and per client address (ARCHITECTURE §10).

Counting failures: below ``slow_after`` nothing happens; from ``slow_after`` each further try
must wait ``slow_wait_s`` after the previous failure (``login_slowed``); from ``block_after``
every try is refused until ``block_s`` after the last failure (``login_blocked``), and each
failure while at the block threshold blocks again. A success clears the account's counter.
With the defaults (5/10, 30 s, 15 min) one account allows about 100 guesses a day: finding a
six-character initial password (10^6 digit strings, with X) would take decades.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.config import AuthConfig
from server.errors import TooManyRequests
from server.storage.throttle import FailureCount, LoginThrottleStore


@dataclass(frozen=True, slots=True)
class Limits:
    """Thresholds for one kind of key (failure counts; seconds)."""

    slow_after: int
    block_after: int
    slow_wait_s: int
    block_s: int


def verdict(count: FailureCount | None, limits: Limits, now_s: int, forget_after_s: int) -> tuple[str, int]:
    """``("ok", 0)``, ``("slowed", wait_s)`` or ``("blocked", wait_s)`` for a counter at ``now_s``."""
    if count is None or now_s - count.last_failure_at_s > forget_after_s:
        return "ok", 0
    since = now_s - count.last_failure_at_s
    if count.failures >= limits.block_after and since < limits.block_s:
        return "blocked", limits.block_s - since
    if count.failures >= limits.slow_after and since < limits.slow_wait_s:
        return "slowed", limits.slow_wait_s - since
    return "ok", 0


class LoginThrottle:
    """Checks and records login attempts.

    Args:
        store: the counters.
        config: thresholds (``[auth]`` in server.toml).
    """

    def __init__(self, store: LoginThrottleStore, config: AuthConfig) -> None:
        self.store = store
        self.config = config
        self.account = Limits(config.account_slow_after, config.account_block_after, config.slow_wait_s,
                              config.block_s)
        self.address = Limits(config.address_slow_after, config.address_block_after, config.slow_wait_s,
                              config.block_s)

    @staticmethod
    def keys(number: str, address: str) -> tuple[str, str]:
        """The counter keys of an attempt."""
        return f"account:{number}", f"address:{address}"

    async def check(self, number: str, address: str, now_s: int) -> bool:
        """Refuse the attempt before any password is checked when throttled.

        Returns:
            True when the account has a failure counter (so a success has something to clear).

        Raises:
            TooManyRequests: code ``login_blocked`` or ``login_slowed``, with ``retry_after_s``.
        """
        acc_key, addr_key = self.keys(number, address)
        counts = await self.store.get_many([acc_key, addr_key])
        worst = ("ok", 0)
        for key, limits in ((acc_key, self.account), (addr_key, self.address)):
            v = verdict(counts.get(key), limits, now_s, self.config.forget_after_s)
            if (v[0] == "blocked", v[1]) > (worst[0] == "blocked", worst[1]):
                worst = v
        kind, wait_s = worst
        if kind == "blocked":
            minutes = max(1, (wait_s + 59) // 60)
            raise TooManyRequests(
                f"too many failed logins: login is blocked for {minutes} more minute(s); "
                "if you forgot your password ask your counsellor or the IT office to reset it",
                retry_after_s=wait_s, code="login_blocked")
        if kind == "slowed":
            raise TooManyRequests(f"several failed logins: wait {wait_s} s before trying again",
                                  retry_after_s=wait_s, code="login_slowed")
        return acc_key in counts

    async def failed(self, number: str, address: str, now_s: int) -> None:
        """Count a failed attempt for the account and the address."""
        await self.store.record_failure(list(self.keys(number, address)), now_s, self.config.forget_after_s)

    async def succeeded(self, number: str) -> None:
        """Clear the account's failures (the address counter decays on its own)."""
        await self.store.clear(self.keys(number, "")[0])
