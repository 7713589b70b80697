"""The check-in validation table, the abnormal rule and the region codes (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from server.errors import Category
from server.workflow.checkins import InvalidAnswers, is_abnormal, validate_answers
from server.workflow.regions import province_of, region_problem
from tests.workflow.conftest import checkin_body


def errors_of(**overrides: Any) -> list[tuple[str, str]]:
    body = checkin_body(**overrides)
    for key in [k for k, v in overrides.items() if v is ...]:
        del body[key]
    try:
        validate_answers(body)
    except InvalidAnswers as exc:
        return [(e.field, e.code) for e in exc.errors]
    return []


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, []),
    ({"temperature_c": 34.0}, []),
    ({"temperature_c": 42.5}, []),
    ({"temperature_c": 33.9}, [("temperature_c", "temperature_out_of_range")]),
    ({"temperature_c": 42.6}, [("temperature_c", "temperature_out_of_range")]),
    ({"temperature_c": None}, [("temperature_c", "required")]),
    ({"temperature_c": "36.5"}, [("temperature_c", "temperature_out_of_range")]),
    ({"temperature_c": True}, [("temperature_c", "temperature_out_of_range")]),
    ({"symptoms": ["none", "cough"]}, [("symptoms", "none_exclusive")]),
    ({"symptoms": ["cough", "cough"]}, [("symptoms", "duplicate")]),
    ({"symptoms": ["sneezing"]}, [("symptoms", "bad_choice")]),
    ({"symptoms": []}, [("symptoms", "required")]),
    ({"symptoms": ["fever", "cough"]}, []),
    ({"region_code": "999999"}, [("region_code", "region_unknown_province")]),
    ({"region_code": "00000"}, [("region_code", "region_not_6_digits")]),
    ({"region_code": "42010a"}, [("region_code", "region_not_6_digits")]),
    ({"region_code": "４２０１０２"}, [("region_code", "region_not_6_digits")]),
    ({"region_code": None}, [("region_code", "required")]),
    ({"location_kind": "same_city", "region_code": None}, [("region_code", "required")]),
    ({"location_kind": "on_campus", "region_code": None}, []),
    ({"location_kind": "abroad", "region_code": None}, []),
    ({"location_kind": "moon"}, [("location_kind", "bad_choice")]),
    ({"location_kind": ...}, [("location_kind", "required")]),
    ({"case_status": "recovered"}, [("case_status", "bad_choice")]),
    ({"case_contact_14d": None}, [("case_contact_14d", "required")]),
    ({"risk_area_14d": ...}, [("risk_area_14d", "required")]),
    ({"remarks": "x" * 501}, [("remarks", "too_long")]),
    ({"attest": False}, [("attest", "attest_required")]),
    ({"attest": ...}, [("attest", "attest_required")]),
    ({"temperature_c": 50, "symptoms": ["none", "fever"], "attest": False},
     [("temperature_c", "temperature_out_of_range"), ("symptoms", "none_exclusive"), ("attest", "attest_required")]),
])
def test_validation_table(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors_of(**overrides) == expected


def test_error_names_the_value_and_the_range() -> None:
    with pytest.raises(InvalidAnswers) as info:
        validate_answers(checkin_body(temperature_c=43.1))
    assert "43.1" in info.value.message and "34.0" in info.value.message and "42.5" in info.value.message
    assert info.value.category is Category.INVALID and info.value.code == "invalid_field"
    assert info.value.detail["fields"][0]["field"] == "temperature_c"


@pytest.mark.parametrize(("overrides", "abnormal"), [
    ({}, False),
    ({"temperature_c": 37.2}, False),
    ({"temperature_c": 37.3}, True),
    ({"symptoms": ["cough"]}, True),
    ({"case_contact_14d": True}, True),
    ({"risk_area_14d": True}, True),
    ({"case_status": "asymptomatic"}, True),
])
def test_abnormal_rule(overrides: dict[str, Any], abnormal: bool) -> None:
    assert is_abnormal(validate_answers(checkin_body(**overrides))) is abnormal


def test_region_codes() -> None:
    assert region_problem("110108") is None and province_of("110108") == "北京市"
    assert region_problem("820000") is None  # Macao
    assert region_problem("190000") == "region_unknown_province"
    assert region_problem(420102) == "region_not_6_digits"
