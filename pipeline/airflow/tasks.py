"""The Airflow tasks both DAGs share, defined once: `adtech_recommendations` (one log day a run)
and `adtech_backfill` (a range of days in one run, one dbt build for all of them).

Each DAG has its own `start` task, which opens the run's days in ops.pipeline_runs and returns
them through XCom: one RunContext (the nightly DAG) or a list of them, one per day, all with the
same version (the backfill). Every task here reads them from there (`opened_runs`), never from
the params or the dates again, so every task of a run works on the days its `start` opened. With
one run a task does and returns exactly what it does for a day; with several it does it for each
day, in order, and returns the results by day.

The task ids are the functions' names (`dbt_build`, `export`, `publish`, `cleanup`,
`record_failure`); `load` and `report_step` get theirs from the DAG (`load_<source>`, the step's
name).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.sdk import get_current_context, task

from pipeline.airflow.notify import on_failure_callback
from pipeline.flow import sequence as steps
from pipeline.steps.runs import RunContext

START_TASK = "start"
BUILD_TASK = "dbt_build"

# dbt's statuses of a node that passed; any other fails its step's task.
PASSED = ("success", "pass", "warn")


def default_args() -> dict:
    """Both DAGs' task defaults: retries with exponential backoff (ADTECH_TASK_RETRIES), and
    the failure notice of pipeline.airflow.notify (ADTECH_ALERT_EMAIL_TO)."""
    return {
        "owner": "data-eng",
        "retries": int(os.environ.get("ADTECH_TASK_RETRIES", "2")),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": on_failure_callback(),  # a mail, when configured
    }


def opened_runs() -> list[RunContext]:
    """The run(s) `start` opened, in day order; [] when `start` did not (it failed)."""
    value = get_current_context()["ti"].xcom_pull(task_ids=START_TASK)
    if value is None:
        return []
    return [RunContext.from_dict(item) for item in (value if isinstance(value, list) else [value])]


def _runs() -> list[RunContext]:
    runs = opened_runs()
    if not runs:
        raise RuntimeError(f"task {START_TASK!r} opened no run (see its log)")
    return runs


def _per_day(work: Callable[[RunContext], Any]) -> Any:
    """`work` for each run: its result for one run, {day: result} for a range."""
    runs = _runs()
    if len(runs) == 1:
        return work(runs[0])
    return {run.day.isoformat(): work(run) for run in runs}


@task
def load(source: str) -> dict:
    """S3 -> raw for one source, for the run's day(s) (the loaders' code, idempotent per day)."""
    runs = _runs()
    if len(runs) == 1:
        return steps.load(runs[0].day, source)
    records = steps.load_days([run.day for run in runs], (source,))
    return {"source": source, "days": len(runs), "seconds": round(sum(r[1] for r in records), 3)}


@task
def dbt_build() -> dict:
    """Every dbt step for the run in ONE `dbt build` (models and their data tests; unit tests
    run in development and CI), as `adtech run` does; for a range, every day of it in the same
    build. Its nodes' results, by step, for the step tasks. Fails itself only when dbt could not
    run at all (no node result, e.g. no database): a failing model or test is reported by its
    step's task, in its place. After a successful build, still holding the build lock, it
    exports FiltrarDatos' tables (steps.build: the next build replaces them)."""
    from pipeline.steps.transform import DbtStepError

    exported = None
    try:
        nodes, exported = steps.build(_runs())
    except DbtStepError as exc:
        if not exc.nodes:
            raise
        nodes = exc.nodes
    return {"steps": steps.nodes_by_step(nodes), "exported": exported[2] if exported else {}}


@task(retries=0)  # it reads dbt_build's results: a retry cannot change them (clear dbt_build)
def report_step(name: str) -> dict:
    """One statement step: its models' and tests' results from dbt_build; fails if any of them
    failed, errored or was skipped (a failed test stops everything after it). Recorded in each
    of the run's days' ops.pipeline_runs rows."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.steps import runs as bookkeeping

    runs = _runs()
    nodes = get_current_context()["ti"].xcom_pull(task_ids=BUILD_TASK)["steps"][name]
    for node in nodes:
        print(f"{name}: {node['unique_id']} {node['status']} in {node['seconds']:.2f} s")
    seconds = sum(node["seconds"] for node in nodes)
    for run in runs:
        bookkeeping.record_step(run.run_id, name, seconds, {"nodes": nodes})
    failed = [f"{n['node']} ({n['status']})" for n in nodes if n["status"] not in PASSED]
    if failed or not nodes:
        raise AirflowFailException(f"{name} failed: {', '.join(failed) or 'no dbt node ran'}")
    return {"nodes": len(nodes), "seconds": round(seconds, 3)}


@task
def export() -> dict:
    """The marts of the run's day(s) -> s3://<bucket>/intermediate/date=D/marts.*.csv.gz (a
    range's days on one connection and S3 client); FiltrarDatos' tables went with dbt_build."""
    runs = _runs()
    return steps.export(runs[0]) if len(runs) == 1 else steps.export_days(runs)


@task
def publish() -> dict:
    """Only reached when every model and test passed: the API switches to the new version of
    each of the run's days (one day after the other, each atomically)."""
    return _per_day(steps.publish)


@task
def cleanup() -> dict:
    """Retention once the run's days are served: old raw days, rejected rows, superseded versions
    of the marts (never a day a build can still read, a day being rerun, or the served version).
    For a range, once, for its last day: retention counts back from the day, so an earlier
    day's cleanup drops a subset of what the last day's drops (and superseded versions are
    dropped for every published day either way)."""
    return steps.cleanup(_runs()[-1])


@task(trigger_rule="one_failed", retries=0)
def record_failure() -> None:
    """Mark the run's day(s) failed (unless already published), then fail itself so the DAG run
    ends failed (this task is the only leaf of the nightly DAG). A day's served version, if any,
    stays what the API answers."""
    from airflow.sdk.exceptions import AirflowFailException

    run_id = get_current_context()["run_id"]
    runs = opened_runs()
    for opened in [run.run_id for run in runs] or [run_id]:
        steps.fail(opened, "a task failed; see the Airflow task logs")
    if len(runs) > 1:
        raise AirflowFailException(
            f"run {run_id} failed: its version of {runs[0].day}..{runs[-1].day} was not"
            " published for every day (see the failed task, and nights_instead's log if it ran)"
        )
    raise AirflowFailException(f"run {run_id} failed: its version was not published")


@dataclass(frozen=True)
class StepTasks:
    """The tasks after `start`, as wired by `steps_after`."""

    loads: list
    built: Any
    reports: dict[str, Any]
    exported: Any
    published: Any
    cleaned: Any

    def all(self) -> list:
        return [
            *self.loads,
            self.built,
            *self.reports.values(),
            self.exported,
            self.published,
            self.cleaned,
        ]


def steps_after(started) -> StepTasks:
    """Inside a DAG: the steps of pipeline.flow.sequence after `started`, in their order (a load
    task per source, the one dbt build, a task per statement step wired as DBT_STEPS says, export,
    publish, cleanup)."""
    loads = [load.override(task_id=f"load_{source}")(source=source) for source in steps.SOURCES]
    built = dbt_build()
    reports = {
        step.name: report_step.override(task_id=step.name)(name=step.name)
        for step in steps.DBT_STEPS
    }
    for step in steps.DBT_STEPS:
        for upstream in step.upstream:
            reports[upstream] >> reports[step.name]
    first = [reports[s.name] for s in steps.DBT_STEPS if not s.upstream]
    last = reports[steps.DBT_STEPS[-1].name]
    exported = export()
    published = publish()
    cleaned = cleanup()
    started >> loads >> built >> first
    last >> exported >> published >> cleaned
    return StepTasks(loads, built, reports, exported, published, cleaned)
