"""Base45 encoding (RFC 9285), the text form of the pass for QR alphanumeric mode.

Every output character is in the QR alphanumeric set (``0-9 A-Z space $ % * + - . / :``),
so a QR encoder can use alphanumeric mode (5.5 bits per character) instead of byte mode.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


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
    index = _INDEX
    try:
        values = [index[c] for c in text]
    except KeyError as exc:
        raise Base45Error(f"character {exc.args[0]!r} is not in the base45 alphabet") from None
    n = len(values)
    if n % 3 == 1:
        raise Base45Error(f"base45 text length {n} is 1 mod 3; expected 0 or 2 mod 3")
    out = bytearray()
    for i in range(0, n - 2, 3):
        v = values[i] + values[i + 1] * 45 + values[i + 2] * 2025
        if v > 0xFFFF:
            raise Base45Error(f"base45 triple at {i} has value {v} > 65535")
        out.append(v >> 8)
        out.append(v & 0xFF)
    if n % 3 == 2:
        v = values[-2] + values[-1] * 45
        if v > 0xFF:
            raise Base45Error(f"base45 final pair has value {v} > 255")
        out.append(v)
    return bytes(out)
