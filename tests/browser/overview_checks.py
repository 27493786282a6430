"""What the browser tests read from the root page, and the checks shared by its tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By


def stats_value(stats: dict[str, Any], path: str) -> Any:
    """The /stats/ value a `data-stat` path names: `advertisers`, `agreement.mean_jaccard`,
    `coverage.<model>.<field>`, `freshness.<field>`."""
    head, *rest = path.split(".")
    if head == "coverage":
        model, name = rest
        return next(c for c in stats["coverage"] if c["model"] == model)[name]
    value = stats[head]
    for name in rest:
        value = value[name]
    return value


def page_stats(driver: webdriver.Chrome) -> dict[str, tuple[str, str]]:
    """{data-stat path: (data-value, visible text)} of every number marked on the page."""
    return {
        e.get_attribute("data-stat"): (e.get_attribute("data-value"), e.text)
        for e in driver.find_elements(By.CSS_SELECTOR, "[data-stat]")
    }


def assert_numbers_equal_stats(driver: webdriver.Chrome, base: str) -> dict[str, Any]:
    """Every number on the page is /stats/'s (freshness's age within a few seconds); returns
    the /stats/ answer compared with."""
    shown = page_stats(driver)
    stats = httpx.get(f"{base}/stats/", timeout=10).json()
    expected_paths = {"advertisers", "freshness.run_id", "freshness.published_at"} | {
        f"coverage.{c['model']}.coverage" for c in stats["coverage"]
    }
    assert expected_paths <= shown.keys(), shown.keys()
    for path, (value, _text) in shown.items():
        wanted = stats_value(stats, path)
        if path == "freshness.age_seconds":
            assert float(value) == pytest.approx(wanted, abs=30), path
        elif path == "freshness.published_at":
            assert dt.datetime.fromisoformat(value) == dt.datetime.fromisoformat(wanted)
        else:
            assert value == str(wanted), (path, value, wanted)
    for c in stats["coverage"]:  # and the rounded text says the same
        assert shown[f"coverage.{c['model']}.coverage"][1] == f"{c['coverage'] * 100:.1f}%"
    mean = stats["agreement"]["mean_jaccard"]
    assert shown["agreement.mean_jaccard"][1] == f"{mean * 100:.1f}%"
    assert driver.find_element(By.ID, "latest-date").text == stats["date"]
    return stats


def chart_marks(driver: webdriver.Chrome, chart: str, kind: str) -> dict[str, dict[str, float]]:
    """{series: {date: value}} of the points (`circle.point`) or bars (`rect.bar`) of a chart."""
    marks: dict[str, dict[str, float]] = {}
    for e in driver.find_elements(By.CSS_SELECTOR, f"#{chart} {kind}"):
        series = marks.setdefault(e.get_attribute("data-series"), {})
        series[e.get_attribute("data-date")] = float(e.get_attribute("data-value"))
    return marks


def assert_charts_cover(
    driver: webdriver.Chrome, published: list[dt.date], stats: dict[str, Any]
) -> None:
    """One point per published date in the coverage and agreement charts, one bar per model
    and date with a previous list in the change chart; the latest values are /stats/'s."""
    dates = [d.isoformat() for d in published]
    coverage = chart_marks(driver, "chart-coverage", "circle.point")
    assert set(coverage) == {"top_ctr", "top_product"}
    for c in stats["coverage"]:
        assert sorted(coverage[c["model"]]) == dates
        assert coverage[c["model"]][stats["date"]] == c["coverage"]
    agreement = chart_marks(driver, "chart-agreement", "circle.point")
    assert sorted(agreement["agreement"]) == dates
    assert agreement["agreement"][stats["date"]] == pytest.approx(
        stats["agreement"]["mean_jaccard"], rel=1e-12
    )
    change = chart_marks(driver, "chart-change", "rect.bar")
    for model in ("top_ctr", "top_product"):  # the first date has no previous list
        assert sorted(change[model]) == dates[1:]
        assert all(0 <= v <= 1 for v in change[model].values())
    no_data = driver.find_elements(By.CSS_SELECTOR, "#chart-change text.no-data")
    assert [e.get_attribute("data-date") for e in no_data] == dates[:1]
