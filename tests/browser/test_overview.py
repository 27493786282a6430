"""The root page in a real browser: the latest date, /stats/'s numbers, one chart point per
published date, the most-changed advertisers, and the advertiser lookup form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.overview_checks import (
    assert_charts_cover,
    assert_numbers_equal_stats,
    chart_marks,
)
from tests.browser.support import Site, foreign_requests, screenshot, wait_for_page_with


def test_page_shows_the_latest_day_as_stats_does(
    site: Site, browser: webdriver.Chrome, artifacts: Path
) -> None:
    browser.get(f"{site.base}/")
    screenshot(browser, artifacts, "overview")
    published = site.published_dates()
    stats = assert_numbers_equal_stats(browser, site.base)
    assert stats["date"] == published[-1].isoformat()
    assert_charts_cover(browser, published, stats)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 4
    _assert_evaluation_chart(browser, site.base, published)
    rows = browser.find_elements(By.CSS_SELECTOR, "#most-changed tbody tr")
    shown = [(r.get_attribute("data-advertiser"), r.get_attribute("data-model")) for r in rows]
    assert shown == [(c["advertiser_id"], c["model"]) for c in stats["most_changed"]]
    assert shown, "the test data has lists that changed"
    assert foreign_requests(browser, site.base) == []


def _assert_evaluation_chart(
    browser: webdriver.Chrome, base: str, published: list[dt.date]
) -> None:
    """The next-day hit-rate chart: a point per model and per published date whose next day is
    published (all but the latest), each model's beside its random reference, at /stats/'s
    values for that date."""
    evaluated = [d.isoformat() for d in published[:-1]]
    marks = chart_marks(browser, "chart-evaluation", "circle.point")
    assert set(marks) == {"top_ctr", "random_top_ctr", "top_product", "random_top_product"}
    for series, points in marks.items():
        assert sorted(points) == evaluated, series
    for day in evaluated:
        stats = httpx.get(f"{base}/stats/?date={day}", timeout=10).json()["evaluation"]
        for model in stats["models"]:
            name = model["model"]
            assert marks[name][day] == pytest.approx(model["click_hit_rate"])
            assert marks[f"random_{name}"][day] == pytest.approx(model["random_click_hit_rate"])
    assert browser.find_element(By.ID, "chart-evaluation").is_displayed()


def _lookup(browser: webdriver.Chrome, base: str, advertiser: str) -> None:
    browser.get(f"{base}/")
    field = browser.find_element(By.ID, "advertiser")
    field.clear()
    field.send_keys(advertiser)
    browser.find_element(By.CSS_SELECTOR, "#lookup-form button[type=submit]").click()
    wait_for_page_with(browser, By.CSS_SELECTOR, "#lookup-result, #lookup-error")


def test_lookup_form_shows_an_advertisers_two_lists_and_history(
    site: Site, browser: webdriver.Chrome, artifacts: Path
) -> None:
    stats = httpx.get(f"{site.base}/stats/", timeout=10).json()
    advertiser = stats["most_changed"][0]["advertiser_id"]
    _lookup(browser, site.base, advertiser)
    result = browser.find_element(By.ID, "lookup-result")
    screenshot(browser, artifacts, "lookup")
    assert result.get_attribute("data-advertiser") == advertiser
    for model in ("top_ctr", "top_product"):
        answer = httpx.get(f"{site.base}/recommendations/{advertiser}/{model}", timeout=10).json()
        products = [
            e.text
            for e in browser.find_elements(
                By.CSS_SELECTOR, f"table.list[data-model={model}] td.product"
            )
        ]
        assert products == [r["product_id"] for r in answer["recommendations"]], model
        assert products, f"{advertiser} has a {model} list in the test data"
    history = httpx.get(f"{site.base}/history/{advertiser}/", timeout=10).json()["history"]
    dates = [
        e.get_attribute("data-date")
        for e in browser.find_elements(By.CSS_SELECTOR, "#lookup-history tbody tr")
    ]
    assert dates == [h["date"] for h in history]
    assert dates[0] == stats["date"]


def test_lookup_of_an_unknown_advertiser_says_so(
    site: Site, browser: webdriver.Chrome, artifacts: Path
) -> None:
    _lookup(browser, site.base, "NO-SUCH-ADVERTISER")
    message = browser.find_element(By.ID, "lookup-error").text
    screenshot(browser, artifacts, "lookup-unknown")
    assert "NO-SUCH-ADVERTISER" in message and "no recommendations" in message
    assert browser.find_elements(By.ID, "lookup-result") == []


def test_most_changed_links_open_the_lookup(site: Site, browser: webdriver.Chrome) -> None:
    browser.get(f"{site.base}/")
    link = browser.find_element(By.CSS_SELECTOR, "#most-changed tbody tr td a")
    advertiser = link.text
    link.click()
    wait_for_page_with(browser, By.ID, "lookup-result")
    assert browser.find_element(By.ID, "lookup-result").get_attribute("data-advertiser") == (
        advertiser
    )
