"""The loaders' tables (`raw.*`, `ops.load_manifest`, `ops.rejected_rows`)."""

from __future__ import annotations

from importlib.resources import files

from loaders.errors import SchemaError
from loaders.sources import SOURCES


def ensure_schema(conn) -> None:
    """Create the loaders' schemas and tables if missing (idempotent). Commits."""
    ddl = files("loaders").joinpath("sql/schema.sql").read_text()
    with conn, conn.cursor() as cur:
        cur.execute(ddl)
        cur.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'raw' and c.relname = any(%s) and c.relkind <> 'p'",
            (list(SOURCES),),
        )
        if old := [name for (name,) in cur.fetchall()]:
            raise SchemaError(
                f"raw.{', raw.'.join(old)} exist but are not partitioned by date (an older "
                "layout); drop them (their data is reloadable from S3) and load again"
            )
