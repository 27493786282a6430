"""Run one dbt step (`dbt build --select ...`) for day D, in-process, as Cosmos does in the DAG."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pipeline.settings import get_settings


class DbtStepError(RuntimeError):
    """A model or a test of the step failed: the day must not be published."""


def dbt_vars(day: dt.date) -> str:
    return json.dumps({"run_date": day.isoformat()})


def _invoke(*args: str):
    """dbt in-process, with the project and profile at the repository root."""
    from dbt.cli.main import dbtRunner

    project_dir = str(get_settings().dbt_project_dir)
    return dbtRunner().invoke(
        [*args, "--project-dir", project_dir, "--profiles-dir", project_dir, "--quiet"]
    )


def dbt_build(day: dt.date, select: str) -> list[dict]:
    """Build and test the selected models for `day`; return one summary dict per node."""
    result = _invoke(
        "build",
        "--select",
        *select.split(),
        # Tests on the selection and its ancestors, never on a later step's models (as in the DAG).
        "--indirect-selection",
        "buildable",
        "--vars",
        dbt_vars(day),
    )
    nodes = [
        {"node": r.node.name, "status": str(r.status), "seconds": round(r.execution_time, 3)}
        for r in getattr(result.result, "results", None) or []
    ]
    if not result.success:
        failed = [n["node"] for n in nodes if n["status"] in ("error", "fail")]
        reason = f"failed nodes: {', '.join(failed)}" if failed else str(result.exception)
        raise DbtStepError(f"dbt build --select {select} for {day}: {reason}")
    return nodes


def dbt_parse() -> Path:
    """Write target/manifest.json (the DAG renders from it). Needs no database."""
    result = _invoke("parse")
    if not result.success:
        raise DbtStepError(f"dbt parse failed: {result.exception}")
    return get_settings().dbt_project_dir / "target" / "manifest.json"
