"""Create what the pipeline owns (ops bookkeeping, marts schema, the API's read-only role)."""

from __future__ import annotations

from importlib.resources import files

import psycopg2

API_ROLE = "adtech_api"


def bootstrap(database_url: str) -> None:
    """Idempotent: safe before every run."""
    sql = files("pipeline").joinpath("sql/bootstrap.sql").read_text()
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()
