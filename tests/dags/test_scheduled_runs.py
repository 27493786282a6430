"""Runs the scheduler makes, as in production: a scheduled catch-up run and a backfill, neither
with a `run_date` param. Airflow runs for real (`airflow standalone`: scheduler, DAG processor,
API server, LocalExecutor with parallelism 2) on a metadata database of this test's own (a copy
of the stack's migrated one). In each run every task must work on D = the data interval's start,
and nothing else. The backfill runs the day again on the same logs: a new version, published,
whose served rows are the first run's."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import psycopg2
import pytest

from pipeline.airflow.env import DAG_ID, airflow_env
from tests.api.conftest import free_port
from tests.cli import stop_group
from tests.dags.dag_data import SERVED, metadata_database
from tests.databases import new_database

D1 = "2024-11-20"
TIMEOUT = 1200  # seconds for one DAG run on a busy 2-core machine
SQLALCHEMY = "postgresql+psycopg2"


def _query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture
def airflow(stack, admin_url, s3, tmp_path):
    """Airflow standalone on a database, a metadata database and a bucket of this test's own."""
    bucket = f"sched-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with (
        new_database(admin_url, prefix="t_sched") as url,
        metadata_database(admin_url, prefix="t_meta") as meta,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("DATABASE_URL", url)
        mp.setenv("ADTECH_S3_BUCKET", bucket)
        env = airflow_env(home=tmp_path / "airflow")
        env.update(
            {
                "AIRFLOW_HOME": str(tmp_path / "airflow"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta.replace("postgresql", SQLALCHEMY, 1),
                "AIRFLOW__API__PORT": str(free_port()),
                "ADTECH_DAG_START_DATE": D1,
                "ADTECH_DAG_END_DATE": D1,
                "ADTECH_TASK_RETRIES": "0",
                # Unpaused once the API server answers (tasks report to it: a task started
                # before it listens fails at once).
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                # The DAG files do not change while the test runs: the DAG processor parses each
                # once at start-up, not again every 30 s (Airflow's default) for nothing.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            }
        )
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = (
            f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/execution/"
        )
        subprocess.run(
            [sys.executable, "-m", "pipeline", "generate", "--start", D1, "--days", "1",
             "--seed", "4", "--advertisers", "8", "--active", "6"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        log = open(tmp_path / "standalone.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            ["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _unpause_when_ready(env)
            yield env, url, meta
        finally:
            stop_group(server)
            log.close()
            print((tmp_path / "standalone.log").read_text()[-3000:])


def _unpause_when_ready(env: dict[str, str]) -> None:
    health = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(health, timeout=5).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            unpaused = subprocess.run(
                ["airflow", "dags", "unpause", DAG_ID], env=env, capture_output=True, timeout=300
            )
            if unpaused.returncode == 0:
                return
        time.sleep(3)
    pytest.fail("Airflow's API server did not answer, or the DAG was not registered, in 300 s")


def _wait_for_run(meta: str, run_type: str) -> tuple[str, str]:
    """(run_id, state) of the DAG's first run of `run_type` once it finished."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            rows = _query(
                meta,
                "select run_id, state from dag_run where dag_id = %s and run_type = %s"
                " and state in ('success', 'failed') order by id",
                DAG_ID,
                run_type,
            )
        except psycopg2.Error:
            rows = []
        if rows:
            return rows[0]
        time.sleep(5)
    pytest.fail(f"no {run_type} run of {DAG_ID} finished in {TIMEOUT} s")


def _runs_of_pipeline(url: str) -> list[tuple]:
    return _query(
        url, "select run_id, date::text, status from ops.pipeline_runs order by started_at"
    )


def test_a_scheduled_catch_up_run_and_a_backfill_each_work_on_one_day(airflow) -> None:
    env, url, meta = airflow
    scheduled, state = _wait_for_run(meta, "scheduled")
    assert state == "success", scheduled
    assert _runs_of_pipeline(url) == [(scheduled, D1, "success")]
    ((first_version,),) = _query(url, "select version from ops.published_days")
    assert _query(url, "select date::text, run_id from ops.published_days") == [(D1, scheduled)]
    first_rows = _query(url, SERVED, D1)
    assert first_rows

    created = subprocess.run(
        ["airflow", "backfill", "create", "--dag-id", DAG_ID, "--from-date", D1, "--to-date", D1,
         "--reprocess-behavior", "completed"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-3000:]
    # Airflow reprocesses the day in the same DAG run (its type becomes `backfill`): every task
    # runs again, `start` opens a new version and publish switches the day to it.
    deadline = time.monotonic() + TIMEOUT
    while _query(url, "select version from ops.published_days") == [(first_version,)]:
        assert time.monotonic() < deadline, "the backfill did not publish a new version"
        time.sleep(5)
    backfill, state = _wait_for_run(meta, "backfill")
    assert state == "success", backfill
    assert _runs_of_pipeline(url) == [(backfill, D1, "success")]
    ((served_version,),) = _query(url, "select version from ops.published_days")
    assert served_version > first_version
    # The same logs give the same served rows under the new version.
    assert _query(url, SERVED, D1) == first_rows
    # Every task of both runs worked on D1: the loads, dbt (marts of D1 only) and publish.
    assert _query(url, "select distinct date::text from ops.load_manifest") == [(D1,)]
    assert _query(url, "select distinct date::text from marts.recommendations") == [(D1,)]
    assert (served_version,) in _query(url, "select distinct version from marts.top_ctr")
