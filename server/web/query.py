"""Query parameters of API and page requests, read one way everywhere.

An absent parameter and an empty one (``?limit=``, as an HTML form sends an empty field) both
mean "not given": the default applies. Anything else is checked and refused with a 422
``invalid_field`` that names the parameter and the value.
"""

from __future__ import annotations

from datetime import date

from aiohttp import web

from server.web.errors import InvalidField


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """The whole-number query parameter ``name`` in ``lo..hi`` (``default`` when absent or empty).

    Raises:
        InvalidField: not a whole number, or outside ``lo..hi``.
    """
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise InvalidField(f"{name} {value} is not between {lo} and {hi}")
    return value


def parse_day(text: str | None, name: str) -> date | None:
    """``YYYY-MM-DD`` of a query parameter, None when absent or empty.

    Raises:
        InvalidField: not a date.
    """
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidField(f"{name} {text!r} is not YYYY-MM-DD") from None
