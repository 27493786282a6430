"""The loaders' tables (`raw.*`, `ops.load_manifest`, `ops.rejected_rows`)."""

from __future__ import annotations

from importlib.resources import files


def ensure_schema(conn) -> None:
    """Create the loaders' schemas and tables if missing (idempotent). Commits."""
    sql = files("loaders").joinpath("sql/schema.sql").read_text()
    with conn, conn.cursor() as cur:
        cur.execute(sql)
