"""The plain Airflow CLI on the project, as a new user drives it: a fresh copy of the repository
(no target/manifest.json, no Airflow settings in the environment, the venv not on PATH), then

    adtech stack up && eval "$(adtech stack env)" && airflow ...

with no other step. One full `airflow dags test` (the costly part: 1-3 min)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from devstack import stack as devstack
from pipeline.airflow.env import DAG_ID
from tests.checkouts import copy_worktree, shell
from tests.cli import why_it_failed

D = dt.date(2024, 11, 21)
DAYS = [D - dt.timedelta(days=1), D]
BACKFILL_ID = "adtech_backfill"  # a manual run may process D or the day before it
LOADED = 'eval "$(adtech stack env)"\n'


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Iterator[Path]:
    """A copy of the repository with its stack up (by `adtech stack up`, nothing else) and two
    days of logs in the stack's S3."""
    root = copy_worktree(tmp_path_factory.mktemp("checkout"))
    up = shell(root, "adtech stack up")
    assert up.returncode == 0, up.stderr
    assert "created or migrated" in up.stderr and "parsed into" in up.stderr, up.stderr
    generate = shell(
        root,
        LOADED + f"adtech generate --start {DAYS[0]} --days 2 --advertisers 6 --active 5"
        " --products 30 --views-per-day 1500 --ad-events-per-day 1500 --click-rate 0.1",
    )
    assert generate.returncode == 0, generate.stderr
    yield root
    devstack.destroy(root / ".stack")


def _settings(root: Path) -> dict[str, str]:
    printed = shell(root, LOADED + "env -0").stdout
    return dict(line.split("=", 1) for line in printed.split("\0") if "=" in line)


def _query(url: str, sql: str, *args) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def _metadata_url(settings: dict[str, str]) -> str:
    return settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")


def test_stack_env_exports_airflow_settings(checkout: Path) -> None:
    settings = _settings(checkout)
    assert settings["AIRFLOW_HOME"] == str(checkout / ".stack" / "airflow")
    assert settings["AIRFLOW__CORE__DAGS_FOLDER"] == str(checkout / "dags")
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert settings["AIRFLOW__CORE__PARALLELISM"] == "2"
    port = settings["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]
    assert f"127.0.0.1:{port}/airflow" in settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert settings["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert settings["PYTHONPATH"].split(os.pathsep)[0] == str(checkout)
    # Loading the settings twice does not grow PATH.
    twice = shell(checkout, LOADED + LOADED + 'echo "$PATH"').stdout.strip()
    assert twice == settings["PATH"]
    # Airflow reads them: examples off.
    shown = shell(checkout, LOADED + "airflow config get-value core load_examples")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "False", shown.stdout


def test_second_stack_up_neither_migrates_nor_parses_again(checkout: Path) -> None:
    again = shell(checkout, "adtech stack up")
    assert again.returncode == 0, again.stderr
    assert "started nothing" in again.stderr
    assert "migrated" not in again.stderr and "parsed into" not in again.stderr


def test_dags_list_shows_the_dags_registered_by_stack_up(checkout: Path) -> None:
    """Both DAGs, the nightly one and the backfill, registered by `adtech stack up` alone, which
    made dbt's manifest they render from (the copy had no target/)."""
    listed = shell(checkout, LOADED + "airflow dags list -o json")
    assert listed.returncode == 0, listed.stderr
    (printed,) = [line for line in listed.stdout.splitlines() if line.startswith("[{")]
    dags = json.loads(printed)
    assert {d["dag_id"]: d["fileloc"] for d in dags} == {
        name: str(checkout / "dags" / f"{name}.py") for name in (DAG_ID, BACKFILL_ID)
    }
    assert (checkout / "target" / "dag" / "default" / "manifest.json").exists()
    errors = shell(checkout, LOADED + "airflow dags list-import-errors -o json")
    assert errors.returncode == 0, errors.stderr
    assert "adtech_recommendations.py" not in errors.stdout
    assert "adtech_backfill.py" not in errors.stdout


def test_dags_test_publishes_a_day_without_phoning_home(checkout: Path) -> None:
    ran = shell(checkout, LOADED + f"airflow dags test {DAG_ID} {D}")
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, why_it_failed(output)
    settings = _settings(checkout)
    published = _query(settings["DATABASE_URL"], "select date from ops.published_days")
    assert len(published) == 1 and published[0][0] in DAYS
    states = _query(
        _metadata_url(settings),
        "select state from dag_run where dag_id = %s order by id desc limit 1",
        DAG_ID,
    )
    assert states == [("success",)]
    assert "scarf.sh" not in output and "usage metrics" not in output


def test_tasks_test_reruns_one_task_of_the_run(checkout: Path) -> None:
    """The load of the run's day again: it replaces that day's rows under a new load id."""
    url = _settings(checkout)["DATABASE_URL"]
    loads = "select distinct load_id from ops.load_manifest where source = 'advertiser_ids'"
    before = _query(url, loads)
    ran = shell(checkout, LOADED + f"airflow tasks test {DAG_ID} load_advertiser_ids {D}")
    assert ran.returncode == 0, ran.stderr[-3000:]
    after = _query(url, loads)
    assert before and after and not set(after) & set(before)


def test_backfill_create_is_accepted(checkout: Path) -> None:
    """Runs queued for dates that have none yet (a scheduler would then run them), one day at a
    time as the README's command asks (a backfill's own default is 10 runs at once)."""
    days = [D + dt.timedelta(days=1), D + dt.timedelta(days=2)]
    created = shell(
        checkout,
        LOADED + f"airflow backfill create --dag-id {DAG_ID} --from-date {days[0]}"
        f" --to-date {days[1]} --max-active-runs 1",
    )
    assert created.returncode == 0, created.stderr[-3000:]
    limits = _query(
        _metadata_url(_settings(checkout)),
        "select max_active_runs from backfill where dag_id = %s",
        DAG_ID,
    )
    assert limits == [(1,)]
    runs = _query(
        _metadata_url(_settings(checkout)),
        "select logical_date::date from dag_run where dag_id = %s and run_type = 'backfill'"
        " order by 1",
        DAG_ID,
    )
    assert [day for (day,) in runs] == days


def test_a_model_added_to_the_project_is_a_task_of_the_dag(checkout: Path) -> None:
    """Runs last: a new staging model (FiltrarDatos by its folder's tag) makes the manifest stale;
    `adtech stack up` makes it again and registers the DAG again, and the model is a task of its
    step."""
    model = checkout / "dbt_project" / "models" / "staging" / "stg_added_for_test.sql"
    model.write_text("select 1 as one\n")
    # `adtech stack up` first: `airflow tasks list` parses the DAG into the database itself.
    again = shell(checkout, "adtech stack up")
    assert again.returncode == 0, again.stderr
    assert "parsed into" in again.stderr
    listed = shell(checkout, LOADED + f"airflow tasks list {DAG_ID}")
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "FiltrarDatos.stg_added_for_test_run" in listed.stdout.split()
