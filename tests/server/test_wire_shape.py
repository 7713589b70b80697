"""An API shape derived from a stored row (server.web.registry.wire_shape): the row's fields but the
ones dropped, with their types and defaults, documented in OpenAPI like a hand-written dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from server.web.registry import json_schema, wire_shape


@dataclass(frozen=True)
class Row:
    """A stored row."""

    id: int
    secret: str
    name: str | None
    tags: list[str] = field(default_factory=list)
    note: str = ""


def test_the_shape_keeps_every_field_but_the_dropped_ones() -> None:
    Out = wire_shape(Row, "RowOut", module=__name__, drop=("secret",), doc="A row as the API shows it.")
    assert [f.name for f in dataclasses.fields(Out)] == ["id", "name", "tags", "note"]
    out = Out(id=1, name=None)
    assert dataclasses.asdict(out) == {"id": 1, "name": None, "tags": [], "note": ""}
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.id = 2  # type: ignore[misc]
    components: dict[str, object] = {}
    assert json_schema(Out, components) == {"$ref": "#/components/schemas/RowOut"}
    assert components["RowOut"] == {
        "type": "object", "additionalProperties": False, "required": ["id", "name"],
        "description": "A row as the API shows it.",
        "properties": {"id": {"type": "integer"}, "name": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                       "tags": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}}}


def test_dropping_a_field_the_row_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Row has no field \['secrets'\]"):
        wire_shape(Row, "RowOut", module=__name__, drop=("secrets",))
