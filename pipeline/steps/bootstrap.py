"""Create what the pipeline owns (ops bookkeeping, the marts schema, the API's read-only role).

The SQL is the dbt macro `adtech_bootstrap` (dbt_project/macros/bootstrap.sql), which dbt also
runs as its on-run-start hook: one definition, whichever entry point comes first.
"""

from __future__ import annotations

from functools import cache

import jinja2
import psycopg2

from pipeline.settings import get_settings


@cache
def bootstrap_sql(api_role: str) -> str:
    macros = get_settings().dbt_project_dir / "dbt_project" / "macros" / "bootstrap.sql"
    template = jinja2.Environment(autoescape=False).from_string(macros.read_text())
    return str(template.module.adtech_bootstrap(api_role))


def bootstrap(database_url: str | None = None) -> None:
    """Idempotent: safe before every run."""
    settings = get_settings()
    conn = psycopg2.connect(database_url or settings.database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(bootstrap_sql(settings.api_role))
    finally:
        conn.close()
