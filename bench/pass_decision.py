"""Pass size and decision cost.

Prints, measured in one run: the pass text length, its QR version at error correction M, the
decision function's verdicts per second, raw Ed25519 verifications per second, and their ratio
(target ≥ 0.8: deciding should cost little more than checking the signature).

    python bench/pass_decision.py
"""

from __future__ import annotations

import time
from statistics import median

from server.qr import qr_version
from shared.clock import from_unix
from shared.decision import decide
from shared.keys import private_key_from_seed
from shared.pass_format import PassFields, PassStatus, decode_pass, sign_pass
from shared.policy import BuildingPolicy
from shared.revocation import RevocationEntry, RevocationSet
from shared.trust import issue_certificate, make_bundle

ROOT = private_key_from_seed(b"\x01" * 32)
ISSUER = private_key_from_seed(b"\x02" * 32)
NOW_S = 1_780_200_000


def rate(fn, n: int, rounds: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Median calls per second of ``fn`` over ``rounds`` rounds of ``n`` calls."""
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - t0))
    return median(rates)


def main() -> None:
    cert = issue_certificate(ROOT, 1, ISSUER.public_key(), NOW_S - 86_400, NOW_S + 86_400 * 365)
    trust = make_bundle(ROOT, 1, NOW_S, [cert])
    fields = PassFields(1, b"\x10" * 8, b"\x20" * 8, PassStatus.GREEN, (3,), NOW_S, NOW_S + 86_400)
    text = sign_pass(fields, ISSUER)
    three = sign_pass(PassFields(1, b"\x11" * 8, b"\x20" * 8, PassStatus.GREEN, (3, 4, 5), NOW_S,
                                 NOW_S + 86_400), ISSUER)
    revoked = RevocationSet()
    for i in range(5000):  # a realistic list: a few thousand revoked serials
        revoked.add(RevocationEntry(i + 1, NOW_S + 86_400, serial=i.to_bytes(8, "big")))
    policy = BuildingPolicy("LIB", 3)
    now = from_unix(NOW_S + 60)
    assert decide(text, trust, revoked, policy, now).accepted

    signed = decode_pass(text)
    pub = ISSUER.public_key()
    n = 1000
    # Interleave short rounds of the two measurements so machine noise hits both alike, and
    # keep each one's best round (the timeit convention: slower rounds measure other load).
    decide_rates, verify_rates = [], []
    for _ in range(11):
        decide_rates.append(rate(lambda: decide(text, trust, revoked, policy, now), n, rounds=1))
        verify_rates.append(rate(lambda: pub.verify(signed.signature, signed.signed_bytes), n, rounds=1))
    d, v = max(decide_rates), max(verify_rates)
    print(f"pass text length (1 scope):      {len(text)} chars, QR version {qr_version(text)} at M")
    print(f"pass text length (3 scopes):     {len(three)} chars, QR version {qr_version(three)} at M")
    print(f"decision verdicts per second:    {d:,.0f}")
    print(f"raw Ed25519 verify per second:   {v:,.0f}")
    print(f"ratio decision / raw verify:     {d / v:.2f}  (best of 11 interleaved rounds each; target >= 0.80)")
    print(f"  (median rounds: {median(decide_rates):,.0f} vs {median(verify_rates):,.0f} per second)")


if __name__ == "__main__":
    main()
