"""The Airflow UI's graph of `adtech_recommendations`, in headless Chromium: Cosmos renders each
dbt model as tasks, inside a task group per statement step, beside the one build's producer.

Airflow's API server (which serves the UI) runs on a metadata database of this module's own, with
the DAG registered by `airflow dags reserialize`; no scheduler is needed to draw the graph. The
simple auth manager makes every visitor an admin here (no login page to drive). The screenshot
goes to test-artifacts/browser/airflow_graph.png.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipeline.airflow.env import airflow_env, migrate
from tests.browser.support import free_port, screenshot
from tests.cli import stop_group
from tests.databases import new_database

DAG_ID = "adtech_recommendations"
STEPS = ("FiltrarDatos", "TopCTR", "TopProduct", "DBWriting")


@pytest.fixture(scope="module")
def airflow_ui(stack, admin_url, tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("airflow_ui")
    port = free_port()
    with (
        new_database(admin_url, prefix="t_ui") as url,
        new_database(admin_url, prefix="t_ui_meta") as meta,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("DATABASE_URL", url)
        env = airflow_env(home=home)
        env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta.replace(
                    "postgresql", "postgresql+psycopg2", 1
                ),
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            }
        )
        migrate(env)
        registered = subprocess.run(
            ["airflow", "dags", "reserialize"], env=env, capture_output=True, text=True
        )
        assert registered.returncode == 0, registered.stderr[-3000:]
        log = open(home / "api-server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            ["airflow", "api-server", "--port", str(port)], env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 400  # the API server starts in 20 s to 3 min here
            while True:
                try:
                    if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None, (home / "api-server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "Airflow's API server did not answer"
                time.sleep(3)
            yield base
        finally:
            stop_group(server)
            log.close()


def test_the_graph_shows_each_step_holding_its_models(airflow_ui, browser, artifacts: Path):
    browser.set_window_size(1900, 1200)
    browser.get(f"{airflow_ui}/dags/{DAG_ID}")
    wait = WebDriverWait(browser, 120, poll_frequency=1)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[aria-label^='Show Graph']"))
    browser.find_element(By.CSS_SELECTOR, "[aria-label^='Show Graph']").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".react-flow__node[data-id='start']"))
    browser.find_element(By.CSS_SELECTOR, "[data-testid=expand-all-button]").click()
    model = "DBWriting.recommendations.test"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f".react-flow__node[data-id='{model}']"))
    time.sleep(2)  # the layout settles before the picture
    drawn = {
        node.get_attribute("data-id")
        for node in browser.find_elements(By.CSS_SELECTOR, ".react-flow__node")
    }
    path = screenshot(browser, artifacts, "airflow_graph")
    assert path.stat().st_size > 10_000
    # The steps, as task groups, each holding its models' tasks (a model and its tests).
    assert set(STEPS) <= drawn
    for task in (
        "FiltrarDatos.int_active_advertisers.run",
        "FiltrarDatos.int_active_advertisers.test",
        "TopCTR.top_ctr.run",
        "TopProduct.top_product.test",
        "DBWriting.recommendations.run",
        model,
    ):
        assert task in drawn, task
    # The one build (Cosmos's producer) and the gate the model tasks wait behind.
    assert {"dbt_build.dbt_producer_watcher", "dbt_build.dbt_producer_watcher_done"} <= drawn
    assert {"start", "export", "publish"} <= drawn
    # Each node's label is its task's name, as a user reads it.
    labels = browser.find_element(By.CSS_SELECTOR, ".react-flow").text
    assert "FiltrarDatos" in labels and "top_ctr" in labels
