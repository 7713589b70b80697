"""Base45 against the examples of RFC 9285 §4.3–4.4, and its failure modes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.base45 import ALPHABET, Base45Error, b45decode, b45encode


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ],
)
def test_rfc9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("GGW", "triple above 65535"),
        ("A", "length 1 mod 3"),
        ("ab", "lower case is not in the alphabet"),
        (":Z", "pair above 255"),
        ("BB8é", "non-ASCII"),
    ],
)
def test_invalid_text_raises(text: str, why: str) -> None:
    with pytest.raises(Base45Error):
        b45decode(text)


@given(st.binary(max_size=200))
def test_round_trip_and_alphabet(raw: bytes) -> None:
    text = b45encode(raw)
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == raw
