"""`airflow dags test` end to end against the real PostgreSQL and S3 over HTTP.

Days (generated, seed fixed): D1 and D2, clean. D1 runs as a manual run with the `run_date`
param; D2 as `airflow dags test` with a logical date and no param, as a user types it: D is then
the data interval's start, and every task must work on that one day. Then D1's logs are replaced
by events of inactive advertisers only: its rerun fails a dbt test in its model's task, and D1
stays served as it was, D2 untouched. (A day never published that fails stays unpublished:
test_failure_notice.py runs a day missing from S3. A day run again on the same logs serves the
same rows under a new version: test_scheduled_runs.py's backfill.)
"""

from __future__ import annotations

import datetime as dt
import gzip
import subprocess
from pathlib import Path

import pytest

from pipeline.airflow.env import dags_test, task_instances
from tests.cli import why_it_failed
from tests.dags.dag_data import (
    SERVED,
    generate,
    module_env,
    only_inactive_events,
    published,
    query,
    served_lists,
)
from tests.reference import day_files, top_lists

D1, D2 = "2024-11-20", "2024-11-21"
PRODUCER = "dbt_build.dbt_producer_watcher"
GATE = "dbt_build.dbt_producer_watcher_done"


@pytest.fixture(scope="module")
def env(stack, admin_url, s3, tmp_path_factory):
    """A database and a bucket of this module's own, and Airflow's settings pointing at them."""
    with module_env(admin_url, s3, tmp_path_factory.mktemp("airflow"), "t_dags") as env:
        generate(env, D1, days=2)
        yield env


def _run(env: dict, day: str) -> subprocess.CompletedProcess:
    return dags_test(env, day)


def _run_without_param(env: dict, logical_date: str) -> subprocess.CompletedProcess:
    """`airflow dags test DAG <logical date>`, no conf: what a user types."""
    return subprocess.run(
        ["airflow", "dags", "test", "adtech_recommendations", logical_date],
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def two_days(env):
    results = {D1: _run(env, D1)}
    # A manual run's data interval ends at its logical date: logical date D2 + 1 day processes D2.
    next_day = (dt.date.fromisoformat(D2) + dt.timedelta(days=1)).isoformat()
    results[D2] = _run_without_param(env, next_day)
    for day, result in results.items():
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{day}:\n{why_it_failed(output)}"
    return results


def test_a_run_without_the_run_date_param_works_on_one_day_in_every_task(env, two_days) -> None:
    """Loads, dbt and publish all on D2 (the data interval's start), none on the logical date."""
    next_day = dt.date.fromisoformat(D2) + dt.timedelta(days=1)
    loaded = query(env, "select distinct date::text from ops.load_manifest order by 1")
    assert loaded == [(D1,), (D2,)]
    runs = query(env, "select date::text, version from ops.pipeline_runs order by date")
    assert [d for d, _ in runs] == [D1, D2]
    built = query(env, "select distinct date::text, version from marts.top_ctr order by 1")
    assert built == runs  # dbt wrote D2 with the version start opened, and nothing else
    assert query(env, "select date::text, version from ops.published_days order by 1") == runs
    assert not query(env, "select 1 from marts.recommendations where date = %s", next_day)


def test_two_consecutive_days_match_an_independent_computation(env, s3, two_days) -> None:
    for day in (D1, D2):
        expected = top_lists(day_files(s3, env["ADTECH_S3_BUCKET"], day), day)
        assert expected
        assert served_lists(env, day) == expected
    assert published(env) == [D1, D2]
    statuses = query(env, "select date::text, status from ops.pipeline_runs order by date")
    assert statuses == [(D1, "success"), (D2, "success")]


def test_exports_hold_each_stage_for_the_day(env, s3, two_days) -> None:
    bucket = env["ADTECH_S3_BUCKET"]
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"intermediate/date={D2}/")["Contents"]
    ]
    names = {Path(k).name for k in keys}
    assert "marts.recommendations.csv.gz" in names
    assert any(n.startswith("intermediate.") for n in names)
    body = s3.get_object(Bucket=bucket, Key=f"intermediate/date={D2}/marts.recommendations.csv.gz")
    lines = gzip.decompress(body["Body"].read()).decode().splitlines()
    (count,) = query(
        env,
        "select count(*) from marts.recommendations join ops.published_days using (date, version)"
        " where date = %s",
        D2,
    )[0]
    assert lines[0].startswith("date,") and len(lines) == count + 1
    assert all(line.startswith(D2) for line in lines[1:])


def _task_states(env: dict, day: str) -> dict[str, str | None]:
    return {task_id: state for task_id, (state, _) in task_instances(env, day).items()}


def _step(states: dict[str, str | None], name: str) -> set[str | None]:
    """The states of a step's tasks (its task group: a task per model and per model's tests)."""
    return {state for task_id, state in states.items() if task_id.startswith(f"{name}.")}


def test_a_published_day_failing_its_rerun_stays_served_unchanged(env, s3, two_days) -> None:
    """Runs last: D1's logs are replaced by inactive-only events, then D1 is run again. The rerun
    builds a new version beside the served one and fails dbt's test on `recommendations` in that
    model's task, in its place: the steps before it pass, nothing after it runs, and D1 stays
    published, pointing at the same version, with the same rows."""
    assert D1 in published(env)
    publication = query(env, "select * from ops.published_days where date = %s", D1)
    served = query(env, SERVED, D1)
    other_day = query(env, "select * from ops.published_days where date = %s", D2)
    other_rows = query(env, SERVED, D2)
    only_inactive_events(s3, env["ADTECH_S3_BUCKET"], D1)
    result = _run(env, D1)
    assert result.returncode != 0
    # The day is stopped by dbt's test on `recommendations`, not by a load or by publish.
    assert "assert_run_date_has_recommendations" in result.stdout + result.stderr
    states = _task_states(env, D1)
    assert {states[f"load_{s}"] for s in ("advertiser_ids", "product_views", "ads_views")} == {
        "success"
    }
    # One dbt build (Cosmos's producer) ran every step and failed; the failing test fails its
    # model's tests task, in its place: the steps before it passed, nothing after it ran.
    assert states[PRODUCER] == "failed"
    assert states[GATE] == "success"
    for step in ("FiltrarDatos", "TopCTR", "TopProduct"):
        assert _step(states, step) == {"success"}, step
    assert states["DBWriting.recommendations.run"] == "success"
    assert states["DBWriting.recommendations.test"] == "failed"
    assert _step(states, "DBWriting") == {"success", "failed", "upstream_failed"}
    output = result.stdout + result.stderr
    assert "Tests for model 'model.adtech_recs.recommendations' finished with status 'fail'" in (
        output
    )
    assert states["export"] == states["publish"] == "upstream_failed"
    assert states["record_failure"] == "failed"
    # D1 stays served as it was.
    assert published(env) == [D1, D2]
    assert query(env, "select * from ops.published_days where date = %s", D1) == publication
    assert query(env, SERVED, D1) == served
    # The other day is untouched.
    assert query(env, "select * from ops.published_days where date = %s", D2) == other_day
    assert query(env, SERVED, D2) == other_rows
    statuses = query(env, "select status from ops.pipeline_runs where date = %s", D1)
    assert sorted(statuses) == [("failed",), ("success",)]
    # The build recorded each step's nodes, the failing test among DBWriting's.
    ((recorded,),) = query(
        env,
        "select steps from ops.pipeline_runs where date = %s and status = 'failed'",
        D1,
    )
    by_step = {step["step"]: step for step in recorded}
    failing = [
        node["status"]
        for node in by_step["DBWriting"]["nodes"]
        if node["node"] == "assert_run_date_has_recommendations"
    ]
    assert failing == ["fail"]
