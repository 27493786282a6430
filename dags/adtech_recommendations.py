"""adtech_recommendations: every night, the recommendations for the log day that just ended.

D is the `run_date` param of a manual run, else the run's data interval start (a one-day interval
from CronDataIntervalTimetable). `start` works it out once (`_log_day`) and opens the run with a
new version of D's marts; every other task, Python and dbt alike, reads both from start's XCom, so
a run never works on two days. The tasks after `start` are pipeline/airflow/tasks.py's, shared
with the `adtech_backfill` DAG (the one DAG whose runs work on a range of days). The steps
and their order come from `pipeline.flow.sequence`, the same list `adtech run` walks:

    start -> load_{advertiser_ids,product_views,ads_views} -> dbt_build (one `dbt build`)
          -> FiltrarDatos -> TopCTR, TopProduct -> DBWriting -> export -> publish -> cleanup
          (record_failure runs if anything failed)

The dbt steps are Cosmos tasks (pipeline/airflow/dbt_group.py, ExecutionMode.WATCHER): Cosmos's
producer `dbt_build.dbt_producer_watcher` runs ONE `dbt build` of every step (dbt's start-up paid
once a run, as `adtech run` pays it), and each step is a task group holding a task per model and
one for its tests, each reading its node's result from the build: a failing model or test fails
its own task and its step, the later steps are upstream_failed, and the day stops before
`publish`. The run's day and version reach dbt as environment variables rendered from `start`'s
XCom (pipeline.steps.transform.dbt_env), so a new day keeps dbt's partial parsing; the dbt target
is pipeline.settings' (ADTECH_DBT_TARGET, else DBT_TARGET). The new version is built beside the
served one (write-audit-publish): until `publish` switches to it, and forever if the run fails,
the API answers D exactly as before.
"""

from __future__ import annotations

import os
from datetime import date

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from pipeline.airflow.tasks import default_args, record_failure, start_dbt_env, steps_after
from pipeline.flow import sequence as steps


def _date(name: str, default: str | None) -> pendulum.DateTime | None:
    value = os.environ.get(name, default)
    return pendulum.parse(value, tz="UTC") if value else None


def _log_day(context) -> date:
    """D for this run: the `run_date` param if given, else the data interval's start. The one
    place a task works the day out; everything else reads start's XCom."""
    requested = context["params"].get("run_date")
    if requested:
        return date.fromisoformat(requested)
    return context["data_interval_start"].date()


@task
def start() -> dict:
    """Create what the project owns and open the run: its log day D and the new version of D's
    marts it builds (ops.pipeline_runs). A published D stays served meanwhile."""
    context = get_current_context()
    run = steps.start(context["run_id"], _log_day(context))
    start_dbt_env([run])
    return run.as_dict()


with DAG(
    dag_id="adtech_recommendations",
    description="S3 logs of day D -> raw -> dbt (FiltrarDatos, TopCTR, TopProduct) -> marts -> API",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=_date("ADTECH_DAG_START_DATE", "2024-11-20"),
    end_date=_date("ADTECH_DAG_END_DATE", None),
    catchup=True,
    max_active_runs=1,
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Log day to process (YYYY-MM-DD); default: data interval start",
        ),
    },
    default_args=default_args(),
    tags=["adtech", "dbt"],
    doc_md=__doc__,
) as dag:
    started = start()
    after = steps_after(started)
    [started, *after.all()] >> record_failure()
