"""`make docs` as the README tells it, on a database where nothing was ever built or loaded (no
run date given, none to default to): dbt's documentation generates and is served on its own port
(not Airflow's 8080 nor the API's 8000), and the lineage graph renders in headless Chromium with
no network, from the server's own files only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.support import (
    ROOT,
    foreign_requests,
    free_port,
    screenshot,
    wait_until_served,
)


def test_make_docs_serves_the_lineage_graph_offline(
    fresh_db: str, browser: webdriver.Chrome, artifacts: Path, tmp_path: Path
) -> None:
    port = free_port()
    assert port not in (8000, 8080)
    env = {
        **os.environ,
        "DATABASE_URL": fresh_db,
        "DOCS_PORT": str(port),
        "DBT_TARGET_PATH": str(tmp_path / "target"),  # not the shared ./target
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "docs"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until_served(
                f"{base}/catalog.json", server, log, "make docs", timeout=300, interval=0.5
            )
            browser.get(f"{base}/#!/overview?g_v=1")
            WebDriverWait(browser, 60).until(
                lambda d: d.execute_script(
                    "const c = document.querySelectorAll('#cy canvas');"
                    "return c.length > 0 && [...c].every(e => e.width > 0 && e.height > 0);"
                )
            )
            time.sleep(1)  # the graph's layout settles
            screenshot(browser, artifacts, "dbt-docs-lineage")
            fetched = browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
            for artifact in ("manifest.json", "catalog.json"):  # fetched with a cache-buster
                assert any(url.startswith(f"{base}/{artifact}") for url in fetched), fetched
            assert foreign_requests(browser, base) == []
            browser.get(f"{base}/#!/exposure/exposure.adtech_recs.api")
            WebDriverWait(browser, 30).until(
                lambda d: "Recommendations API" in d.find_element(By.TAG_NAME, "body").text
            )
            page = browser.find_element(By.TAG_NAME, "body").text
            assert "model_coverage" in page and "published_days" in page  # what the API reads
            screenshot(browser, artifacts, "dbt-docs-exposure")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
