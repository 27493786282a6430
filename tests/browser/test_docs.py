"""/docs and /redoc render with no network: their assets come from the API itself."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.support import Site, foreign_requests, screenshot

DOCUMENTED = {
    "/recommendations/{advertiser_id}/{model}",
    "/history/{advertiser_id}/",
    "/stats/",
    "/health/live",
    "/health/ready",
}


def test_swagger_ui_lists_every_route_offline(
    site: Site, browser: webdriver.Chrome, artifacts: Path
) -> None:
    browser.get(f"{site.base}/docs")
    WebDriverWait(browser, 30).until(
        ec.presence_of_all_elements_located((By.CSS_SELECTOR, ".opblock-summary-path"))
    )
    paths = {
        e.get_attribute("data-path") or e.text
        for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    screenshot(browser, artifacts, "docs")
    assert paths >= DOCUMENTED, paths
    assert "adtech-recs API" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    assert foreign_requests(browser, site.base) == []

    # Expand one operation: its parameters carry the live examples (a published date).
    browser.find_element(By.CSS_SELECTOR, "#operations-stats-get_stats_stats__get").click()
    WebDriverWait(browser, 10).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock.is-open .parameters"))
    )
    screenshot(browser, artifacts, "docs-operation-open")


def test_redoc_renders_offline(site: Site, browser: webdriver.Chrome, artifacts: Path) -> None:
    browser.get(f"{site.base}/redoc")
    WebDriverWait(browser, 30).until(
        lambda d: (
            "/recommendations/{advertiser_id}/{model}" in d.find_element(By.TAG_NAME, "body").text
        )
    )
    body = browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, artifacts, "redoc")
    assert "adtech-recs API" in body
    for path in DOCUMENTED:
        assert path in body, path
    assert foreign_requests(browser, site.base) == []


def test_docs_assets_come_from_the_api(site: Site, browser: webdriver.Chrome) -> None:
    browser.get(f"{site.base}/docs")
    sources = browser.execute_script(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert sources, "the docs page loads no asset at all"
    assert all(s.startswith(f"{site.base}/docs-assets/") for s in sources), sources
