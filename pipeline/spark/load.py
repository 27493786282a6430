"""The load step on the spark target: the day's files into Spark's raw partition, the bookkeeping
into PostgreSQL.

Spark reads the S3 layout itself (`dbt run-operation load_raw_day`, dbt_project/macros/
load_raw_day.sql: the loaders' rules, rejects kept with their reason, the reject ceiling, the
active-list fallback) and records each file in its own ops.load_manifest / ops.rejected_rows.
This module then mirrors the source-day's rows of those two tables into PostgreSQL's, in one
transaction replacing the source-day's earlier rows, so ops.load_manifest (rows_loaded,
rows_rejected) and ops.rejected_rows answer the same questions on both targets. PostgreSQL
numbers the objects itself (object_id): Spark's ids are hashes of the keys and could collide
with ids PostgreSQL's loaders gave; Spark's own tables keep the lineage of its raw rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values

from loaders.partitions import day_lock
from loaders.schema import ensure_schema
from pipeline.settings import get_settings
from pipeline.spark.objects import mirror_from_s3, staged_by_content
from pipeline.spark.serving import spark_cursor, spark_sql
from pipeline.spark.settings import spark_settings

# dbt without installing a console script: what `dbt` runs.
DBT = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


class SparkLoadError(RuntimeError):
    """The source-day did not load on Spark (missing day, bad header, too many rejects...)."""


def run_load_macro(source: str, day: dt.date, extra: dict | None = None) -> None:
    """`dbt run-operation load_raw_day` in a process of its own: the three loads run at once,
    beside `adtech run`'s own dbt parse (dbt in-process is one invocation at a time). Each
    source keeps its own target folder, so partial parsing serves it night after night."""
    from pipeline.steps.transform import target_args

    project = str(get_settings().dbt_project_dir)
    target = target_args("spark")
    target[-1] = str(Path(target[-1]) / f"load-{source}")  # --target-path <spark's>/load-<source>
    args = json.dumps({"source": source, "date": day.isoformat(), **(extra or {})})
    result = subprocess.run(
        [sys.executable, "-c", DBT, "run-operation", "load_raw_day", "--args", args,
         "--project-dir", project, "--profiles-dir", project, "--no-write-json", *target],
        cwd=project, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).splitlines()
        start = next((i for i, line in enumerate(lines) if "rror" in line), 0)
        reason = " ".join(
            line.strip() for line in lines[start:] if line.strip() and "\tat " not in line
        )
        raise SparkLoadError(f"{source} {day}: load_raw_day failed: {reason[:600]}")


def mirror_bookkeeping(source: str, day: dt.date) -> tuple[int, int]:
    """Spark's ops rows of the source-day into PostgreSQL's; returns (rows loaded, rejected)."""
    where = f"date = date'{day.isoformat()}' and source = '{source}'"
    with spark_cursor() as cur:
        spark_sql(
            cur,
            "select s3_key, etag, size_bytes, rows_loaded, rows_rejected, load_id, started_at,"
            f" finished_at from ops.load_manifest where {where} order by s3_key",
        )
        files = cur.fetchall()
        spark_sql(
            cur,
            "select s3_key, line_number, line, reason, load_id from ops.rejected_rows"
            f" where {where} order by s3_key, line_number",
        )
        rejects = cur.fetchall()
    if not files:
        raise SparkLoadError(f"{source} {day}: Spark's ops.load_manifest has no file for the day")
    url = get_settings().database_url
    with contextlib.closing(psycopg2.connect(url)) as conn:
        ensure_schema(conn)  # the loaders' ops tables, on a brand-new database
        with conn, conn.cursor() as cur:
            _replace_rows(cur, source, day, files, rejects)
    return sum(f[3] for f in files), sum(f[4] for f in files)


def _replace_rows(cur, source: str, day: dt.date, files: list, rejects: list) -> None:
    # The loaders' lock of this source-day: a PostgreSQL load of it waits, as does retention.
    day_lock(cur, source, day)
    for table in ("ops.rejected_rows", "ops.load_manifest"):
        cur.execute(f"delete from {table} where date = %s and source = %s", (day, source))
    ids = dict(
        execute_values(
            cur,
            "insert into ops.load_manifest (date, source, s3_key, etag, size_bytes,"
            " rows_loaded, rows_rejected, load_id, started_at, finished_at)"
            " values %s returning s3_key, object_id",
            [(day, source, *row) for row in files],
            template="(%s, %s, %s, %s, %s, %s, %s, %s, %s::timestamp at time zone 'UTC',"
            " %s::timestamp at time zone 'UTC')",
            fetch=True,
        )
    )
    execute_values(
        cur,
        "insert into ops.rejected_rows (date, source, s3_key, line_number, line, reason,"
        " load_id, object_id) values %s",
        [(day, source, key, n, line, reason, load, ids.get(key))
         for key, n, line, reason, load in rejects],
        page_size=5000,
    )  # fmt: skip


def load_lock_key() -> str:
    """What the loads of one Spark target lock: its Thrift endpoint, as every host names it."""
    spark = spark_settings()
    return f"adtech.spark.load:{spark.host}:{spark.port}"


@contextlib.contextmanager
def one_load_at_a_time() -> Iterator[None]:
    """The loads of one Spark target take turns, wherever they run (threads of `adtech run`,
    the DAG's load tasks on several Airflow workers): every load writes Spark's
    ops.load_manifest and ops.rejected_rows, and two jobs writing one table at once share its
    _temporary folder, which the first to finish deletes under the other
    (FileNotFoundException). The lock is a session advisory lock in the pipeline's PostgreSQL,
    which every host reaches (a local file would hold on one host only); a load that dies
    releases it with its connection."""
    conn = psycopg2.connect(get_settings().database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (load_lock_key(),))
        yield
    finally:
        conn.close()  # ends the session, and the lock with it


def load_source_on_spark(source: str, day: dt.date) -> dict:
    """The load step of one source on the spark target (pipeline/flow/sequence.py `load`)."""
    with one_load_at_a_time():
        mirror_from_s3(source, day)  # only with ADTECH_SPARK_RAW_FROM_S3 (the local stack)
        with staged_by_content(source, day) as staged:
            run_load_macro(source, day, staged.macro_args())
    loaded, rejected = mirror_bookkeeping(source, day)
    return {"source": source, "rows_loaded": loaded, "rows_rejected": rejected}
