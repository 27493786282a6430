"""Run one dbt step (`dbt build --select ...`) for day D, in-process, as Cosmos does in the DAG."""

from __future__ import annotations

import datetime as dt
import json

from pipeline.settings import get_settings


class DbtStepError(RuntimeError):
    """A model or a test of the step failed: the day must not be published."""


def dbt_vars(day: dt.date) -> str:
    return json.dumps({"run_date": day.isoformat()})


def dbt_build(day: dt.date, select: str) -> list[dict]:
    """Build and test the selected models for `day`; return one summary dict per node."""
    from dbt.cli.main import dbtRunner

    project_dir = str(get_settings().dbt_project_dir)
    args = [
        "build",
        "--select",
        *select.split(),
        # Tests on the selection and its ancestors, never on a later step's models (as in the DAG).
        "--indirect-selection",
        "buildable",
        "--vars",
        dbt_vars(day),
        "--project-dir",
        project_dir,
        "--profiles-dir",
        project_dir,
        "--quiet",
    ]
    result = dbtRunner().invoke(args)
    nodes = (
        [
            {"node": r.node.name, "status": str(r.status), "seconds": round(r.execution_time, 3)}
            for r in (result.result or [])
        ]
        if hasattr(result.result, "__iter__")
        else []
    )
    if not result.success:
        failed = [n["node"] for n in nodes if n["status"] in ("error", "fail")]
        reason = f"failed nodes: {', '.join(failed)}" if failed else str(result.exception)
        raise DbtStepError(f"dbt build --select {select} for {day}: {reason}")
    return nodes


def dbt_parse():
    """Write target/manifest.json (the DAG renders from it). Needs no database."""
    from dbt.cli.main import dbtRunner

    project_dir = get_settings().dbt_project_dir
    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"]
    )
    if not result.success:
        raise DbtStepError(f"dbt parse failed: {result.exception}")
    return project_dir / "target" / "manifest.json"
