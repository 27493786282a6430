"""A day published while the page is open appears after a reload (`adtech run` into the same
database the live API reads; the API picks it up with its publication poll)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.overview_checks import assert_charts_cover, assert_numbers_equal_stats
from tests.browser.support import DAYS, Site, screenshot
from tests.cli import adtech


def test_a_day_published_while_the_page_is_open_shows_after_a_reload(
    site: Site, browser: webdriver.Chrome, artifacts: Path
) -> None:
    new_day = DAYS[-1]
    before = site.published_dates()
    assert new_day not in before, "this test publishes the last generated day itself"
    browser.get(f"{site.base}/")
    assert browser.find_element(By.ID, "latest-date").text == before[-1].isoformat()
    screenshot(browser, artifacts, "reload-before")

    adtech(site.pipeline_env, "run", "--date", new_day.isoformat())
    deadline = time.monotonic() + 30  # the API polls ops.published_days every 0.2 s here
    while httpx.get(f"{site.base}/health/ready", timeout=5).json()["latest_date"] != str(new_day):
        assert time.monotonic() < deadline, "the API never saw the new day"
        time.sleep(0.2)
    # The open page is server-rendered: it still shows the old day until it is reloaded.
    assert browser.find_element(By.ID, "latest-date").text == before[-1].isoformat()

    browser.refresh()
    screenshot(browser, artifacts, "reload-after")
    published = site.published_dates()
    assert published == [*before, new_day]
    stats = assert_numbers_equal_stats(browser, site.base)
    assert stats["date"] == new_day.isoformat()
    assert_charts_cover(browser, published, stats)
