"""What the DAG run tests share: a database, a bucket, a metadata database and Airflow settings
of a module's own, generated days of logs (one of them made to fail dbt's tests), and the
queries that read what was published."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from pipeline.airflow.env import airflow_env, migrate
from tests.databases import new_database, with_database
from tests.reference import day_files

# Served rows, without the version column (a rerun writes a new version of the same rows).
SERVED = """
    select date, advertiser_id, model, rank, product_id, score, views, impressions, clicks
    from marts.recommendations join ops.published_days using (date, version)
    where date = %s order by advertiser_id, model, rank
"""


# Airflow's schema at the installed Airflow's head revision, and nothing else (no DAG, no run):
# migrated once per stack, then copied for each metadata database the tests use.
TEMPLATE_DB = "airflow_template"


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _migrated_template(admin_url: str, cur) -> None:
    """The stack's TEMPLATE_DB, created and migrated (`airflow db migrate`) on first use."""
    cur.execute("select 1 from pg_database where datname = %s", (TEMPLATE_DB,))
    if cur.fetchone() is None:
        cur.execute(f'create database "{TEMPLATE_DB}"')
    env = airflow_env(base={**os.environ, "DATABASE_URL": admin_url})
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _sqlalchemy(with_database(admin_url, TEMPLATE_DB))
    migrate(env)  # nothing to do once the template is at head


@contextlib.contextmanager
def metadata_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new metadata database of the caller's own, at Airflow's head revision without an
    `airflow db migrate` of its own: a copy (CREATE DATABASE ... TEMPLATE) of the stack's
    TEMPLATE_DB. Yields its URL (psycopg2's scheme)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            _migrated_template(admin_url, cur)
            for attempt in range(10):
                try:
                    cur.execute(f'create database "{name}" template "{TEMPLATE_DB}"')
                    break
                except psycopg2.errors.ObjectInUse:  # the migration's connection, closing
                    if attempt == 9:
                        raise
                    time.sleep(1)
        yield with_database(admin_url, name)
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        conn.close()


@contextlib.contextmanager
def module_env(admin_url: str, s3, home: Path, prefix: str) -> Iterator[dict]:
    """A database, a bucket and a migrated metadata database of the caller's own, and Airflow's
    settings pointing at them; task retries off, so a failure fails at once."""
    bucket = f"{prefix.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with (
        new_database(admin_url, prefix=prefix) as url,
        metadata_database(admin_url, prefix=f"{prefix}_meta") as meta,
        pytest.MonkeyPatch.context() as mp,
    ):
        for key, value in {
            "DATABASE_URL": url,
            "ADTECH_S3_BUCKET": bucket,
            "ADTECH_TASK_RETRIES": "0",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy(meta),
        }.items():
            mp.setenv(key, value)
        yield airflow_env(home=home)


def generate(env: dict, start: str, days: int) -> None:
    """`days` days of logs from `start` (seed fixed: the same logs every time)."""
    subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--start", start, "--days", str(days),
         "--seed", "7", "--advertisers", "12", "--active", "8", "--products", "60",
         "--views-per-day", "3000", "--ad-events-per-day", "6000"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip


def only_inactive_events(s3, bucket: str, day: str) -> None:
    """Rewrite D's event files keeping only advertisers absent from D's active list: D then has
    no recommendation and fails dbt's test assert_run_date_has_recommendations."""
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


def query(env: dict, sql: str, *params) -> list[tuple]:
    with psycopg2.connect(env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def published(env: dict) -> list[str]:
    return [str(d) for (d,) in query(env, "select date from ops.published_days order by date")]


def served_lists(env: dict, day: str) -> dict[tuple[str, str], list[str]]:
    """{(advertiser_id, model): [product_id by rank]} of the day's served version."""
    lists: dict[tuple[str, str], list[str]] = {}
    for adv, model, product in query(
        env,
        "select advertiser_id, model, product_id from marts.recommendations"
        " join ops.published_days using (date, version)"
        " where date = %s order by advertiser_id, model, rank",
        day,
    ):
        lists.setdefault((adv, model), []).append(product)
    return lists
