"""Small helpers shared by the dbt tests."""

from __future__ import annotations

import os
from pathlib import Path

from dbt.cli.main import dbtRunnerResult

ROOT = Path(__file__).resolve().parents[2]


def node_statuses(result: dbtRunnerResult) -> dict[str, str]:
    """{node name: status} of a build/test result (success, pass, warn, fail, error, skipped)."""
    return {r.node.name: str(r.status) for r in result.result.results}


def subprocess_env(tmp: Path) -> dict[str, str]:
    """Environment for a `dbt`/`sqlfluff` subprocess that keeps dbt's artifacts out of the tree."""
    return {**os.environ, "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}


def unversioned_columns(cur, table: str) -> list[str]:
    """A mart's columns except `version`, in table order (to compare rows across versions)."""
    cur.execute(
        "select column_name from information_schema.columns where table_schema = 'marts'"
        " and table_name = %s and column_name <> 'version' order by ordinal_position",
        (table,),
    )
    return [name for (name,) in cur.fetchall()]
