"""adtech_backfill: a range of log days in ONE run, for catching up or rebuilding many days.

Triggered by hand only (no schedule), with the params `start` and `end`: the first and last log
day, ISO dates (YYYY-MM-DD), inclusive, at most pipeline.flow.sequence.MAX_RANGE_DAYS days:

    airflow dags test adtech_backfill -c '{"start": "2024-11-20", "end": "2024-11-26"}'
    airflow dags trigger adtech_backfill -c '{"start": "2024-11-20", "end": "2024-11-26"}'

It is the nightly DAG (`adtech_recommendations`) made to carry many days at once, so that a
backfill pays dbt's start-up and each statement's fixed cost once, not once a day. `start` checks
the params and opens one run per day (ops.pipeline_runs, run ids `<Airflow run id>__<day>`), all
with ONE new version; every other task reads them from start's XCom. The tasks after `start` are
the nightly DAG's own (pipeline/airflow/tasks.py), in the same order (pipeline.flow.sequence):

    start -> load_{advertiser_ids,product_views,ads_views} -> dbt_build (one `dbt build`)
          -> FiltrarDatos -> TopCTR, TopProduct -> DBWriting -> export -> publish -> cleanup
          nights_instead   (if a load, the build or a step failed)
          record_failure   (if anything failed)

Each load task loads every day of the range for its source; Cosmos's producer
(`dbt_build.dbt_producer_watcher`) builds and tests every day of the range in ONE `dbt build` (the
same SQL statements for all the days); a failing model or test fails its own task and its step,
in its place, as in the nightly DAG. Export and publish then work
day by day: each day is published on its own (write-audit-publish, as a night publishes).

A range fails as a whole when one of its days fails (one build, one set of tests). Then
`nights_instead` closes the range's runs as failed and runs each day alone, as its own night
(pipeline.flow.runner.nights_instead): the good days are published, a bad day fails alone and stays
unpublished, or keeps its earlier served version, unchanged. The DAG run still ends failed
(`record_failure`), so the bad day is seen.

Only this DAG works on a range; a run of the nightly DAG never works on two days.
"""

from __future__ import annotations

import re
from datetime import date

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

from pipeline.airflow.tasks import (
    default_args,
    opened_runs,
    record_failure,
    start_dbt_env,
    steps_after,
)
from pipeline.flow import sequence as steps

DAG_ID = "adtech_backfill"
# Exactly YYYY-MM-DD in ASCII digits (no time, no trailing newline or NUL, no other digits).
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _param_day(params, name: str) -> date:
    """A param as a calendar day, or AirflowFailException saying what is wrong (no retry: the
    same params fail again)."""
    from airflow.sdk.exceptions import AirflowFailException

    value = params.get(name)
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        raise AirflowFailException(f"param {name!r} must be a date YYYY-MM-DD, got {value!r:.60}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AirflowFailException(f"param {name!r} is not a calendar date: {value!r}") from None


def requested_days(params) -> list[date]:
    """The range the params ask for, checked: two dates, end not before start, not too long."""
    from airflow.sdk.exceptions import AirflowFailException

    first, last = _param_day(params, "start"), _param_day(params, "end")
    try:
        return steps.days_between(first, last)
    except ValueError as exc:
        raise AirflowFailException(f"params start={first}, end={last}: {exc}") from None


@task
def start() -> list[dict]:
    """Check the params, create what the project owns and open the range: one run per day, all
    with one new version of their marts. Published days stay served meanwhile."""
    context = get_current_context()
    days = requested_days(context["params"])
    opened = steps.start_range(context["run_id"], days[0], days[-1])
    start_dbt_env(opened)
    return [run.as_dict() for run in opened]


@task(trigger_rule="one_failed", retries=0)
def nights_instead() -> dict:
    """After a failed load, build or step: each day of the range alone, as its own night (its own
    run and version), so the good days are published and a bad day fails alone. Returns each
    day's outcome; the run then ends failed through record_failure."""
    from airflow.sdk.exceptions import AirflowSkipException

    runs = opened_runs()
    if not runs:
        raise AirflowSkipException("start opened no day (see its log): nothing to run alone")
    error = (
        f"the range {runs[0].day}..{runs[-1].day} failed in Airflow run"
        f" {get_current_context()['run_id']}; each day ran alone instead"
    )
    from pipeline.flow.runner import nights_instead as run_alone

    results = run_alone(runs, error)
    for result in results:
        print(f"{result.day}: {result.status} (run {result.run_id}) {result.error or ''}")
    return {
        result.day.isoformat(): {
            "status": result.status,
            "run_id": result.run_id,
            "version": result.version,
            "error": result.error,
        }
        for result in results
    }


with DAG(
    dag_id=DAG_ID,
    description="Log days start..end in one run: one dbt build for the range, each day published",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    # Two ranges at once would only wait for each other's build (one build at a time).
    max_active_runs=1,
    params={
        "start": Param(
            type="string",
            format="date",
            description="First log day of the range (YYYY-MM-DD)",
        ),
        "end": Param(
            type="string",
            format="date",
            description="Last log day of the range (YYYY-MM-DD), inclusive;"
            f" at most {steps.MAX_RANGE_DAYS} days from start",
        ),
    },
    default_args=default_args(),
    tags=["adtech", "dbt", "backfill"],
    doc_md=__doc__,
) as dag:
    started = start()
    after = steps_after(started)
    alone = nights_instead()
    [*after.loads, *after.dbt.all()] >> alone
    [started, *after.all(), alone] >> record_failure()
