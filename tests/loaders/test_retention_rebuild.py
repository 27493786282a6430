"""A day whose raw partitions the cleanup dropped rebuilds, with `adtech run`, to the same served
marts, row for row; `adtech cleanup --dry-run` changes nothing. The real commands in a child
process (as an operator runs them), on the test's own database and bucket, which start from days
published once for the whole test run (tests/nights.py: published_nights; DAY is the last)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.cli import adtech, pipeline_env
from tests.nights import PUBLISHED_DAYS, published_nights

ROOT = Path(__file__).resolve().parents[2]
DAY = PUBLISHED_DAYS[-1]
LATER = DAY + dt.timedelta(days=10)
SOURCES = ("advertiser_ids", "product_views", "ads_views")


def query(url: str, statement: sql.Composable | str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def served_marts(url: str) -> dict[str, list[tuple]]:
    """Every versioned mart's rows of DAY in the served version, without the version itself."""
    tables = [t for (t,) in query(url, VERSIONED)]
    assert "recommendations" in tables
    out = {}
    for table in tables:
        columns = [
            c
            for (c,) in query(
                url,
                "select column_name from information_schema.columns where table_schema = "
                "'marts' and table_name = %s and column_name <> 'version' order by 1",
                (table,),
            )
        ]
        listed = sql.SQL(", ").join(sql.SQL("m.{}").format(sql.Identifier(c)) for c in columns)
        out[table] = query(
            url,
            sql.SQL(
                "select {cols} from {table} m join ops.published_days p using (date, version) "
                "where m.date = %s order by {cols}"
            ).format(cols=listed, table=sql.Identifier("marts", table)),
            (DAY,),
        )
    return out


VERSIONED = """
    select table_name from information_schema.columns
    where table_schema = 'marts' and column_name = 'version' order by 1
"""


def raw_rows(url: str) -> list[int]:
    return [
        query(url, f"select count(*) from raw.{s} where date = %s", (DAY,))[0][0] for s in SOURCES
    ]


def test_a_dropped_day_rebuilds_to_the_same_served_marts(
    stack, s3, admin_url, fresh_db, bucket, tmp_path_factory, worker_id
):
    nights = published_nights(tmp_path_factory, worker_id, stack, s3, admin_url)
    nights.restore(fresh_db)
    nights.copy_objects(s3, bucket, "raw/")
    env = pipeline_env(stack.env, fresh_db, bucket, ADTECH_RETAIN_RAW_DAYS="1")
    first = served_marts(fresh_db)
    assert first["recommendations"], "the day published recommendations"
    loaded = raw_rows(fresh_db)
    assert all(loaded)

    dry = adtech(env, "cleanup", "--dry-run", "--date", LATER.isoformat()).stdout
    assert "would drop" in dry and str(DAY) in dry
    assert raw_rows(fresh_db) == loaded  # the dry run changed nothing

    adtech(env, "cleanup", "--date", LATER.isoformat())
    assert raw_rows(fresh_db) == [0, 0, 0]

    adtech(env, "run", "--date", DAY.isoformat())  # reloads the day from S3, rebuilds it
    assert raw_rows(fresh_db) == loaded
    assert served_marts(fresh_db) == first
