"""Region codes: GB/T 2260 administrative division codes (6 digits).

A code is accepted when it is six ASCII digits, its first two digits are a province-level
code, and it is in the division table shipped with the product (:mod:`server.regions`: the
province, prefecture and county levels; docs/regions.md says where the table comes from and
how it is kept current). Source: GB/T 2260 "Codes for the administrative divisions of the
People's Republic of China".
"""

from __future__ import annotations

from server.regions import REGIONS

PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}
"""Province-level divisions: two-digit prefix → name (zh-CN)."""


def region_problem(code: object) -> str | None:
    """Why ``code`` is not an acceptable region code, or None when it is.

    Args:
        code: the value sent (expected a 6-character string of digits).

    Returns:
        None, or an error code: ``region_not_6_digits`` (not six ASCII digits),
        ``region_unknown_province`` (first two digits are no province-level code) or
        ``region_unknown`` (no division in the table has this code).
    """
    if not isinstance(code, str) or len(code) != 6 or not code.isascii() or not code.isdigit():
        return "region_not_6_digits"
    if code[:2] not in PROVINCES:
        return "region_unknown_province"
    if REGIONS.get(code) is None:
        return "region_unknown"
    return None


def province_of(code: str) -> str:
    """The province-level name of a valid region code ("" when unknown)."""
    return PROVINCES.get(code[:2], "")
