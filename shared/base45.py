"""Base45 encoding (RFC 9285), the text form of the pass for QR alphanumeric mode.

Every output character is in the QR alphanumeric set (``0-9 A-Z space $ % * + - . / :``),
so a QR encoder can use alphanumeric mode (5.5 bits per character) instead of byte mode.
"""

from __future__ import annotations

import struct

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_ALPHABET_BYTES = ALPHABET.encode("ascii")
_TO_VALUE = bytes.maketrans(_ALPHABET_BYTES, bytes(range(45)))
# table lookups are cheaper than multiplications in the per-scan decode loop
_X45 = tuple(i * 45 for i in range(45))
_X2025 = tuple(i * 2025 for i in range(45))


class Base45Error(ValueError):
    """The text is not valid base45 (RFC 9285 §4): bad character, length or value."""


def b45encode(data: bytes) -> str:
    """Encode ``data`` as base45 text (RFC 9285 §4.2): 2 bytes → 3 chars, 1 byte → 2 chars."""
    out: list[str] = []
    alphabet = ALPHABET
    n = len(data)
    for i in range(0, n - 1, 2):
        v = (data[i] << 8) | data[i + 1]
        v, c = divmod(v, 45)
        e, d = divmod(v, 45)
        out.append(alphabet[c] + alphabet[d] + alphabet[e])
    if n % 2:
        d, c = divmod(data[-1], 45)
        out.append(alphabet[c] + alphabet[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode base45 ``text`` (RFC 9285 §4.3).

    Raises:
        Base45Error: a character outside the alphabet, a length of 1 mod 3, or a triple
            whose value exceeds 65535 (or a pair exceeding 255).
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise Base45Error("base45 text has a non-ASCII character") from None
    if raw.translate(None, _ALPHABET_BYTES):
        bad = next(c for c in text if c not in _INDEX)
        raise Base45Error(f"character {bad!r} is not in the base45 alphabet")
    n = len(raw)
    if n % 3 == 1:
        raise Base45Error(f"base45 text length {n} is 1 mod 3; expected 0 or 2 mod 3")
    vals = raw.translate(_TO_VALUE)
    it = iter(vals[: n - n % 3])
    words = [a + _X45[b] + _X2025[c] for a, b, c in zip(it, it, it, strict=False)]
    if words and max(words) > 0xFFFF:
        raise Base45Error(f"base45 triple has value {max(words)} > 65535")
    out = struct.pack(f">{len(words)}H", *words)
    if n % 3 == 2:
        v = vals[-2] + vals[-1] * 45
        if v > 0xFF:
            raise Base45Error(f"base45 final pair has value {v} > 255")
        out += bytes((v,))
    return out
