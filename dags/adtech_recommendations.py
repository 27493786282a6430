"""adtech_recommendations: every night, the recommendations for the log day that just ended.

D is the `run_date` param of a manual run, else the run's data interval start (a one-day interval
from CronDataIntervalTimetable). `start` works it out once (`_log_day`) and opens the run with a
new version of D's marts; every other task, Python and dbt alike, reads both from start's XCom, so
a run never works on two days. The steps and their order come from `pipeline.steps`, the same list
`adtech run` walks:

    start -> load_{advertiser_ids,product_views,ads_views} -> dbt_build -> FiltrarDatos
          -> TopCTR, TopProduct -> DBWriting -> export -> publish -> cleanup
          (record_failure runs if anything failed)

The dbt steps run as ONE `dbt build` (task `dbt_build`, the same call `adtech run` makes:
pipeline.transform.dbt_build, dbt's start-up paid once a run, not once per model), then one task
per statement step reports that step's models and tests: a failing model or test fails its
step's task (FiltrarDatos, TopCTR, TopProduct or DBWriting), the later steps are upstream_failed,
and the day stops before `publish`. The run's day and version reach dbt as environment variables
(pipeline.transform.dbt_env), so a new day keeps dbt's partial parsing; the dbt target is
pipeline.transform's too (ADTECH_DBT_TARGET, else DBT_TARGET). The new version is built
beside the served one (write-audit-publish): until `publish` switches to it, and forever if the
run fails, the API answers D exactly as before.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from pipeline import steps
from pipeline.runs import RunContext

# dbt's statuses of a node that passed; any other fails its step's task.
PASSED = ("success", "pass", "warn")


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


def _run() -> RunContext:
    return RunContext.from_dict(get_current_context()["ti"].xcom_pull(task_ids="start"))


@task
def start() -> dict:
    """Create what the project owns and open the run: its log day D and the new version of D's
    marts it builds (ops.pipeline_runs). A published D stays served meanwhile."""
    context = get_current_context()
    return steps.start(context["run_id"], _log_day(context)).as_dict()


@task
def load(source: str) -> dict:
    """S3 -> raw for one source of D (the loaders' code, idempotent per day)."""
    return steps.load(_run().day, source)


@task
def dbt_build() -> dict:
    """Every dbt step for the run in ONE `dbt build` (models and their data tests; unit tests
    run in development and CI), as `adtech run` does; its nodes' results, by step, for the step
    tasks. Fails itself only when dbt could not run at all (no node result, e.g. no database): a
    failing model or test is reported by its step's task, in its place."""
    from pipeline.transform import DbtStepError
    from pipeline.transform import dbt_build as build

    run = _run()
    try:
        nodes = build(run, *(step.select for step in steps.DBT_STEPS))
    except DbtStepError as exc:
        if not exc.nodes:
            raise
        nodes = exc.nodes
    return {"steps": steps.nodes_by_step(nodes)}


@task(retries=0)  # it reads dbt_build's results: a retry cannot change them (clear dbt_build)
def report_step(name: str) -> dict:
    """One statement step: its models' and tests' results from dbt_build; fails if any of them
    failed, errored or was skipped (a failed test stops everything after it)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline import runs

    run = _run()
    nodes = get_current_context()["ti"].xcom_pull(task_ids="dbt_build")["steps"][name]
    for node in nodes:
        print(f"{name}: {node['unique_id']} {node['status']} in {node['seconds']:.2f} s")
    seconds = sum(node["seconds"] for node in nodes)
    runs.record_step(run.run_id, name, seconds, {"nodes": nodes})
    failed = [f"{n['node']} ({n['status']})" for n in nodes if n["status"] not in PASSED]
    if failed or not nodes:
        raise AirflowFailException(f"{name} failed: {', '.join(failed) or 'no dbt node ran'}")
    return {"nodes": len(nodes), "seconds": round(seconds, 3)}


@task
def export() -> dict:
    """Each stage's output for the run -> s3://<bucket>/intermediate/date=D/*.csv.gz."""
    return steps.export(_run())


@task
def publish() -> dict:
    """Only reached when every model and test passed: the API switches to the new version."""
    return steps.publish(_run())


@task
def cleanup() -> dict:
    """Retention once D is served: old raw days, rejected rows, superseded versions of the marts
    (never a day a build can still read, a day being rerun, or the served version)."""
    return steps.cleanup(_run())


@task(trigger_rule="one_failed", retries=0)
def record_failure() -> None:
    """Mark the run failed (unless it already published), then fail itself so the DAG run ends
    failed (this task is the only leaf). D's served version, if any, stays what the API answers."""
    from airflow.sdk.exceptions import AirflowFailException

    run_id = get_current_context()["run_id"]
    steps.fail(run_id, "a task failed; see the Airflow task logs")
    raise AirflowFailException(f"run {run_id} failed: its version was not published")


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
    default_args={
        "owner": "data-eng",
        "retries": int(os.environ.get("ADTECH_TASK_RETRIES", "2")),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["adtech", "dbt"],
    doc_md=__doc__,
) as dag:
    started = start()
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
    [started, *loads, built, *reports.values(), exported, published, cleaned] >> record_failure()
