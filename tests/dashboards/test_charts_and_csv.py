"""SVG charts are well-formed, self-contained and escape labels; CSV helpers mask and defuse."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from server.dashboards.charts import bar_chart, column_chart, heatmap
from server.dashboards.exports import csv_bytes, mask_phone, phone_for

SVG = "{http://www.w3.org/2000/svg}"


def test_charts_are_well_formed_and_escaped() -> None:
    for svg in (bar_chart([("<b>计算机</b>", 0.5), ("EE", 1.0)], title="rate & more", unit="%"),
                column_chart([("03-01", 3.0), ("03-02", 0.0)], title="t", highlight=[1.0, 0.0]),
                heatmap([("B1", [0] * 23 + [5]), ("B2", [1] * 24)], title="scans")):
        root = ET.fromstring(str(svg))
        assert root.tag == SVG + "svg" and root.find(SVG + "title") is not None
        assert "<script" not in svg and "href" not in svg
    bars = ET.fromstring(str(bar_chart([("a", 0.25), ("b", 1.0)], title="x", unit="%")))
    widths = [float(r.get("width", "0")) for r in bars.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert widths[1] == 4 * widths[0]
    assert "&lt;b&gt;" in str(bar_chart([("<b>", 1.0)], title="x"))
    assert ET.fromstring(str(bar_chart([], title="empty"))).tag == SVG + "svg"


def test_phone_masking_and_csv_cells() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) == "" and mask_phone("12345") == "***45"
    assert phone_for("counsellor", "13812345678") == "13812345678"
    assert phone_for("school_admin", "13812345678") == "138****5678"
    body = csv_bytes(["a", "b"], [["=1+1", "中文"], [None, "@x"]])
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig") == "a,b\r\n'=1+1,中文\r\n,'@x\r\n"
