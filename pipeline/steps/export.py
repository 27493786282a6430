"""Export each stage's output for day D to S3 as gzip CSV, streamed with COPY ... TO STDOUT."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql

from pipeline.settings import get_settings
from pipeline.steps.runs import RunContext
from pipeline.steps.s3_upload import MultipartWriter, s3_client

# The stages whose outputs are exported, one schema each: FiltrarDatos (`intermediate`) and the
# `marts`. The intermediate tables hold the latest build's days only, so the build exports them
# itself, before the next build may replace them (pipeline.flow.sequence.export_intermediates);
# the marts keep every version, and are exported after the steps passed
# (pipeline.flow.sequence.export).


@dataclass(frozen=True)
class ExportResult:
    relation: str
    key: str
    rows: int
    gzip_bytes: int


# The column that says which day a row belongs to: marts keep every day (`date`); intermediate
# tables hold the current run only (`run_date`).
DAY_COLUMNS = ("date", "run_date")


def exportable_relations(conn, schema: str) -> list[tuple[str, str, str, bool]]:
    """(schema, name, day column, versioned) of every table of `schema` with a day column, dbt's
    temporary relations and the views over published data excepted. Read from the catalog, so
    new models are exported without a code change."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select distinct on (c.table_schema, c.table_name)
                c.table_schema, c.table_name, c.column_name,
                exists (
                    select from information_schema.columns v
                    where v.table_schema = c.table_schema and v.table_name = c.table_name
                      and v.column_name = 'version'
                )
            from information_schema.columns c
            join information_schema.tables t using (table_schema, table_name)
            where c.table_schema = %s and c.column_name = any(%s)
              and t.table_type = 'BASE TABLE'
              and c.table_name not like '%%__dbt_tmp%%' and c.table_name not like '%%__dbt_backup%%'
            order by c.table_schema, c.table_name, array_position(%s, c.column_name::text)
            """,
            (schema, list(DAY_COLUMNS), list(DAY_COLUMNS)),
        )
        return cur.fetchall()


def export_relation(
    conn, client, bucket: str, key: str, relation: tuple[str, str, str, bool], run: RunContext
) -> ExportResult:
    """Stream one relation's rows of the run (its day; its version, where the relation is
    versioned) into s3://bucket/key, never holding the file."""
    schema, name, day_column, versioned = relation
    where = sql.SQL("{} = {}").format(sql.Identifier(day_column), sql.Literal(run.day))
    if versioned:
        where = sql.SQL("{} and version = {}").format(where, sql.Literal(run.version))
    query = sql.SQL("copy (select * from {} where {}) to stdout with (format csv, header)")
    copy = query.format(sql.Identifier(schema, name), where).as_string(conn)
    with (
        conn.cursor() as cur,
        MultipartWriter(client, bucket, key, content_type="application/gzip") as sink,
    ):
        # zlib's default level: gzip's own default (9) took 3.7x the time for 4 % less.
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, compresslevel=6) as gz:
            cur.copy_expert(copy, gz)
        rows = cur.rowcount
    return ExportResult(f"{schema}.{name}", key, rows, sink.bytes_written)


# Exports at once: each its own connection (COPY) and upload. A small object's upload is one
# request whose latency (moto: 15-20 ms, S3: more) would otherwise add up, file after file.
PARALLEL_EXPORTS = 4


def export_days(runs: list[RunContext], schema: str) -> dict[dt.date, list[ExportResult]]:
    """The tables of `schema` (a stage), each run's day under <export prefix>/date=D/, several
    at once (a backfill's days share one catalog query, one S3 client and a few connections)."""
    settings = get_settings()
    client = s3_client()
    with _reader() as conn:
        relations = exportable_relations(conn, schema)
    prefix = settings.export_prefix.rstrip("/")
    jobs = [
        (run, f"{prefix}/date={run.day.isoformat()}/{rel[0]}.{rel[1]}.csv.gz", rel)
        for run in runs
        for rel in relations
    ]

    def export_share(share: list[tuple[RunContext, str, tuple]]) -> list[ExportResult]:
        with _reader() as conn:
            return [
                export_relation(conn, client, settings.s3_bucket, key, rel, run)
                for run, key, rel in share
            ]

    workers = max(1, min(PARALLEL_EXPORTS, len(jobs)))
    with ThreadPoolExecutor(workers) as pool:
        shares = list(pool.map(export_share, [jobs[i::workers] for i in range(workers)]))
    # Job i went to share i % workers, at position i // workers.
    results = [shares[i % workers][i // workers] for i in range(len(jobs))]
    exported: dict[dt.date, list[ExportResult]] = {run.day: [] for run in runs}
    for (run, _, _), result in zip(jobs, results, strict=True):
        exported[run.day].append(result)
    return exported


@contextlib.contextmanager
def _reader() -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(get_settings().database_url)
    try:
        conn.set_session(readonly=True)
        yield conn
    finally:
        conn.close()
