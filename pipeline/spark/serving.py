"""Serving stays on PostgreSQL when Spark builds the models (dbt target `spark`).

The export step of a Spark run (pipeline/flow/sequence.py `export`) does, for day D and version V:

1. **Write.** Spark writes each stage's output of the run as gzip CSV with a header, one folder
   per relation: `<root>/date=D/version=V/<schema>.<table>/part-*.csv.gz` (`insert overwrite
   directory ... using csv`). The root is ADTECH_SPARK_EXPORT_ROOT: `s3a://` in production, a
   `file://` folder where hadoop-aws is not installed. These files are the run's exports (on the
   default target pipeline/steps/export.py writes one file per relation instead).
2. **Land.** The serving marts' files (every table of PostgreSQL's schema `marts` with a
   `version` column: what the API reads) are COPYed into those same tables, with the same
   version V, in ONE transaction, which first deletes V's rows (a retried step replaces only its
   own version) and refuses V if it is the served one. Each table's landed rows must equal
   Spark's count, or nothing lands.
3. **Publish** then goes through pipeline/steps/publication.py exactly as on the default target: the
   API does not know which engine built the day.

On a brand-new database the PostgreSQL marts do not exist yet: `ensure_serving_tables` creates
them with the default target's own DDL (`dbt run --target default --empty`: contracts, grants,
indexes and the view recommendation_changes, with no rows).
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg2
from psycopg2 import sql

from pipeline.settings import get_settings
from pipeline.spark.settings import spark_settings
from pipeline.steps.publication import versioned_marts
from pipeline.steps.runs import RunContext

# Spark's CSV writer, made to write what PostgreSQL's CSV COPY reads back unchanged: quotes
# doubled (Spark escapes with a backslash by default) and no trimming of values (Spark trims
# leading and trailing blanks on write by default). Nulls are empty unquoted fields, empty
# strings "" (Spark's defaults, and PostgreSQL's).
CSV_OPTIONS = {
    "compression": "gzip",
    "header": "true",
    "escape": '"',
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}
# The stage outputs exported besides the serving marts: FiltrarDatos's intermediate tables.
INTERMEDIATE_SCHEMA = "intermediate"
# dbt selector of the views among the marts (recommendation_changes).
SERVING_VIEWS = "config.materialized:view,config.schema:marts"


class LandingError(RuntimeError):
    """The day's marts could not be copied into PostgreSQL whole: nothing landed."""


class SparkQueryError(RuntimeError):
    """A statement failed on Spark; the message is Spark's own, without the Java stack."""


def spark_sql(cur, statement: str) -> None:
    """Execute on Spark, turning PyHive's error (a whole thrift response) into one message."""
    try:
        cur.execute(statement)
    except Exception as exc:
        response = exc.args[0] if exc.args else None
        message = getattr(getattr(response, "status", None), "errorMessage", None) or str(exc)
        raise SparkQueryError(f"{message.splitlines()[0][:500]} (in: {statement[:300]})") from None


@dataclass(frozen=True)
class Written:
    """One relation written by Spark for the run."""

    relation: str  # schema.table on Spark
    uri: str  # the folder Spark wrote
    rows: int | None = None  # Spark's count (serving marts only)


def export_root() -> str:
    settings, spark = get_settings(), spark_settings()
    root = spark.export_root or f"s3a://{settings.s3_bucket}/{settings.export_prefix}"
    return root.rstrip("/") + "/"


@contextlib.contextmanager
def spark_cursor() -> Iterator:
    """A thrift session on the Spark Thrift Server dbt's `spark` target uses."""
    from pyhive import hive

    spark = spark_settings()
    conn = hive.connect(host=spark.host, port=spark.port, username=spark.user)
    try:
        yield conn.cursor()
    finally:
        conn.close()


def _quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: str | None, kind: str = "") -> str:
    return "null" if value is None else f"{kind}{_quote_literal(value)}"


def write_statement(uri: str, select: str) -> str:
    options = ", ".join(f"{k} {_quote_literal(v)}" for k, v in CSV_OPTIONS.items())
    return (
        f"insert overwrite directory {_quote_literal(uri)} using csv options ({options}) {select}"
    )


def _spark_tables(cur, schema: str) -> list[str]:
    spark_sql(cur, f"show tables in {schema}")
    # Rows: (namespace, tableName, isTemporary); dbt's scratch relations are not outputs.
    return sorted(
        name
        for _, name, temporary in cur.fetchall()
        if not temporary and "__dbt_tmp" not in name and "__dbt_backup" not in name
    )


def _spark_columns(cur, relation: str) -> list[str]:
    spark_sql(cur, f"show columns in {relation}")
    return [name for (name,) in cur.fetchall()]


def serving_columns(conn) -> dict[str, list[str]]:
    """PostgreSQL's serving marts and their columns, in table order."""
    with conn.cursor() as cur:
        tables = versioned_marts(cur)
        cur.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_schema = 'marts' and table_name = any(%s) order by ordinal_position",
            (tables,),
        )
        columns: dict[str, list[str]] = {t: [] for t in tables}
        for table, column in cur.fetchall():
            columns[table].append(column)
    return columns


def ensure_serving_tables(run: RunContext, spark_marts: list[str]) -> None:
    """Create PostgreSQL's marts, when any mart Spark built is missing there, with the default
    target's DDL: `dbt run --target default --empty` (every model with no rows: the marts'
    contracts, grants and indexes, the view the stats read; the staging views and intermediate
    tables it also creates stay empty and unused)."""
    url = get_settings().database_url
    with contextlib.closing(psycopg2.connect(url)) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            )
            missing = set(spark_marts) - {name for (name,) in cur.fetchall()}
        if not missing:
            return
        from loaders.schema import ensure_schema

        ensure_schema(conn)  # the raw tables the staging views select from
    from pipeline.steps.transform import dbt_env, environment

    with environment(dbt_env([run])):
        # Views over the marts (ref(...) as alias) do not compile under --empty, and creating a
        # view reads no data anyway: they come second, built plainly.
        _dbt("run", "--empty", "--exclude", SERVING_VIEWS)
        _dbt("run", "--select", SERVING_VIEWS)


def _dbt(*args: str) -> None:
    """dbt on the default (PostgreSQL) target, in-process."""
    from dbt.cli.main import dbtRunner

    project = str(get_settings().dbt_project_dir)
    result = dbtRunner().invoke(
        [
            *args,
            "--target",
            "default",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--quiet",
        ]
    )
    if not result.success:
        failed = [
            f"{r.node.name}: {(r.message or '').splitlines()[0] if r.message else r.status}"
            for r in getattr(result.result, "results", None) or []
            if str(r.status) in ("error", "fail")
        ]
        raise LandingError(
            f"creating PostgreSQL's marts (dbt {' '.join(args)}) failed: "
            + ("; ".join(failed) or str(result.exception))
        )


def _day_folder(run: RunContext) -> str:
    return f"{export_root()}date={run.day.isoformat()}/version={run.version}/"


def write_intermediates(contexts: Sequence[RunContext]) -> dict[str, dict]:
    """Spark writes FiltrarDatos' intermediate tables of each of the build's days under the
    export root. The build runs this while it still holds the build lock
    (pipeline.flow.sequence.build): the tables hold the latest build's days only, so a build
    started after it (another day, a backfill) would otherwise replace them first."""
    out: dict[str, dict] = {}
    with spark_cursor() as cur:
        tables = _spark_tables(cur, INTERMEDIATE_SCHEMA)
        columns = {t: _spark_columns(cur, f"{INTERMEDIATE_SCHEMA}.{t}") for t in tables}
        for run in contexts:
            day = f"date'{run.day.isoformat()}'"
            files = []
            for table in tables:
                relation = f"{INTERMEDIATE_SCHEMA}.{table}"
                where = f" where run_date = {day}" if "run_date" in columns[table] else ""
                uri = f"{_day_folder(run)}{relation}/"
                spark_sql(cur, write_statement(uri, f"select * from {relation}{where}"))
                files.append(uri)
            out[run.day.isoformat()] = {"files": files}
    return out


def write_day(run: RunContext, serving: dict[str, list[str]]) -> list[Written]:
    """Spark writes the run's serving marts of (D, V) under the export root and counts their
    rows (FiltrarDatos' tables went with the build: write_intermediates)."""
    base = _day_folder(run)
    day = f"date'{run.day.isoformat()}'"
    written: list[Written] = []
    with spark_cursor() as cur:
        for table, columns in serving.items():
            relation = f"marts.{table}"
            where = f"date = {day} and version = {run.version}"
            uri = f"{base}{relation}/"
            select = f"select {', '.join(columns)} from {relation} where {where}"
            spark_sql(cur, write_statement(uri, select))
            spark_sql(cur, f"select count(*) from {relation} where {where}")
            written.append(Written(relation, uri, cur.fetchone()[0]))
    return written


def _parts(uri: str) -> Iterator:
    """The CSV part files Spark wrote in `uri`, as readable binary streams (gunzipped)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("s3a", "s3", "s3n"):
        from pipeline.steps.s3_upload import s3_client

        client, prefix = s3_client(), parsed.path.lstrip("/")
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=parsed.netloc, Prefix=prefix
        )
        keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        for key in keys:
            if key.rsplit("/", 1)[-1].startswith("part-"):
                body = client.get_object(Bucket=parsed.netloc, Key=key)["Body"]
                yield _opened(key, body)
    elif parsed.scheme in ("file", ""):
        folder = Path(unquote(parsed.path))
        for path in sorted(folder.glob("part-*")):  # not _SUCCESS, not Hadoop's .crc files
            yield _opened(path.name, path.open("rb"))
    else:
        raise LandingError(f"cannot read Spark's files at {uri}: scheme {parsed.scheme!r}")


def _opened(name: str, raw):
    return gzip.GzipFile(fileobj=raw, mode="rb") if name.endswith(".gz") else raw


def land(run: RunContext, written: list[Written], serving: dict[str, list[str]]) -> dict[str, int]:
    """COPY the serving marts' files into PostgreSQL in one transaction; rows per table."""
    landed: dict[str, int] = {}
    by_relation = {w.relation: w for w in written}
    url = get_settings().database_url
    with contextlib.closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "select 1 from ops.published_days where date = %s and version = %s",
            (run.day, run.version),
        )
        if cur.fetchone():
            raise LandingError(
                f"{run.day}: version {run.version} is the served one; not replaced in place"
            )
        for table, columns in serving.items():
            relation = sql.Identifier("marts", table)
            cur.execute(
                sql.SQL("delete from {} where date = %s and version = %s").format(relation),
                (run.day, run.version),
            )
            copy = sql.SQL("copy {} ({}) from stdin with (format csv, header match)").format(
                relation, sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            w = by_relation[f"marts.{table}"]
            rows = 0
            for stream in _parts(w.uri):
                with stream:
                    cur.copy_expert(copy.as_string(conn), stream)
                rows += cur.rowcount
            if rows != w.rows:
                raise LandingError(
                    f"marts.{table}: {rows} rows landed from {w.uri}, Spark counted {w.rows}"
                )
            landed[table] = rows
    return landed


def mirror_publications() -> int:
    """PostgreSQL's ops.published_days copied over Spark's, in one statement, before a build on
    Spark (under the build lock): what the build reads of the served versions is PostgreSQL's,
    where publish switches them. The evaluation marts measure the day before's served lists,
    and clear_build refuses to rebuild a served version; without the copy, a night's build on
    Spark found no list of the day before (the evaluation came out empty) and no served version
    to refuse. Returns the number of days copied."""
    url = get_settings().database_url
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('ops.published_days') is not null")
        rows: list[tuple] = []
        if cur.fetchone()[0]:
            cur.execute(
                "select date::text, run_id, to_char(published_at at time zone 'UTC',"
                " 'YYYY-MM-DD HH24:MI:SS.US'), version from ops.published_days order by date"
            )
            rows = cur.fetchall()
    values = ", ".join(
        f"(date'{day}', {_literal(run_id)}, {_literal(published_at, 'timestamp')},"
        f" {'null' if version is None else int(version)})"
        for day, run_id, published_at, version in rows
    )
    with spark_cursor() as cur:
        spark_sql(
            cur,
            f"insert overwrite table ops.published_days values {values}"
            if rows
            else "truncate table ops.published_days",
        )
    return len(rows)


def export_and_land(run: RunContext) -> dict:
    """The export step on the spark target: write the run's stage outputs with Spark, then land
    the serving marts in PostgreSQL (one transaction). Publishing is the next step."""
    started = time.perf_counter()
    with spark_cursor() as cur:
        spark_marts = _spark_tables(cur, "marts")
    ensure_serving_tables(run, spark_marts)
    with contextlib.closing(psycopg2.connect(get_settings().database_url)) as conn:
        serving = serving_columns(conn)
    written = write_day(run, serving)
    wrote = time.perf_counter()
    landed = land(run, written, serving)
    return {
        "files": [w.uri for w in written],
        "rows": sum(landed.values()),
        "landed": landed,
        "spark_write_seconds": round(wrote - started, 3),
        "copy_seconds": round(time.perf_counter() - wrote, 3),
    }
