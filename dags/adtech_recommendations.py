"""adtech_recommendations: every night, the recommendations for the log day that just ended.

D is the run's data interval start (a one-day interval from CronDataIntervalTimetable), or the
`run_date` param of a manual run. The steps and their order come from `pipeline.steps`, the same
list `adtech run` walks:

    start -> load_{advertiser_ids,product_views,ads_views} -> FiltrarDatos -> TopCTR, TopProduct
          -> DBWriting -> export -> publish            (record_failure runs if anything failed)

The dbt steps are Cosmos task groups rendered from dbt's manifest (no database needed to parse):
one task per model running `dbt build` on it (the model, then its unit and data tests), so a
failing test fails that model's task and stops the day before `publish`.
"""

from __future__ import annotations

import os
from datetime import timedelta
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

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
MANIFEST = REPO_ROOT / "target" / "manifest.json"
# D for this run: the manual `run_date` if given, else the start of the one-day data interval.
RUN_DATE = "{{ params.run_date or data_interval_start | ds }}"


def _date(name: str, default: str | None) -> pendulum.DateTime | None:
    value = os.environ.get(name, default)
    return pendulum.parse(value, tz="UTC") if value else None


def _run_day():
    context = get_current_context()
    return pendulum.parse(context["params"].get("run_date") or context["ds"]).date()


@task
def start() -> str:
    """Create what the pipeline owns and open the run's row in ops.pipeline_runs (a day already
    published is withdrawn from the API until this run publishes it again)."""
    from pipeline.bootstrap import bootstrap
    from pipeline.runs import start_run
    from pipeline.settings import get_settings

    bootstrap(get_settings().database_url)
    day = _run_day()
    start_run(get_current_context()["run_id"], day)
    return day.isoformat()


@task
def load(source: str) -> dict:
    """S3 -> raw for one source of D (the loaders' code, idempotent per day)."""
    return steps.load(_run_day(), source)


@task
def export() -> dict:
    """Each stage's output for D -> s3://<bucket>/intermediate/date=D/*.csv.gz."""
    return steps.export(_run_day())


@task
def publish() -> dict:
    """Only reached when every model and test passed: D becomes what the API serves."""
    from pipeline.runs import finish_run

    result = steps.publish(_run_day(), get_current_context()["run_id"])
    finish_run(get_current_context()["run_id"], "success")
    return result


@task(trigger_rule="one_failed", retries=0)
def record_failure() -> None:
    """Mark the run failed, then fail itself so the DAG run ends failed (this task is the only
    leaf). D stays unpublished and the API keeps serving the previous day."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.runs import finish_run

    run_id = get_current_context()["run_id"]
    finish_run(run_id, "failed", "a task failed; see the Airflow task logs")
    raise AirflowFailException(f"run {run_id} failed: {_run_day()} was not published")


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
    profile = ProfileConfig(
        profile_name=DBT_PROJECT["profile"],
        target_name=os.environ.get("DBT_TARGET", "default"),
        profiles_yml_filepath=REPO_ROOT / "profiles.yml",
    )
    groups = {
        step.name: DbtTaskGroup(
            group_id=step.name,
            project_config=ProjectConfig(
                dbt_project_path=REPO_ROOT,
                models_relative_path=DBT_PROJECT["model-paths"][0],
                seeds_relative_path=DBT_PROJECT["seed-paths"][0],
                snapshots_relative_path=DBT_PROJECT["snapshot-paths"][0],
                manifest_path=MANIFEST,
                install_dbt_deps=False,
            ),
            profile_config=profile,
            # BUILD: one dbt invocation per model instead of a run task and a test task (each
            # invocation costs dbt's start-up; docs/BENCHMARKS.md, orchestration).
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                select=[step.select],
                test_behavior=TestBehavior.BUILD,
            ),
            # buildable: a model's tests include those on its ancestors (relationships), but
            # never a test on a model of a later step, which does not exist yet.
            execution_config=ExecutionConfig(
                invocation_mode=InvocationMode.DBT_RUNNER,
                test_indirect_selection=TestIndirectSelection.BUILDABLE,
            ),
            operator_args={"vars": {"run_date": RUN_DATE}, "install_deps": False},
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
    started >> loads
    for group in first:
        loads >> group
    last >> exported >> published
    [started, *loads, *groups.values(), exported, published] >> record_failure()
