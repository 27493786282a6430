"""adtech_recommendations: every night, the recommendations for the log day that just ended.

D is the `run_date` param of a manual run, else the run's data interval start (a one-day interval
from CronDataIntervalTimetable). `start` works it out once (`_log_day`) and opens the run with a
new version of D's marts; every other task, Python and dbt alike, reads both from start's XCom, so
a run never works on two days. The steps and their order come from `pipeline.steps`, the same list
`adtech run` walks:

    start -> load_{advertiser_ids,product_views,ads_views} -> FiltrarDatos -> TopCTR, TopProduct
          -> DBWriting -> export -> publish -> cleanup  (record_failure runs if anything failed)

The dbt steps are Cosmos task groups rendered from dbt's manifest (no database needed to parse):
one task per model running `dbt build` on it (the model, then its unit and data tests), so a
failing test fails that model's task and stops the day before `publish`. The new version is
built beside the served one (write-audit-publish): until `publish` switches to it, and forever if
the run fails, the API answers D exactly as before.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pendulum
import yaml
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import InvocationMode, TestBehavior, TestIndirectSelection

from pipeline import steps
from pipeline.manifest import ensure_manifest
from pipeline.runs import RunContext
from pipeline.settings import dbt_target

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
# Parsed by dbt first when missing or stale, so the DAG imports on a fresh checkout.
# The dbt target, by configuration (ADTECH_DBT_TARGET, else DBT_TARGET): `default` builds on
# PostgreSQL; `spark` builds over thrift and the export task lands the serving marts in
# PostgreSQL (pipeline/spark_serving.py). Its manifest is parsed for that target.
DBT_TARGET = dbt_target()
MANIFEST = ensure_manifest(REPO_ROOT, DBT_TARGET)
# The run's day and version, as `start` returned them; how dbt receives them is
# pipeline.transform.dbt_env (environment variables: a new day keeps dbt's partial parsing).
DBT_ENV = {
    "ADTECH_RUN_DATE": "{{ ti.xcom_pull(task_ids='start')['day'] }}",
    "ADTECH_BUILD_VERSION": "{{ ti.xcom_pull(task_ids='start')['version'] }}",
}

PROFILE = ProfileConfig(
    profile_name=DBT_PROJECT["profile"],
    target_name=DBT_TARGET,
    profiles_yml_filepath=REPO_ROOT / "profiles.yml",
)
PROJECT = ProjectConfig(
    dbt_project_path=REPO_ROOT,
    models_relative_path=DBT_PROJECT["model-paths"][0],
    seeds_relative_path=DBT_PROJECT["seed-paths"][0],
    snapshots_relative_path=DBT_PROJECT["snapshot-paths"][0],
    manifest_path=MANIFEST,
    install_dbt_deps=False,
)
# buildable: a model's tests include those on its ancestors (relationships), but never a test on
# a model of a later step, which does not exist yet.
EXECUTION = ExecutionConfig(
    invocation_mode=InvocationMode.DBT_RUNNER,
    test_indirect_selection=TestIndirectSelection.BUILDABLE,
)


def _render(select: str) -> RenderConfig:
    # BUILD: one dbt invocation per model instead of a run task and a test task (each invocation
    # costs dbt's start-up; docs/BENCHMARKS.md, orchestration).
    # Ephemeral models are inlined where they are used: no task of their own.
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=[select],
        exclude=["config.materialized:ephemeral"],
        test_behavior=TestBehavior.BUILD,
    )


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
    groups = {
        step.name: DbtTaskGroup(
            group_id=step.name,
            project_config=PROJECT,
            profile_config=PROFILE,
            render_config=_render(step.select),
            execution_config=EXECUTION,
            operator_args={"env": DBT_ENV, "install_deps": False},
        )
        for step in steps.DBT_STEPS
    }
    for step in steps.DBT_STEPS:
        for upstream in step.upstream:
            groups[upstream] >> groups[step.name]
    first = [groups[s.name] for s in steps.DBT_STEPS if not s.upstream]
    last = groups[steps.DBT_STEPS[-1].name]
    exported = export()
    published = publish()
    cleaned = cleanup()
    started >> loads
    for group in first:
        loads >> group
    last >> exported >> published >> cleaned
    [started, *loads, *groups.values(), exported, published, cleaned] >> record_failure()
