"""The inline SVG charts: well-formed, accessible, escaped, proportional, and the summary's buckets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from gatekeeper.web._review import _bucket, _every_bucket
from gatekeeper.web.charts import OUTCOME_COLOURS, bar_chart, stacked_columns

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # raises on anything that is not well-formed XML


def test_bar_chart_is_accessible_sorted_and_proportional() -> None:
    svg = parse(bar_chart([("SG", 2), ("CN", 8), ("IR", 4)], title="By country"))
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "By country"  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").text == "CN: 8, IR: 4, SG: 2"  # type: ignore[union-attr]
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels == ["CN", "8", "IR", "4", "SG", "2"]  # largest first, value after each bar
    widths = [float(r.get("width", 0)) for r in svg.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] == 4 * widths[2]


def test_bar_chart_escapes_and_truncates_labels() -> None:
    evil = '<script>alert("x")</script>&' + "x" * 80
    markup = str(bar_chart([(evil, 1)], title='A "quoted" <title>'))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    svg = parse(markup)
    shown = next(svg.iter(f"{SVG}text")).text or ""
    assert shown.endswith("…") and len(shown) < len(evil)
    assert next(svg.iter(f"{SVG}rect")).find(f"{SVG}title").text.startswith(evil)  # type: ignore[union-attr]


def test_empty_charts_say_so() -> None:
    for markup in (bar_chart([], title="t"), stacked_columns([], title="t")):
        svg = parse(markup)
        assert "No records" in "".join(svg.itertext())


def test_stacked_columns_stack_in_decision_order() -> None:
    buckets = [("2025-01-01", {"allow": 3, "deny": 1}), ("2025-01-02", {}), ("2025-01-03", {"pending": 4})]
    svg = parse(stacked_columns(buckets, title="Per day"))
    rects = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    tips = [r.find(f"{SVG}title").text for r in rects]  # type: ignore[union-attr]
    assert tips == ["2025-01-01: allow 3", "2025-01-01: deny 1", "2025-01-03: pending 4"]
    heights = {t: float(r.get("height", 0)) for t, r in zip(tips, rects, strict=True)}
    assert heights["2025-01-01: allow 3"] == 3 * heights["2025-01-01: deny 1"]
    assert heights["2025-01-03: pending 4"] == heights["2025-01-01: allow 3"] + heights["2025-01-01: deny 1"]
    fills = [r.get("fill") for r in rects]
    assert fills == [OUTCOME_COLOURS["allow"], OUTCOME_COLOURS["deny"], OUTCOME_COLOURS["pending"]]
    legend = "".join(svg.itertext())
    assert all(word in legend for word in ("allow", "flag", "pending", "deny"))  # words, not colour alone


def test_many_buckets_thin_out_the_axis_labels() -> None:
    buckets = [(f"d{i:03d}", {"allow": 1}) for i in range(200)]
    svg = parse(stacked_columns(buckets, title="many"))
    axis = [t.text for t in svg.iter(f"{SVG}text") if t.text and re.fullmatch(r"d\d{3}", t.text)]
    assert 5 < len(axis) < 30 and axis[0] == "d000"


def test_buckets_of_the_summary() -> None:
    assert _bucket("2025-03-05", "day") == "2025-03-05"
    assert _bucket("2025-03-05", "week") == "2025-03-03"  # its Monday
    assert _bucket("2025-03-05", "month") == "2025-03"
    assert _every_bucket(["2025-11", "2026-02"], "month") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert _every_bucket(["2025-01-30", "2025-02-02"], "day") == ["2025-01-30", "2025-01-31", "2025-02-01",
                                                                   "2025-02-02"]
    assert _every_bucket(["2025-01-06", "2025-01-20"], "week") == ["2025-01-06", "2025-01-13", "2025-01-20"]
    assert _every_bucket(["2025-01-06"], "day") == []
    assert _every_bucket(["2000-01-01", "2025-01-01"], "day") == []  # too many to fill
