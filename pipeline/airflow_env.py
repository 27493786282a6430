"""Airflow's configuration for this project, as environment variables (no airflow.cfg to edit).

Production settings from the assignment: LocalExecutor, parallelism 2, metadata in PostgreSQL, no
example DAGs. The metadata database is `airflow` on the same server as DATABASE_URL unless
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is already set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from pipeline.settings import REPO_ROOT

METADATA_DB = "airflow"
DAG_ID = "adtech_recommendations"


def metadata_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{METADATA_DB}", "", ""))


def ensure_metadata_database(database_url: str) -> None:
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (METADATA_DB,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{METADATA_DB}"')
    finally:
        conn.close()


def airflow_env(home: Path | None = None) -> dict[str, str]:
    """os.environ plus this project's Airflow settings (settings already in the environment win)."""
    env = dict(os.environ)
    home = home or Path(env.get("AIRFLOW_HOME") or REPO_ROOT / ".stack" / "airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(env["DATABASE_URL"]),
        "AIRFLOW__COSMOS__ENABLE_CACHE": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # Prepended, not defaults: the project on the import path, and this venv's `airflow` and
    # `dbt` on PATH (Cosmos looks dbt up there) even when the venv is not activated.
    prepended = {
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": str(Path(sys.executable).parent),
    }
    merged = {**defaults, **env}
    for key, first in prepended.items():
        merged[key] = os.pathsep.join(filter(None, [first, env.get(key)]))
    return merged


def migrate(env: dict[str, str]) -> None:
    """Create or upgrade Airflow's metadata schema (idempotent)."""
    ensure_metadata_database(env["DATABASE_URL"])
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)


def dags_test(env: dict[str, str], day: str) -> subprocess.CompletedProcess:
    """`airflow dags test` for log day `day` (passed as the run_date param, so D is explicit)."""
    return subprocess.run(
        [
            "airflow",
            "dags",
            "test",
            DAG_ID,
            day,
            "--conf",
            f'{{"run_date": "{day}"}}',
        ],
        env=env,
        capture_output=True,
        text=True,
    )


def task_instances(env: dict[str, str], day: str) -> dict[str, tuple[str | None, float | None]]:
    """Each task's (state, duration in seconds) in the latest DAG run of log day `day`, read from
    Airflow's metadata database (`dags_test` passes the day in the run's conf)."""
    url = metadata_url(env["DATABASE_URL"]).replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select ti.task_id, ti.state, ti.duration
            from task_instance ti join dag_run dr on dr.run_id = ti.run_id and dr.dag_id = ti.dag_id
            where dr.id = (select max(id) from dag_run where dag_id = %s and conf::text like %s)
            """,
            (DAG_ID, f"%{day}%"),
        )
        return {task_id: (state, duration) for task_id, state, duration in cur.fetchall()}
