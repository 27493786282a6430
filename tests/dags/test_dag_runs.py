"""`airflow dags test` end to end against the real PostgreSQL and S3 over HTTP.

Days (generated, seed fixed): D1 and D2 clean; D3 has events of inactive advertisers only, so a dbt
test fails and D3 must not be published; D4 is missing from S3.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from pipeline.airflow_env import airflow_env, dags_test, migrate, task_instances
from tests.databases import new_database
from tests.reference import day_files, top_lists

D1, D2, D3, D4 = "2024-11-20", "2024-11-21", "2024-11-22", "2024-11-23"


@pytest.fixture(scope="module")
def env(stack, admin_url, s3, dbt_manifest, tmp_path_factory):
    """A database and a bucket of this module's own, and Airflow's settings pointing at them."""
    bucket = f"dags-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    home = tmp_path_factory.mktemp("airflow")
    with new_database(admin_url, prefix="t_dags") as url, pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "DATABASE_URL": url,
            "ADTECH_S3_BUCKET": bucket,
            "ADTECH_TASK_RETRIES": "0",
        }.items():
            mp.setenv(key, value)
        env = airflow_env(home=home)
        migrate(env)
        _generate(env, D1, days=3)
        _only_inactive_events(s3, bucket, D3)
        yield env


def _generate(env: dict, start: str, days: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "generate",
            "--start",
            start,
            "--days",
            str(days),
            "--seed",
            "7",
            "--advertisers",
            "12",
            "--active",
            "8",
            "--products",
            "60",
            "--views-per-day",
            "3000",
            "--ad-events-per-day",
            "6000",
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def _only_inactive_events(s3, bucket: str, day: str) -> None:
    """Rewrite D's event files keeping only advertisers absent from D's active list."""
    files = day_files(s3, bucket, day)
    active = {r["advertiser_id"] for r in files["advertiser_ids"]}
    for source in ("product_views", "ads_views"):
        prefix = f"raw/{source}/date={day}/"
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        rows = [r for r in files[source] if r["advertiser_id"] not in active]
        assert rows, "the generator should produce events of inactive advertisers"
        header = list(rows[0])
        body = (
            ",".join(header) + "\n" + "".join(",".join(r[h] for h in header) + "\n" for r in rows)
        )
        s3.put_object(Bucket=bucket, Key=prefix + "part-0.csv", Body=body.encode())


def _query(env: dict, sql: str, *params) -> list[tuple]:
    with psycopg2.connect(env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _marts_lists(env: dict, day: str) -> dict[tuple[str, str], list[str]]:
    lists: dict[tuple[str, str], list[str]] = {}
    for adv, model, product in _query(
        env,
        "select advertiser_id, model, product_id from marts.recommendations"
        " where date = %s order by advertiser_id, model, rank",
        day,
    ):
        lists.setdefault((adv, model), []).append(product)
    return lists


def _published(env: dict) -> list[str]:
    return [str(d) for (d,) in _query(env, "select date from ops.published_days order by date")]


def _run(env: dict, day: str) -> subprocess.CompletedProcess:
    return dags_test(env, day)


@pytest.fixture(scope="module")
def two_days(env):
    results = {day: _run(env, day) for day in (D1, D2)}
    for day, result in results.items():
        assert result.returncode == 0, f"{day}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return results


def test_two_consecutive_days_match_an_independent_computation(env, s3, two_days) -> None:
    for day in (D1, D2):
        expected = top_lists(day_files(s3, env["ADTECH_S3_BUCKET"], day), day)
        assert expected
        assert _marts_lists(env, day) == expected
    assert _published(env) == [D1, D2]
    statuses = _query(env, "select date::text, status from ops.pipeline_runs order by date")
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
    (count,) = _query(env, "select count(*) from marts.recommendations where date = %s", D2)[0]
    assert lines[0].startswith("date,") and len(lines) == count + 1
    assert all(line.startswith(D2) for line in lines[1:])


def test_running_a_day_again_gives_identical_results(env, two_days) -> None:
    snapshot = "select * from marts.recommendations where date = %s order by 2, 3, 4"
    before = _query(env, snapshot, D2)
    other_day = _query(env, snapshot, D1)
    assert _run(env, D2).returncode == 0
    assert _query(env, snapshot, D2) == before
    assert _query(env, snapshot, D1) == other_day


def _task_states(env: dict, day: str) -> dict[str, str | None]:
    return {task_id: state for task_id, (state, _) in task_instances(env, day).items()}


def test_a_day_failing_a_dbt_test_is_not_published(env, two_days) -> None:
    result = _run(env, D3)
    assert result.returncode != 0
    # The day is stopped by dbt's test on `recommendations`, not by a load or by publish.
    assert "assert_run_date_has_recommendations" in result.stdout + result.stderr
    states = _task_states(env, D3)
    assert {states[f"load_{s}"] for s in ("advertiser_ids", "product_views", "ads_views")} == {
        "success"
    }
    assert states["DBWriting.recommendations_model_build"] == "failed"
    assert states["publish"] == "upstream_failed"
    assert states["record_failure"] == "failed"
    assert _published(env) == [D1, D2]
    assert _query(env, "select status from ops.pipeline_runs where date = %s", D3) == [("failed",)]


def test_a_day_missing_in_s3_fails_in_the_load_task_with_a_clear_message(env, two_days) -> None:
    result = _run(env, D4)
    assert result.returncode != 0
    assert "failed" in {_task_states(env, D4)[f"load_{s}"] for s in ("product_views", "ads_views")}
    output = result.stdout + result.stderr
    assert "load_" in output and "MissingPartitionError" in output
    assert f"date={D4}" in output
    assert D4 not in _published(env)


def test_a_published_day_failing_its_rerun_is_withdrawn_not_served_half_built(env, s3) -> None:
    """Runs last: D1's logs are replaced by inactive-only events, then D1 is run again. The rerun
    rewrites D1's marts and then fails a test; D1 must not stay published over those rows."""
    assert D1 in _published(env)
    _only_inactive_events(s3, env["ADTECH_S3_BUCKET"], D1)
    result = _run(env, D1)
    assert result.returncode != 0
    assert "withdrawn from the API" in result.stdout + result.stderr
    assert _task_states(env, D1)["DBWriting.recommendations_model_build"] == "failed"
    assert _published(env) == [D2]
    statuses = _query(env, "select status from ops.pipeline_runs where date = %s", D1)
    assert sorted(statuses) == [("failed",), ("success",)]
