"""The night checks its day's sources before building (`dbt source freshness` of the run's day,
pipeline/steps/transform.py: check_sources, run by pipeline/flow/sequence.py: build, which
`adtech run`, the backfill and the DAGs call): a source whose day loaded no row stops the day
with its name, before any model is built, and nothing is published; one loaded long ago is stale
and stops it too."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid

import psycopg2
import pytest

from tests.cli import adtech, pipeline_env
from tests.databases import new_database

DAY = dt.date(2024, 11, 20)


def test_an_empty_source_stops_the_day_before_the_build(stack, s3, admin_url) -> None:
    bucket = f"t-fresh-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    with new_database(admin_url, prefix="t_fresh") as url:
        env = pipeline_env(stack.env, url, bucket)
        adtech(
            env, "generate", "--start", DAY.isoformat(), "--days", "1", "--advertisers", "5",
            "--active", "4", "--products", "20", "--views-per-day", "500",
            "--ad-events-per-day", "500", "--seed", "8",
        )  # fmt: skip
        # The ad network's file for the day arrived empty: a header and no event.
        prefix = f"raw/ads_views/date={DAY}/"
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.put_object(
            Bucket=bucket,
            Key=f"{prefix}empty.csv.gz",
            Body=gzip.compress(b"advertiser_id,product_id,type,date\n"),
        )
        result = adtech(env, "run", "--date", DAY.isoformat(), check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"logs.ads_views has no loaded row for {DAY} (ops.load_manifest)" in output
        assert "logs.product_views" not in output  # only the empty source is named
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select status, error from ops.pipeline_runs")
            ((status, error),) = cur.fetchall()
            assert status == "failed" and "the sources of 2024-11-20 are not ready" in error
            cur.execute("select count(*) from ops.published_days")
            assert cur.fetchone() == (0,)
            # Stopped before the build: no model was built.
            cur.execute(
                "select to_regclass('marts.recommendations'),"
                " to_regclass('intermediate.int_active_advertisers')"
            )
            assert cur.fetchone() == (None, None)


def test_a_stale_source_stops_the_day(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check on bookkeeping alone: product_views' day finished loading 72 h ago."""
    from loaders.schema import ensure_schema
    from pipeline.flow.sequence import check_sources
    from pipeline.steps.bootstrap import bootstrap
    from pipeline.steps.runs import RunContext
    from pipeline.steps.transform import SourcesNotReady

    monkeypatch.setenv("ADTECH_S3_BUCKET", "unused")
    bootstrap(fresh_db)
    conn = psycopg2.connect(fresh_db)
    ensure_schema(conn)
    conn.close()
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        for source, hours in [("advertiser_ids", 1), ("product_views", 72), ("ads_views", 1)]:
            cur.execute(
                "insert into ops.load_manifest (date, source, s3_key, rows_loaded, rows_rejected,"
                " load_id, started_at, finished_at) values (%s, %s, %s, 10, 0, 't',"
                " now() - make_interval(hours => %s), now() - make_interval(hours => %s))",
                (DAY, source, f"raw/{source}/x.csv", hours, hours),
            )
    with pytest.raises(SourcesNotReady) as raised:
        check_sources(RunContext("r", DAY, 1))
    message = str(raised.value)
    assert f"logs.product_views was loaded for {DAY} 72.0 h ago" in message
    assert "ads_views" not in message and "advertiser_ids" not in message
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("update ops.load_manifest set finished_at = now()")
    checked = check_sources(RunContext("r", DAY, 1))
    assert {c["source"]: c["status"] for c in checked} == {
        "logs.advertiser_ids": "pass", "logs.product_views": "pass", "logs.ads_views": "pass"
    }  # fmt: skip
