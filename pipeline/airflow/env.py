"""Airflow's configuration for this project, as environment variables (no airflow.cfg to edit).

Production settings from the assignment: LocalExecutor, parallelism 2, metadata in PostgreSQL, no
example DAGs. The metadata database is `airflow` on the same server as DATABASE_URL unless
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is already set.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from pipeline.airflow.manifest import is_fresh, manifest_path
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


def project_settings(database_url: str, home: Path) -> dict[str, str]:
    """This project's Airflow, Cosmos and dbt settings, as environment variables: what
    `adtech stack env` exports and what `airflow_env` starts from."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(database_url),
        # A DAG parse right after the dbt project changed runs `dbt parse` first
        # (pipeline/airflow/manifest.py): 5-50 s on a busy machine, near Airflow's 30 s default.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "150",
        # Tasks report to the API server over HTTP; on a busy 2-core host (or a t2.small) its
        # answers took longer than the 5 s default and the task process was killed.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # A pipeline does not phone home: Cosmos sends usage telemetry from every task otherwise.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # Cosmos's producer keeps an XCom backup for a producer retry; the DAGs never retry it
        # (a retried producer skips itself without building: pipeline/airflow/dbt_group.py), so
        # there is nothing to back up.
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        # Cosmos versions a DAG by hashing every file under the dbt project's folder at each
        # parse; this project's is the repository root (its .venv, the local stack's sockets):
        # 3.6 s a parse instead of a fraction of a second. Airflow versions the DAG by its
        # serialized form, which the manifest's models and tests shape.
        "AIRFLOW__COSMOS__ENABLE_DAG_VERSIONING": "False",
        # Cosmos's cache (dbt's partial-parse state, kept from one build for the next) under
        # Airflow's home, not in the host-wide /tmp/cosmos that every Airflow on it would share.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
    }


def search_paths() -> dict[str, str]:
    """Entries to put first in PYTHONPATH and PATH: the project on the import path, and this venv's
    `airflow` and `dbt` on PATH, even when the venv is not activated."""
    return {"PYTHONPATH": str(REPO_ROOT), "PATH": str(Path(sys.executable).parent)}


def airflow_env(home: Path | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: os.environ) plus this project's Airflow settings (settings already in
    `base` win)."""
    env = dict(os.environ if base is None else base)
    home = home or Path(env.get("AIRFLOW_HOME") or REPO_ROOT / ".stack" / "airflow")
    merged = {**project_settings(env["DATABASE_URL"], home), **env}
    for key, first in search_paths().items():
        merged[key] = os.pathsep.join(filter(None, [first, env.get(key)]))
    return merged


def _head_revision() -> str | None:
    """The newest migration of the installed Airflow, read from its migration files (importing
    Airflow would cost seconds); None if their layout is not the expected one."""
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(spec.submodule_search_locations[0]) / "migrations" / "versions"
    files = sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    if not files:
        return None
    found = re.search(r'^revision\s*=\s*["\'](\w+)["\']', files[-1].read_text(), re.MULTILINE)
    return found.group(1) if found else None


def _psycopg2_url(env: dict[str, str]) -> str:
    """The metadata database as psycopg2 takes it (no SQLAlchemy driver in the scheme)."""
    return re.sub(
        r"^postgresql\+\w+://", "postgresql://", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )


def schema_is_current(env: dict[str, str]) -> bool:
    """True when Airflow's metadata schema is at the installed Airflow's head revision."""
    head = _head_revision()
    try:
        with psycopg2.connect(_psycopg2_url(env)) as conn, conn.cursor() as cur:
            cur.execute("select version_num from alembic_version")
            return head is not None and [r[0] for r in cur.fetchall()] == [head]
    except psycopg2.Error:  # no database or no schema yet
        return False


def migrate(env: dict[str, str]) -> bool:
    """Create or upgrade Airflow's metadata schema, only when it is not current (`airflow db
    migrate` takes about 15 s even when there is nothing to do). True if it ran."""
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == metadata_url(env["DATABASE_URL"]):
        ensure_metadata_database(env["DATABASE_URL"])
    if schema_is_current(env):
        return False
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    return True


def dag_is_registered(env: dict[str, str]) -> bool:
    """True when the metadata database holds the DAG as parsed from this dags folder since its
    files or dbt's manifest last changed (what `airflow dags list` and `airflow backfill create`
    read)."""
    folder = Path(env["AIRFLOW__CORE__DAGS_FOLDER"])
    newest = max((f.stat().st_mtime for f in folder.glob("*.py")), default=0.0)
    # The DAGs render dbt's project from its manifest: a stale one, or one made since the DAG
    # was registered, means tasks the metadata database does not have yet.
    manifest = manifest_path(folder.parent)
    if not is_fresh(manifest, folder.parent):
        return False
    newest = max(newest, manifest.stat().st_mtime)
    try:
        with psycopg2.connect(_psycopg2_url(env)) as conn, conn.cursor() as cur:
            cur.execute(
                "select extract(epoch from last_parsed_time) from dag"
                " where dag_id = %s and fileloc = %s and not is_stale",
                (DAG_ID, str(folder / f"{DAG_ID}.py")),
            )
            row = cur.fetchone()
    except psycopg2.Error:
        return False
    return row is not None and row[0] is not None and float(row[0]) >= newest


def register_dag(env: dict[str, str]) -> bool:
    """Parse the DAG into the metadata database (`airflow dags reserialize`) when it is missing or
    older than the dags folder: without a running DAG processor, nothing else does. True if it
    ran; raises if the DAG still is not there (an import error)."""
    if dag_is_registered(env):
        return False
    result = subprocess.run(
        ["airflow", "dags", "reserialize"], env=env, capture_output=True, text=True
    )
    if result.returncode != 0 or not dag_is_registered(env):
        raise RuntimeError(
            f"{DAG_ID} did not register (see `airflow dags list-import-errors`):\n"
            f"{result.stderr[-3000:]}"
        )
    return True


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
    with psycopg2.connect(_psycopg2_url(env)) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select ti.task_id, ti.state, ti.duration
            from task_instance ti join dag_run dr on dr.run_id = ti.run_id and dr.dag_id = ti.dag_id
            where dr.id = (select max(id) from dag_run where dag_id = %s and conf::text like %s)
            """,
            (DAG_ID, f"%{day}%"),
        )
        return {task_id: (state, duration) for task_id, state, duration in cur.fetchall()}
