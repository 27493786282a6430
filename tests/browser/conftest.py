"""Browser tests: Debian's Chromium, driven through chromedriver by selenium, against a live
`adtech serve` (a uvicorn subprocess) on days published by the real pipeline.

Chromium runs headless with no route to any host but this machine (every name except the
loopback resolves to nothing), so what renders here renders offline. Screenshots go to
`$ADTECH_TEST_ARTIFACTS/browser/` (default `test-artifacts/browser/`, not committed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService

from tests.browser.support import (
    CHROMEDRIVER,
    CHROMIUM,
    DAYS,
    ROOT,
    Site,
    api_role_url,
    chromium_options,
    free_port,
    wait_until_served,
)
from tests.cli import adtech, adtech_process, pipeline_env
from tests.nights import PUBLISHED_INPUT, published_nights


@pytest.fixture(scope="session")
def site(
    stack, s3, admin_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[Site]:
    """Logs for four days in S3, three of them published by `adtech run` (tests/nights.py:
    published_nights, run once for the whole test run, restored into a database of this
    folder's own), and `adtech serve` on top as the read-only role, polling for new days every
    0.2 s."""
    nights = published_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    bucket = f"t-browser-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    with nights.database(admin_url, prefix="t_browser") as url:
        env = pipeline_env(stack.env, url, bucket)
        nights.copy_objects(s3, bucket, "raw/")
        # The fourth day's logs, from the same generator settings: published by the reload test.
        adtech(env, "generate", "--start", DAYS[3].isoformat(), "--days", "1", *PUBLISHED_INPUT)
        port = free_port()
        server_env = {
            **env,
            "ADTECH_API_DATABASE_URL": api_role_url(url),
            "ADTECH_API_POLL_INTERVAL_SECONDS": "0.2",
        }
        with tempfile.TemporaryFile() as log:
            server = adtech_process(
                server_env, "serve", "--port", str(port), stdout=log, stderr=subprocess.STDOUT
            )
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_served(f"{base}/health/ready", server, log, "adtech serve", timeout=60)
                yield Site(base, url, env)
            finally:
                server.terminate()
                server.wait(timeout=20)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    root = Path(os.environ.get("ADTECH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder = root / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session, with a fresh profile."""
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: run `bash devstack/system-deps.sh` as root"
    profile = Path(tempfile.mkdtemp(prefix="adtech-chromium-"))
    driver = webdriver.Chrome(
        options=chromium_options(profile), service=DriverService(executable_path=CHROMEDRIVER)
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
