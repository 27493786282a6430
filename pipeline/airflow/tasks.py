"""The Airflow tasks both DAGs share, defined once: `adtech_recommendations` (one log day a run)
and `adtech_backfill` (a range of days in one run, one dbt build for all of them).

Each DAG has its own `start` task, which opens the run's days in ops.pipeline_runs and returns
them through XCom: one RunContext (the nightly DAG) or a list of them, one per day, all with the
same version (the backfill). Every task here reads them from there (`opened_runs`), never from
the params or the dates again, so every task of a run works on the days its `start` opened. With
one run a task does and returns exactly what it does for a day; with several it does it for each
day, in order, and returns the results by day.

The task ids are the functions' names (`export`, `publish`, `cleanup`, `record_failure`); `load`
gets its own from the DAG (`load_<source>`). The dbt steps are Cosmos's tasks
(pipeline/airflow/dbt_group.py): one `dbt build` (`dbt_build.dbt_producer_watcher`), then a task
group per statement step holding its models' tasks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.sdk import get_current_context, task

from pipeline.airflow.dbt_group import DbtTasks, dbt_tasks
from pipeline.airflow.notify import on_failure_callback
from pipeline.flow import sequence as steps
from pipeline.steps.runs import RunContext

START_TASK = "start"


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
def export() -> dict:
    """The marts of the run's day(s) -> s3://<bucket>/intermediate/date=D/marts.*.csv.gz (a
    range's days on one connection and S3 client); FiltrarDatos' tables went with the build."""
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


def start_dbt_env(runs: list[RunContext]) -> None:
    """For `start`: what dbt needs to know of the run (its day(s) and version), as an XCom
    that the Cosmos tasks render into their environment (pipeline/airflow/dbt_group.py)."""
    from pipeline.steps.transform import dbt_env

    get_current_context()["ti"].xcom_push(key="dbt_env", value=dbt_env(runs))


@dataclass(frozen=True)
class StepTasks:
    """The tasks after `start`, as wired by `steps_after`."""

    loads: list
    dbt: DbtTasks
    exported: Any
    published: Any
    cleaned: Any

    def all(self) -> list:
        return [*self.loads, *self.dbt.all(), self.exported, self.published, self.cleaned]


def steps_after(started) -> StepTasks:
    """Inside a DAG: the steps of pipeline.flow.sequence after `started`, in their order (a load
    task per source, the dbt steps as Cosmos tasks with their one build, export, publish,
    cleanup). `export` waits for the build itself as well as for the last step's models: a build
    that failed stops the day even where a model's task could not tell."""
    loads = [load.override(task_id=f"load_{source}")(source=source) for source in steps.SOURCES]
    dbt = dbt_tasks()
    exported = export()
    published = publish()
    cleaned = cleanup()
    started >> loads >> dbt.producer
    dbt.steps[steps.DBT_STEPS[-1].name] >> exported
    dbt.producer >> exported
    exported >> published >> cleaned
    return StepTasks(loads, dbt, exported, published, cleaned)
