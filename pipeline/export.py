"""Export each stage's output for day D to S3 as gzip CSV, streamed with COPY ... TO STDOUT."""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql

from pipeline.s3_upload import MultipartWriter, s3_client
from pipeline.settings import get_settings

# The stages whose outputs are exported: FiltrarDatos (intermediate) and the marts.
EXPORTED_SCHEMAS = ("intermediate", "marts")


@dataclass(frozen=True)
class ExportResult:
    relation: str
    key: str
    rows: int
    gzip_bytes: int


def exportable_relations(conn) -> list[tuple[str, str]]:
    """(schema, name) of every stage table or view that has a `date` column, dbt's temporary
    relations excepted. Read from the catalog, so new models are exported without a code change."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select c.table_schema, c.table_name
            from information_schema.columns c
            where c.table_schema = any(%s) and c.column_name = 'date'
              and c.table_name not like '%%__dbt_tmp%%' and c.table_name not like '%%__dbt_backup%%'
            order by 1, 2
            """,
            (list(EXPORTED_SCHEMAS),),
        )
        return cur.fetchall()


def export_relation(
    conn, client, bucket: str, key: str, schema: str, name: str, day: dt.date
) -> ExportResult:
    """Stream one relation's rows for `day` into s3://bucket/key, never holding the file."""
    query = sql.SQL("copy (select * from {} where date = {}) to stdout with (format csv, header)")
    copy = query.format(sql.Identifier(schema, name), sql.Literal(day)).as_string(conn)
    with conn.cursor() as cur, MultipartWriter(client, bucket, key) as sink:
        with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0) as gz:
            cur.copy_expert(copy, gz)
        rows = cur.rowcount
    return ExportResult(f"{schema}.{name}", key, rows, sink.bytes_written)


def export_day(day: dt.date) -> list[ExportResult]:
    settings = get_settings()
    client = s3_client()
    prefix = f"{settings.export_prefix.rstrip('/')}/date={day.isoformat()}/"
    conn = psycopg2.connect(settings.database_url)
    try:
        conn.set_session(readonly=True)
        return [
            export_relation(
                conn,
                client,
                settings.s3_bucket,
                f"{prefix}{schema}.{name}.csv.gz",
                schema,
                name,
                day,
            )
            for schema, name in exportable_relations(conn)
        ]
    finally:
        conn.close()
