"""Ids from forms and URLs: ASCII digits that fit SQLite's 64-bit INTEGER, nothing else."""

import pytest

from server.web.rendering import form_ids, parse_id


@pytest.mark.parametrize(("text", "value"), [("7", 7), ("000123", 123), ("9" * 18, int("9" * 18))])
def test_valid_ids(text: str, value: int) -> None:
    assert parse_id(text) == value


@pytest.mark.parametrize("text", ["", "²", "٣", "9" * 19, "-1", "+1", "1.0", " 1", None, 5])
def test_invalid_ids(text: object) -> None:
    assert parse_id(text) is None


def test_form_ids_keeps_valid_ones_up_to_the_limit() -> None:
    assert form_ids(["1", "x", "²", "2", "3"], 2) == [1, 2]
