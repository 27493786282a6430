"""The day's steps, defined once, in order, for one day and for a backfill's range of days.
pipeline/flow/runner.py walks them without a scheduler (`adtech run`, `adtech backfill`); the
Airflow DAGs render the same list as tasks (pipeline/airflow/tasks.py: one `dbt build` for the dbt
steps, then a task per step reporting it).

    load (3 sources, parallel in Airflow) -> FiltrarDatos -> TopCTR, TopProduct -> DBWriting
        -> export -> publish -> cleanup

A range's steps (`*_days`, start_range) do the same for consecutive days: the loads of every
day, ONE dbt build for all of them (every day in the same statements, one version), the exports
of every day; each day is then published on its own.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipeline.settings import REPO_ROOT, get_settings
from pipeline.steps import publication, runs
from pipeline.steps.bootstrap import bootstrap
from pipeline.steps.runs import RunContext

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

SOURCES = ("advertiser_ids", "product_views", "ads_views")
# A backfill's longest range: a year of days in one build (and one transaction per model).
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DbtStep:
    """A statement step made of dbt models; `select` is a dbt selector (models + their tests)."""

    name: str
    select: str
    upstream: tuple[str, ...] = ()


# The night's one `dbt build` selects a named selector of selectors.yml (the only definition of
# what it builds: the DAG, `adtech run` and `adtech backfill` pass `--selector nightly`); each
# tag there is a step, named here. FiltrarDatos: keep only active advertisers' events of D.
# TopCTR / TopProduct: the two models. DBWriting: the serving marts the API reads.
NIGHTLY_SELECTOR = "nightly"
ONE_DAY_SELECTOR = "one_day"
SELECTORS_FILE = REPO_ROOT / "selectors.yml"
_STEP_OF_TAG: dict[str, tuple[str, tuple[str, ...]]] = {
    "filtrar_datos": ("FiltrarDatos", ()),
    "top_ctr": ("TopCTR", ("FiltrarDatos",)),
    "top_product": ("TopProduct", ("FiltrarDatos",)),
    "db_writing": ("DBWriting", ("TopCTR", "TopProduct")),
}


def selector_tags(name: str = ONE_DAY_SELECTOR, path: Path = SELECTORS_FILE) -> list[str]:
    """The tags a selector of selectors.yml unions (following `method: selector`), in order."""
    selectors = {s["name"]: s["definition"] for s in yaml.safe_load(path.read_text())["selectors"]}

    def walk(definition: dict) -> list[str]:
        if definition.get("method") == "tag":
            return [definition["value"]]
        if definition.get("method") == "selector":
            return walk(selectors[definition["value"]])
        return [tag for part in definition.get("union", []) for tag in walk(part)]

    return walk(selectors[name])


def _dbt_steps() -> tuple[DbtStep, ...]:
    tags = selector_tags()
    unnamed = [tag for tag in tags if tag not in _STEP_OF_TAG]
    if unnamed:
        raise RuntimeError(
            f"selectors.yml selects tag(s) {unnamed} that no step of pipeline/flow/sequence.py"
            " names: add each to _STEP_OF_TAG (the step's name and its upstream steps)"
        )
    return tuple(DbtStep(_STEP_OF_TAG[tag][0], f"tag:{tag}", _STEP_OF_TAG[tag][1]) for tag in tags)


DBT_STEPS: tuple[DbtStep, ...] = _dbt_steps()


def step_of_model(tags: Sequence[str]) -> str | None:
    """The step a model belongs to, by its tags (DBT_STEPS' selections); None if it is in none.
    The DAG groups each model's tasks under this step; the node reports use it too."""
    selected = {f"tag:{tag}" for tag in tags}
    return next((step.name for step in DBT_STEPS if step.select in selected), None)


def dbt_selection() -> list[str]:
    """Every step's selection, in DBT_STEPS order: the nodes of NIGHTLY_SELECTOR's build, as the
    DAGs render them (one task group per step; the build itself runs the selector)."""
    return [step.select for step in DBT_STEPS]


def load(day: dt.date, source: str) -> dict:
    if get_settings().dbt_target == "spark":
        # Spark's raw partition of D; the bookkeeping stays in PostgreSQL (ops.load_manifest).
        from pipeline.spark.load import load_source_on_spark

        return load_source_on_spark(source, day)
    from loaders.load import load_source

    result = load_source(source, day)
    return {
        "source": source,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
    }


StepRecord = tuple[str, float, dict]


def load_all(day: dt.date) -> list[StepRecord]:
    """The three loads of a day at once, as in the DAG."""
    return load_days([day])


def load_days(days: Sequence[dt.date], sources: Sequence[str] = SOURCES) -> list[StepRecord]:
    """The loads of every (day, source), three at a time (each its own connection and
    transaction); each record says its day."""
    pairs = [(day, source) for day in days for source in sources]

    def one(day: dt.date, source: str) -> StepRecord:
        name, seconds, detail = measured(f"load_{source}", lambda: load(day, source))
        return name, seconds, {"day": day.isoformat(), **detail}

    with ThreadPoolExecutor(len(SOURCES)) as pool:
        futures = [pool.submit(one, day, source) for day, source in pairs]
    return [future.result() for future in futures]  # the first failure, in day order


def transform_all(
    run: RunContext | Sequence[RunContext], manifest: Manifest | None = None
) -> list[StepRecord]:
    """Every dbt step in ONE dbt invocation (dbt's start-up once, not once per step), reported
    per step: each node goes to the step of its tag (a model) or of its latest parent (a test).
    A failure names the steps whose nodes failed. `manifest`: dbt's, parsed beforehand. `run`
    may be a backfill's consecutive days: ONE build for all of them (one version)."""
    from pipeline.steps.transform import DbtStepError

    try:
        nodes, exported = build(run, manifest)
    except DbtStepError as exc:
        step_of = _step_finder(exc.nodes)
        failed = {step_of(n) for n in exc.nodes if n["status"] in ("error", "fail")}
        names = [step.name for step in DBT_STEPS if step.name in failed]
        raise DbtStepError(f"{', '.join(names) or 'dbt'}: {exc}", exc.nodes) from None
    return [
        (name, sum(n["seconds"] for n in members), {"nodes": members})
        for name, members in nodes_by_step(nodes).items()
    ] + ([exported] if exported else [])


def build(
    run: RunContext | Sequence[RunContext], manifest: Manifest | None = None
) -> tuple[list[dict], StepRecord | None]:
    """The dbt steps in ONE `dbt build` for the run (or a backfill's days); once it passed, and
    before the next build may start, FiltrarDatos' tables exported (export_intermediates): the
    build's nodes, and the export's record (None where the build exported nothing). First the
    run's sources are checked (check_sources: `dbt source freshness` of the run's days); an empty
    or stale one raises SourcesNotReady, before anything is built. Raises DbtStepError, with the
    nodes, when a model or test failed. `adtech run`, `adtech backfill`
    and the DAGs' dbt_build task all build through here."""
    from pipeline.steps.transform import build_days, check_sources, dbt_build

    # The day's sources first: an empty or stale one stops the day with its name.
    check_sources(run, manifest=manifest)
    exported: list[StepRecord] = []
    nodes = dbt_build(
        run,
        selector=NIGHTLY_SELECTOR,
        manifest=manifest,
        before=before_build,
        then=lambda: exported.append(
            measured("export FiltrarDatos", lambda: export_intermediates(build_days(run)))
        ),
    )
    return nodes, next((record for record in exported if record[2]), None)


def before_build() -> None:
    """What a build reads that only PostgreSQL holds, handed to the target's engine under the
    build lock: on Spark, the served versions (pipeline/spark/serving.py mirror_publications).
    build() and the DAGs' Cosmos producer run it before dbt starts."""
    if get_settings().dbt_target == "spark":
        from pipeline.spark.serving import mirror_publications

        mirror_publications()


def check_sources(run: RunContext | Sequence[RunContext]) -> list[dict]:
    """The run's sources are loaded and fresh (`dbt source freshness` of its days), or
    SourcesNotReady names the empty or stale one. build() runs it first; an orchestrator that
    runs dbt itself (one task per model) runs it as a task of its own before the models."""
    from pipeline.steps.transform import check_sources as freshness

    return freshness(run)


def nodes_by_step(nodes: list[dict]) -> dict[str, list[dict]]:
    """dbt_build's node results by step, in DBT_STEPS order (the DAG's step tasks report these)."""
    by_step: dict[str, list[dict]] = {step.name: [] for step in DBT_STEPS}
    step_of = _step_finder(nodes)
    for node in nodes:
        by_step[step_of(node)].append(node)
    return by_step


def _step_finder(nodes: list[dict]) -> Callable[[dict], str]:
    """node -> its step: a model belongs to the step of its tag; a test to the latest step among
    its parents (the node map is built once for all the nodes)."""
    order = [step.name for step in DBT_STEPS]
    by_id = {n["unique_id"]: n for n in nodes}

    def step_of(node: dict) -> str:
        if node["unique_id"].startswith("model."):
            return step_of_model(node["tags"]) or order[0]
        steps = [step_of(by_id[p]) for p in node["parents"] if p in by_id]
        return max(steps, key=order.index, default=order[0])

    return step_of


def measured(name: str, work: Callable[[], dict]) -> StepRecord:
    """`work()` as a step record: its name, seconds and what it returned."""
    started = time.perf_counter()
    detail = work()
    return name, time.perf_counter() - started, detail


def export(run: RunContext) -> dict:
    """The run's marts -> S3 (FiltrarDatos' tables went with the build: export_intermediates)."""
    if get_settings().dbt_target == "spark":
        # Spark writes the run's stage outputs; the serving marts land in PostgreSQL, same
        # version, for publish (pipeline/spark/serving.py).
        from pipeline.spark.serving import export_and_land

        return export_and_land(run)
    return export_days([run])[run.day.isoformat()]


def export_days(contexts: Sequence[RunContext]) -> dict[str, dict]:
    """export for several days at once (a backfill's): {day: what export returns}."""
    if get_settings().dbt_target == "spark":
        return {c.day.isoformat(): export(c) for c in contexts}
    return _exported("marts", contexts)


def export_intermediates(contexts: Sequence[RunContext]) -> dict[str, dict]:
    """FiltrarDatos' tables for the build's days -> S3, run by the build itself while it still
    holds the build lock: they hold only the latest build's days, so a build started after this
    one (another day's night, a backfill) would replace them before a later export step. On
    Spark, Spark writes them under its export root (pipeline/spark/serving.py)."""
    if get_settings().dbt_target == "spark":
        from pipeline.spark.serving import write_intermediates

        return write_intermediates(contexts)
    return _exported("intermediate", contexts)


def _exported(schema: str, contexts: Sequence[RunContext]) -> dict[str, dict]:
    from pipeline.steps.export import export_days as export_all

    return {
        day.isoformat(): {"files": [r.key for r in results], "rows": sum(r.rows for r in results)}
        for day, results in export_all(list(contexts), schema).items()
    }


def start(run_id: str, day: dt.date) -> RunContext:
    """Create what the project owns, then open the run: its day and the new version it builds."""
    bootstrap()
    return runs.start_run(run_id, day)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """A backfill's days, `first` to `last` inclusive."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    count = (last - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise ValueError(
            f"{first}..{last} is {count} days; a backfill covers at most {MAX_RANGE_DAYS}:"
            " split it into several"
        )
    return [first + dt.timedelta(days=offset) for offset in range(count)]


def start_range(run_id: str, first: dt.date, last: dt.date) -> list[RunContext]:
    """Open one run per day of the range (ops.pipeline_runs `<run_id>__<day>`), all building the
    same new version: one dbt build writes every day, and each day is published on its own."""
    days = days_between(first, last)
    bootstrap()
    opened = [runs.start_run(f"{run_id}__{days[0].isoformat()}", days[0])]
    version = opened[0].version
    opened += [runs.start_run(f"{run_id}__{day.isoformat()}", day, version) for day in days[1:]]
    return opened


def publish(run: RunContext) -> dict:
    """Switch the API to the run's version of the day (every test passed), close the run."""
    recommendations = publication.publish(run)
    runs.finish_run(run.run_id, "success")
    return {"recommendations": recommendations, "version": run.version}


def cleanup(run: RunContext) -> dict:
    """Retention after publish: old raw days, rejected rows, superseded versions (in Spark's
    warehouse and export root too on the spark target)."""
    from pipeline.spark.cleanup import cleanup_on_target

    report, spark_drops = cleanup_on_target(run.day)
    out = {"dropped_bytes": report.bytes, "versions_dropped": len(report.versions)}
    return out | ({"spark_dropped": len(spark_drops)} if spark_drops else {})


def fail(run_id: str, error: str) -> None:
    """Close the run as failed, unless it already published (a later step, such as cleanup, may
    fail after the day is served; the day stays published)."""
    runs.finish_run(run_id, "failed", error, only_if_running=True)
