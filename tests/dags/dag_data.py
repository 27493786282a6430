"""What the DAG run tests share: a database, a bucket and Airflow settings of a module's own,
generated days of logs (one of them made to fail dbt's tests), and the queries that read what
was published."""

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

from pipeline.airflow.env import METADATA_DB, airflow_env, metadata_url, migrate
from tests.databases import new_database, with_database
from tests.reference import day_files

# Served rows, without the version column (a rerun writes a new version of the same rows).
SERVED = """
    select date, advertiser_id, model, rank, product_id, score, views, impressions, clicks
    from marts.recommendations join ops.published_days using (date, version)
    where date = %s order by advertiser_id, model, rank
"""


@contextlib.contextmanager
def module_env(admin_url: str, s3, home: Path, prefix: str) -> Iterator[dict]:
    """A database and a bucket of the caller's own, and Airflow's settings pointing at them
    (the metadata database migrated); task retries off, so a failure fails at once."""
    bucket = f"{prefix.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with new_database(admin_url, prefix=prefix) as url, pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "DATABASE_URL": url,
            "ADTECH_S3_BUCKET": bucket,
            "ADTECH_TASK_RETRIES": "0",
        }.items():
            mp.setenv(key, value)
        env = airflow_env(home=home)
        migrate(env)
        yield env


@contextlib.contextmanager
def migrated_metadata_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A metadata database of the caller's own, at Airflow's head revision without an `airflow db
    migrate` of its own: a copy (PostgreSQL's CREATE DATABASE ... TEMPLATE) of the stack's
    `airflow` database, migrated once for every test of the stack. Yields its URL (psycopg2's
    scheme). Should the copy be refused (a process still connected to `airflow`), the new
    database is migrated instead."""
    env = airflow_env(base={**os.environ, "DATABASE_URL": admin_url})
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url(admin_url)
    migrate(env)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        copied = False
        for _ in range(5):
            try:
                with conn.cursor() as cur:
                    cur.execute(f'create database "{name}" template "{METADATA_DB}"')
                copied = True
                break
            except psycopg2.errors.ObjectInUse:
                time.sleep(2)
        url = with_database(admin_url, name)
        if not copied:
            with conn.cursor() as cur:
                cur.execute(f'create database "{name}"')
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url.replace(
                "postgresql", "postgresql+psycopg2", 1
            )
            migrate(env)
        yield url
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        conn.close()


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
