"""Login throttling per account, per account and address, and per address (docs/architecture.md §10;
policy and numbers in docs/security.md).

Three counters are kept for every attempt:

* ``pair:<number>|<address>``: one account from one address. Slowed after ``account_slow_after``
  failures (each further try waits ``slow_wait_s`` after the previous one, ``login_slowed``),
  blocked after ``account_block_after`` for ``block_s`` after the last one (``login_blocked``).
  This is the limit one guesser meets; the owner, at another address, does not share it.
* ``account:<number>``: the account from every address together, blocked after
  ``account_total_block_after`` (guessing spread over many addresses).
* ``address:<ip>``: every account from one address (``address_slow_after`` /
  ``address_block_after``, higher: a campus NAT puts many people behind one address).

An attempt is counted *before* the password hash runs, in the same write transaction that
decides whether it may go ahead (:meth:`LoginThrottleStore.reserve`): concurrent attempts beyond
the allowance are refused without hashing. A success refunds its count (clears the pair, takes one
off the account and address counters).

The owner always has a way in: once throttled, a person with a verified phone can ask for a
one-time login code by SMS (:meth:`server.accounts.Accounts.send_login_code`); a login carrying a
valid code passes the throttle (it is still counted), and a code is good for one login.
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


CODE_HINT = ("; if this is your account and your mobile number is verified, ask for a one-time login code "
             "by SMS and log in with it")


class LoginThrottle:
    """Reserves, refunds and clears login attempts.

    Args:
        store: the counters.
        config: thresholds (``[auth]`` in server.toml).
    """

    def __init__(self, store: LoginThrottleStore, config: AuthConfig) -> None:
        self.store = store
        self.config = config
        self.pair = Limits(config.account_slow_after, config.account_block_after, config.slow_wait_s,
                           config.block_s)
        self.account = Limits(config.account_total_block_after, config.account_total_block_after,
                              config.slow_wait_s, config.block_s)
        self.address = Limits(config.address_slow_after, config.address_block_after, config.slow_wait_s,
                              config.block_s)

    @staticmethod
    def keys(number: str, address: str) -> tuple[str, str, str]:
        """The counter keys of an attempt: ``(pair, account, address)``."""
        return f"pair:{number}|{address}", f"account:{number}", f"address:{address}"

    def _worst(self, counts: dict[str, FailureCount], number: str, address: str, now_s: int) -> tuple[str, int]:
        worst = ("ok", 0)
        for key, limits in zip(self.keys(number, address), (self.pair, self.account, self.address), strict=True):
            v = verdict(counts.get(key), limits, now_s, self.config.forget_after_s)
            if (v[0] == "blocked", v[1]) > (worst[0] == "blocked", worst[1]):
                worst = v
        return worst

    def _refuse(self, counts: dict[str, FailureCount], number: str, address: str, now_s: int) -> None:
        kind, wait_s = self._worst(counts, number, address, now_s)
        if kind == "blocked":
            minutes = max(1, (wait_s + 59) // 60)
            raise TooManyRequests(
                f"too many failed logins: login is blocked for {minutes} more minute(s){CODE_HINT}",
                retry_after_s=wait_s, code="login_blocked")
        if kind == "slowed":
            raise TooManyRequests(f"several failed logins: wait {wait_s} s before trying again",
                                  retry_after_s=wait_s, code="login_slowed")

    async def reserve(self, number: str, address: str, now_s: int, *, bypass: bool = False) -> None:
        """Count this attempt before its password is checked, or refuse it.

        Args:
            bypass: the attempt carries a valid one-time login code: counted, never refused.

        Raises:
            TooManyRequests: code ``login_blocked`` or ``login_slowed``, with ``retry_after_s``;
                nothing is counted then.
        """
        def admit(counts: dict[str, FailureCount]) -> None:
            if not bypass:
                self._refuse(counts, number, address, now_s)

        await self.store.reserve(list(self.keys(number, address)), now_s, self.config.forget_after_s, admit)

    async def is_throttled(self, number: str, address: str, now_s: int) -> bool:
        """True when a password-only attempt for ``number`` from ``address`` would be refused now."""
        counts = await self.store.get_many(list(self.keys(number, address)))
        return self._worst(counts, number, address, now_s)[0] != "ok"

    async def succeeded(self, number: str, address: str) -> None:
        """Refund a reserved attempt that succeeded: the pair is cleared, one taken off the others."""
        pair, account, addr = self.keys(number, address)
        await self.store.refund([pair], [account, addr])

    async def reset(self, number: str) -> None:
        """Forget every counter of the account (admin password reset)."""
        await self.store.clear([self.keys(number, "")[1]])
        await self.store.clear_prefix(f"pair:{number}|")
