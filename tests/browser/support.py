"""Helpers of the browser tests: the live site, Chromium's options, screenshots."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg2
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ADTECH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ADTECH_CHROMEDRIVER", "/usr/bin/chromedriver")
# Three days published before the tests; the fourth is published by the reload test.
DAYS = [dt.date(2024, 11, 18) + dt.timedelta(days=i) for i in range(4)]
PUBLISHED_FIRST = DAYS[:3]


@dataclass(frozen=True)
class Site:
    base: str  # the live API's URL
    db_url: str  # the owner's URL of its database
    pipeline_env: dict[str, str]  # what `adtech run` needs to publish another day

    def published_dates(self) -> list[dt.date]:
        with psycopg2.connect(self.db_url) as conn, conn.cursor() as cur:
            cur.execute("select date from ops.published_days order by date")
            return [row[0] for row in cur.fetchall()]


def api_role_url(url: str) -> str:
    """The same database as the read-only adtech_api role (the local stack trusts it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"adtech_api@{parts.hostname}:{parts.port}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",  # the suite runs as root on CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1300,1000",
        f"--user-data-dir={profile}",
        # No network: every host name but the loopback resolves to nothing, so a page that
        # needs a CDN fails here exactly as it would offline.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):
        options.add_argument(flag)
    return options


def screenshot(driver: webdriver.Chrome, folder: Path, name: str) -> Path:
    """A full-page PNG: the window is stretched to the document's height first."""
    width = driver.get_window_size()["width"]
    height = driver.execute_script(
        "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight"
    )
    driver.set_window_size(width, min(max(height, 600), 8000))
    driver.execute_script("window.scrollTo(0, 0)")  # a #fragment may have scrolled it
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    driver.set_window_size(width, 1000)
    return path


def foreign_requests(driver: webdriver.Chrome, base: str) -> list[str]:
    """Resources the page asked for from anywhere but the API itself, less those the page's
    Content-Security-Policy blocked before any request left the browser."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    blocked = " ".join(
        entry["message"]
        for entry in driver.get_log("browser")
        if entry.get("source") == "security" and "has been blocked" in entry["message"]
    )
    return [u for u in urls if not u.startswith(base) and f"'{u}'" not in blocked]


def wait_until_served(
    url: str, server: subprocess.Popen, log, name: str, timeout: float, interval: float = 0.2
) -> None:
    """Wait until `url` answers 200; fail with the end of `log` if `server` (started as `name`)
    exits first, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"{name} exited:\n{log.read().decode()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    pytest.fail(f"{name} served nothing at {url} within {timeout:.0f} s")


def wait_for_page_with(
    driver: webdriver.Chrome, by: str, selector: str, timeout: float = 10
) -> WebElement:
    """The first element matching `selector` on the page that a click has just started to load.

    A lookup that runs while that navigation is under way fails with chromedriver's "aborted
    by navigation"; it is asked again, like a lookup that finds nothing yet."""

    def found(d: webdriver.Chrome) -> WebElement | bool:
        try:
            return d.find_element(by, selector)
        except NoSuchElementException:
            return False
        except WebDriverException as error:
            if "aborted by navigation" in (error.msg or ""):
                return False
            raise

    return WebDriverWait(driver, timeout).until(found)
