"""The `adtech_backfill` DAG, run for real with `airflow dags test adtech_backfill -c CONF`
against the real PostgreSQL and S3 over HTTP.

Days 2024-11-20 .. 2024-11-22: the churning days, published by one `adtech run` night each (run
once per test run, tests/nights.py: churning_nights, restored into this module's database, their
logs into its bucket), then run again as one range through the DAG. Days 23 and 24 generated
(seed fixed). Then 2024-11-22 .. 2024-11-24 runs as a range in which 22 (served since) has had
its logs replaced and 24 has bad logs (events of inactive advertisers only: dbt's test
assert_run_date_has_recommendations fails): the range fails, and each day runs alone.
"""

from __future__ import annotations

import json
import subprocess

import psycopg2
import pytest

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
from tests.nights import CHURNING_DAYS, churning_nights
from tests.reference import day_files, top_lists

DAG_ID = "adtech_backfill"
GOOD = [day.isoformat() for day in CHURNING_DAYS]  # 2024-11-20 .. 22, published as nights
MIXED = ["2024-11-22", "2024-11-23", "2024-11-24"]  # 22 and 24 fail alone, 23 passes
LOADS = {"load_advertiser_ids", "load_product_views", "load_ads_views"}
STEPS = {"FiltrarDatos", "TopCTR", "TopProduct", "DBWriting"}
PRODUCER = "dbt_build.dbt_producer_watcher"
GATE = "dbt_build.dbt_producer_watcher_done"


def _step(tasks: dict[str, str], name: str) -> set[str]:
    """The states of a step's tasks (its task group: a task per model and per model's tests)."""
    return {state for task_id, state in tasks.items() if task_id.startswith(f"{name}.")}


@pytest.fixture(scope="module")
def env(stack, admin_url, s3, tmp_path_factory, worker_id):
    """GOOD published by their nights (the shared archive restored, their logs copied), and the
    logs of the next two days, the second one bad."""
    nights = churning_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    with module_env(admin_url, s3, tmp_path_factory.mktemp("airflow"), "t_backfill") as env:
        nights.restore(env["DATABASE_URL"])
        nights.copy_objects(s3, env["ADTECH_S3_BUCKET"], "raw/")  # nothing the nights exported
        generate(env, MIXED[1], days=2)
        only_inactive_events(s3, env["ADTECH_S3_BUCKET"], MIXED[2])
        yield env


def backfill(env: dict, conf: dict | str) -> subprocess.CompletedProcess:
    """`airflow dags test adtech_backfill -c CONF`, as a user types it."""
    conf = conf if isinstance(conf, str) else json.dumps(conf)
    return subprocess.run(
        ["airflow", "dags", "test", DAG_ID, "-c", conf], env=env, capture_output=True, text=True
    )


def _metadata(env: dict, sql: str, *params) -> list[tuple]:
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def latest_run(env: dict) -> tuple[str, str, dict[str, str]]:
    """The latest adtech_backfill run: its run id, its state, and each task's state."""
    ((run_id, state),) = _metadata(
        env,
        "select run_id, state from dag_run where dag_id = %s order by id desc limit 1",
        DAG_ID,
    )
    tasks = _metadata(
        env,
        "select task_id, state from task_instance where dag_id = %s and run_id = %s",
        DAG_ID,
        run_id,
    )
    return run_id, state, dict(tasks)


def _output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def good_range(env):
    """The three days' served rows from their nights; then the same days as one range through
    the DAG."""
    nights = {day: query(env, SERVED, day) for day in GOOD}
    versions = dict(query(env, "select date::text, version from ops.published_days"))
    result = backfill(env, {"start": GOOD[0], "end": GOOD[-1]})
    assert result.returncode == 0, why_it_failed(_output(result))
    return nights, versions, latest_run(env)


def test_a_range_publishes_every_day_with_the_rows_of_its_nights(env, good_range) -> None:
    nights, night_versions, (run_id, state, _) = good_range
    assert state == "success"
    assert published(env) == GOOD
    for day in GOOD:
        assert nights[day], f"{day}: the night served nothing"
        assert query(env, SERVED, day) == nights[day], f"{day}: the range serves other rows"
    # One version for the whole range, newer than the nights', one run row per day.
    versions = query(
        env,
        "select date::text, version, run_id from ops.published_days where date = any(%s::date[])"
        " order by date",
        GOOD,
    )
    assert len({version for _, version, _ in versions}) == 1
    assert all(version > night_versions[day] for day, version, _ in versions)
    assert [r for _, _, r in versions] == [f"{run_id}__{day}" for day in GOOD]
    runs = query(
        env,
        "select date::text, status from ops.pipeline_runs where run_id like %s order by date",
        f"{run_id}__%",
    )
    assert runs == [(day, "success") for day in GOOD]


def test_a_range_runs_the_nightly_steps_once_for_all_its_days(env, good_range) -> None:
    """The same tasks as the nightly DAG, each run once for the range, all successful; the
    fallback and the failure record did not run."""
    _, _, (run_id, _, tasks) = good_range
    others = {"start", PRODUCER, GATE, "export", "publish", "cleanup", "nights_instead"}
    assert {t for t in tasks if t.split(".")[0] not in STEPS} == LOADS | others | {"record_failure"}
    assert {tasks[t] for t in LOADS | {"start", PRODUCER, GATE, "publish"}} == {"success"}
    assert set().union(*(_step(tasks, step) for step in STEPS)) == {"success"}
    assert tasks["nights_instead"] == tasks["record_failure"] == "skipped"
    # Each day's run records each statement step (from the one build).
    for day in GOOD:
        (steps,) = query(
            env, "select steps from ops.pipeline_runs where run_id = %s", f"{run_id}__{day}"
        )[0]
        assert {step["step"] for step in steps} >= STEPS


def test_a_range_exports_each_day(env, s3, good_range) -> None:
    for day in GOOD:
        listed = s3.list_objects_v2(
            Bucket=env["ADTECH_S3_BUCKET"], Prefix=f"intermediate/date={day}/"
        )
        assert f"intermediate/date={day}/marts.recommendations.csv.gz" in {
            o["Key"] for o in listed.get("Contents", [])
        }


@pytest.fixture(scope="module")
def mixed_range(env, s3, good_range):
    """22 (served) gets bad logs, 24 had them from the start: the range 22..24 fails its tests."""
    before = {
        "published": query(env, "select * from ops.published_days where date = %s", MIXED[0]),
        "served": query(env, SERVED, MIXED[0]),
        "others": {day: query(env, SERVED, day) for day in GOOD[:2]},
    }
    only_inactive_events(s3, env["ADTECH_S3_BUCKET"], MIXED[0])
    result = backfill(env, {"start": MIXED[0], "end": MIXED[-1]})
    return result, before, latest_run(env)


def test_a_failing_test_fails_its_step_task_in_place(env, mixed_range) -> None:
    result, _, (_, state, tasks) = mixed_range
    assert result.returncode != 0
    output = _output(result)
    assert "Tests for model 'model.adtech_recs.recommendations' finished with status 'fail'" in (
        output
    )
    assert {tasks[t] for t in LOADS | {"start", GATE}} == {"success"}
    assert tasks[PRODUCER] == "failed"
    for step in ("FiltrarDatos", "TopCTR", "TopProduct"):
        assert _step(tasks, step) == {"success"}, step
    assert tasks["DBWriting.recommendations.test"] == "failed"
    assert tasks["export"] == tasks["publish"] == "upstream_failed"
    assert tasks["nights_instead"] == "success"
    assert tasks["record_failure"] == "failed"
    assert state == "failed"


def test_each_day_runs_alone_after_a_failed_range(env, s3, mixed_range) -> None:
    """The good day is published by its own night; the bad days fail alone: 24 stays
    unpublished, 22 keeps its earlier served version, unchanged; the other days are untouched."""
    _, before, (run_id, _, _) = mixed_range
    assert published(env) == [*GOOD, MIXED[1]]
    expected = top_lists(day_files(s3, env["ADTECH_S3_BUCKET"], MIXED[1]), MIXED[1])
    assert expected and served_lists(env, MIXED[1]) == expected
    assert (
        query(env, "select * from ops.published_days where date = %s", MIXED[0])
        == before["published"]
    )
    assert query(env, SERVED, MIXED[0]) == before["served"]
    assert {day: query(env, SERVED, day) for day in GOOD[:2]} == before["others"]
    # The range's runs closed as failed; each day's own night (its latest other run), after
    # them: 23 published, 22 and 24 failed.
    ids = [f"{run_id}__{day}" for day in MIXED]
    ranged = query(
        env,
        "select date::text, status from ops.pipeline_runs where run_id = any(%s) order by date",
        ids,
    )
    assert ranged == [(day, "failed") for day in MIXED]
    alone = query(
        env,
        "select distinct on (date) date::text, status, started_at > (select max(started_at)"
        " from ops.pipeline_runs where run_id = any(%s)) from ops.pipeline_runs"
        " where date = any(%s::date[]) and run_id <> all(%s) order by date, started_at desc",
        ids,
        MIXED,
        ids,
    )
    assert alone == [
        (MIXED[0], "failed", True),
        (MIXED[1], "success", True),
        (MIXED[2], "failed", True),
    ]


# name: (conf, where it is refused, what the error says), as a user types it: one refused by
# the params' schema before any run exists, one by `start` (a range too long). The other bad
# values are refused in the same two places, checked in-process in test_dag_structure.py.
ATTACKS = {
    "nul byte": (
        {"start": "2024-11-20\u0000; drop table ops.published_days", "end": GOOD[1]},
        "schema",
        "Invalid input for param start: '2024-11-20\\x00; drop table ops.published_days'"
        " is not a 'date'",
    ),
    "ten years": (
        {"start": "2014-11-20", "end": "2024-11-20"},
        "start",
        "params start=2014-11-20, end=2024-11-20: ",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_bad_params_fail_with_a_clear_error_and_change_nothing(env, good_range, attack) -> None:
    conf, where, message = ATTACKS[attack]
    state = {
        table: query(env, f"select * from ops.{table} order by 1, 2")
        for table in ("published_days", "pipeline_runs")
    }
    runs_before = _metadata(env, "select count(*) from dag_run where dag_id = %s", DAG_ID)
    result = backfill(env, conf)
    assert result.returncode != 0
    assert message in _output(result), _output(result)[-3000:]
    if where == "schema":  # no DAG run was even created
        assert _metadata(env, "select count(*) from dag_run where dag_id = %s", DAG_ID) == (
            runs_before
        )
    else:  # the run's first task refused it: nothing ran after it
        _, state_of_run, tasks = latest_run(env)
        assert state_of_run == "failed" and tasks["start"] == "failed"
        assert tasks["nights_instead"] == "skipped"
        assert {tasks[t] for t in LOADS | {PRODUCER, "publish"}} == {"upstream_failed"}
        assert tasks[GATE] == "skipped"
    for table, rows in state.items():
        assert query(env, f"select * from ops.{table} order by 1, 2") == rows
