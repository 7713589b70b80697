"""Argon2id password hashing (RFC 9106) through ``cryptography``, off the event loop.

Parameters: memory 19 MiB, 2 passes, 1 lane: the OWASP password-storage minimum for Argon2id.
One hash takes about 40-50 ms on one core of a small server. 64 MiB would be ~4x slower and
multiply memory per concurrent login: with 30,000 students logging in around 08:00 on a
2-core machine the login rate is bounded by hashing, so we keep the cheapest recommended
setting and rely on login throttling against online guessing. Sessions last days, so most
daily visits need no hash at all. Hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``),
so parameters can be raised later: :meth:`PasswordHasher.needs_rehash` tells when.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost: ``memory_kib`` KiB, ``iterations`` passes, ``lanes`` parallelism, 32-byte output."""

    memory_kib: int = 19 * 1024
    iterations: int = 2
    lanes: int = 1


# For tests and benchmarks of everything but hashing itself; never for a real deployment.
FAST_TEST_PARAMS = Argon2Params(memory_kib=64, iterations=1, lanes=1)


class PasswordHasher:
    """Hash and verify passwords with Argon2id.

    Args:
        params: the cost for new hashes (verification reads the cost from the stored hash).
        executor: where hashing runs (None: the event loop's default thread pool). The work is
            CPU-bound native code; it must never run on the event loop thread.
    """

    def __init__(self, params: Argon2Params | None = None, executor: Executor | None = None) -> None:
        self.params = params or Argon2Params()
        self.executor = executor

    def hash_sync(self, password: str) -> str:
        """The PHC string of ``password`` with a fresh 16-byte salt (blocking; ~45 ms by default)."""
        kdf = Argon2id(
            salt=os.urandom(16),
            length=32,
            iterations=self.params.iterations,
            lanes=self.params.lanes,
            memory_cost=self.params.memory_kib,
        )
        return kdf.derive_phc_encoded(password.encode("utf-8"))

    @staticmethod
    def verify_sync(password: str, phc: str) -> bool:
        """True when ``password`` matches the stored PHC string (blocking). A malformed hash is False."""
        try:
            Argon2id.verify_phc_encoded(password.encode("utf-8"), phc)
        except (InvalidKey, ValueError):
            return False
        return True

    def needs_rehash(self, phc: str) -> bool:
        """True when ``phc`` was made with other parameters than :attr:`params`."""
        p = self.params
        return f"$m={p.memory_kib},t={p.iterations},p={p.lanes}$" not in phc

    async def hash(self, password: str) -> str:
        """:meth:`hash_sync` in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.hash_sync, password)

    async def verify(self, password: str, phc: str) -> bool:
        """:meth:`verify_sync` in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.verify_sync, password, phc)
