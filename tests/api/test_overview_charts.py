"""The root page's SVG charts: one mark per day with a value, placed on a 0..1 scale."""

from __future__ import annotations

import datetime as dt
import re

from api.overview.charts import HEIGHT, Series, bar_chart, line_chart, percent

DAYS = [dt.date(2024, 11, 18) + dt.timedelta(days=i) for i in range(3)]


def marks(svg: str, tag: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'(data-[a-z]+|cy|y|height)="([^"]*)"', m))
        for m in re.findall(rf"<{tag} [^>]*>", svg)
    ]


def test_line_chart_draws_a_point_per_day_with_a_value() -> None:
    svg = line_chart(
        "c",
        "t",
        DAYS,
        [Series("a", "A", "#000", (0.0, None, 1.0)), Series("b", "B", "#111", (0.5,) * 3)],
    )
    points = marks(svg, "circle")
    assert [(p["data-series"], p["data-date"]) for p in points] == [
        ("a", "2024-11-18"),
        ("a", "2024-11-20"),
        ("b", "2024-11-18"),
        ("b", "2024-11-19"),
        ("b", "2024-11-20"),
    ]
    by_value = {p["data-value"]: float(p["cy"]) for p in points}
    assert by_value["0.0"] > by_value["0.5"] > by_value["1.0"]  # higher share, higher on screen
    assert 'data-days="3"' in svg
    assert svg.count("<path") == 2 and " M" in svg  # the gap on 11-19 breaks series a's line


def test_bar_chart_marks_days_without_any_value() -> None:
    svg = bar_chart("c", "t", DAYS, [Series("a", "A", "#000", (None, 0.25, 2.0))])
    bars = marks(svg, "rect")
    assert [b["data-date"] for b in bars] == ["2024-11-19", "2024-11-20"]
    assert float(bars[1]["y"]) >= 0 and float(bars[1]["height"]) <= HEIGHT  # 2.0 is clamped
    assert re.findall(r'class="no-data" data-date="([\d-]+)"', svg) == ["2024-11-18"]


def test_labels_are_escaped_and_percentages_rounded() -> None:
    svg = line_chart("c", "<b>", DAYS, [Series("a", "<i>", "#000", (0.12345, None, None))])
    assert "<b>" not in svg and "<i>" not in svg and "&lt;i&gt;" in svg
    assert percent(0.12345) == "12.3%" and percent(None) == "n/a" and percent(1, 0) == "100%"
