"""The day's steps, defined once, in order. `adtech run` walks them here; the Airflow DAG renders
the same list as tasks (one `dbt build` for the dbt steps, then a task per step reporting it).

    load (3 sources, parallel in Airflow) -> FiltrarDatos -> TopCTR, TopProduct -> DBWriting
        -> export -> publish -> cleanup
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline import publication, runs
from pipeline.bootstrap import bootstrap
from pipeline.runs import RunContext
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

SOURCES = ("advertiser_ids", "product_views", "ads_views")


@dataclass(frozen=True)
class DbtStep:
    """A statement step made of dbt models; `select` is a dbt selector (models + their tests)."""

    name: str
    select: str
    upstream: tuple[str, ...] = ()


# FiltrarDatos: keep only active advertisers' events of D. TopCTR / TopProduct: the two models.
# DBWriting: the serving marts the API reads.
DBT_STEPS: tuple[DbtStep, ...] = (
    DbtStep("FiltrarDatos", "tag:filtrar_datos"),
    DbtStep("TopCTR", "tag:top_ctr", upstream=("FiltrarDatos",)),
    DbtStep("TopProduct", "tag:top_product", upstream=("FiltrarDatos",)),
    DbtStep("DBWriting", "tag:db_writing", upstream=("TopCTR", "TopProduct")),
)


def load(day: dt.date, source: str) -> dict:
    if get_settings().dbt_target == "spark":
        # Spark's raw partition of D; the bookkeeping stays in PostgreSQL (ops.load_manifest).
        from pipeline.spark_load import load_source_on_spark

        return load_source_on_spark(source, day)
    from loaders.load import load_source

    result = load_source(source, day)
    return {
        "source": source,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
    }


def transform(run: RunContext, step: DbtStep) -> dict:
    from pipeline.transform import dbt_build

    return {"nodes": dbt_build(run, step.select)}


StepRecord = tuple[str, float, dict]


def load_all(day: dt.date) -> list[StepRecord]:
    """The three loads at once (each its own connection and transaction), as in the DAG."""
    with ThreadPoolExecutor(len(SOURCES)) as pool:
        futures = [pool.submit(_measured, f"load_{s}", lambda s=s: load(day, s)) for s in SOURCES]
    return [future.result() for future in futures]  # the first failure, in SOURCES order


def transform_all(run: RunContext, manifest: Manifest | None = None) -> list[StepRecord]:
    """Every dbt step in ONE dbt invocation (dbt's start-up once, not once per step), reported
    per step: each node goes to the step of its tag (a model) or of its latest parent (a test).
    A failure names the steps whose nodes failed. `manifest`: dbt's, parsed beforehand."""
    from pipeline.transform import DbtStepError, dbt_build

    try:
        nodes = dbt_build(run, *(step.select for step in DBT_STEPS), manifest=manifest)
    except DbtStepError as exc:
        failed = {_step_of(n, exc.nodes) for n in exc.nodes if n["status"] in ("error", "fail")}
        names = [step.name for step in DBT_STEPS if step.name in failed]
        raise DbtStepError(f"{', '.join(names) or 'dbt'}: {exc}", exc.nodes) from None
    return [
        (name, sum(n["seconds"] for n in members), {"nodes": members})
        for name, members in nodes_by_step(nodes).items()
    ]


def nodes_by_step(nodes: list[dict]) -> dict[str, list[dict]]:
    """dbt_build's node results by step, in DBT_STEPS order (the DAG's step tasks report these)."""
    by_step: dict[str, list[dict]] = {step.name: [] for step in DBT_STEPS}
    for node in nodes:
        by_step[_step_of(node, nodes)].append(node)
    return by_step


def _step_of(node: dict, nodes: list[dict]) -> str:
    """A model belongs to the step of its tag; a test to the latest step among its parents."""
    order = [step.name for step in DBT_STEPS]
    if node["unique_id"].startswith("model."):
        tags = {f"tag:{tag}" for tag in node["tags"]}
        return next((step.name for step in DBT_STEPS if step.select in tags), order[0])
    by_id = {n["unique_id"]: n for n in nodes}
    steps = [_step_of(by_id[p], nodes) for p in node["parents"] if p in by_id]
    return max(steps, key=order.index, default=order[0])


def _measured(name: str, work: Callable[[], dict]) -> StepRecord:
    started = time.perf_counter()
    detail = work()
    return name, time.perf_counter() - started, detail


def export(run: RunContext) -> dict:
    if get_settings().dbt_target == "spark":
        # Spark writes the run's stage outputs; the serving marts land in PostgreSQL, same
        # version, for publish (pipeline/spark_serving.py).
        from pipeline.spark_serving import export_and_land

        return export_and_land(run)
    from pipeline.export import export_day

    results = export_day(run)
    return {"files": [r.key for r in results], "rows": sum(r.rows for r in results)}


def start(run_id: str, day: dt.date) -> RunContext:
    """Create what the project owns, then open the run: its day and the new version it builds."""
    bootstrap()
    return runs.start_run(run_id, day)


def publish(run: RunContext) -> dict:
    """Switch the API to the run's version of the day (every test passed), close the run."""
    recommendations = publication.publish(run)
    runs.finish_run(run.run_id, "success")
    return {"recommendations": recommendations, "version": run.version}


def cleanup(run: RunContext) -> dict:
    """Retention after publish: old raw days, rejected rows, superseded versions."""
    from pipeline.cleanup import cleanup as apply_retention

    report = apply_retention(run.day)
    return {"dropped_bytes": report.bytes, "versions_dropped": len(report.versions)}


def fail(run_id: str, error: str) -> None:
    """Close the run as failed, unless it already published (a later step, such as cleanup, may
    fail after the day is served; the day stays published)."""
    runs.finish_run(run_id, "failed", error, only_if_running=True)


@dataclass
class RunResult:
    run_id: str
    day: dt.date
    version: int | None = None
    status: str = "running"
    steps: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None


def _record(run: RunResult, records: list[StepRecord]) -> None:
    for name, seconds, detail in records:
        run.steps.append((name, seconds))
        runs.record_step(run.run_id, name, seconds, detail)


def run_day(
    day: dt.date, run_id: str | None = None, on_step: Callable[[str], None] | None = None
) -> RunResult:
    """Every step for `day`, in order, without a scheduler. Raises on the first failure, after
    recording it; a failed day is never published."""
    from pipeline.transform import parse_project

    run = RunResult(run_id or f"manual__{day.isoformat()}__{uuid.uuid4().hex[:8]}", day)
    # dbt's start-up (imports, partial parse: seconds) runs while the run opens and loads.
    background = ThreadPoolExecutor(1)
    manifest = background.submit(parse_project)
    try:
        context = start(run.run_id, day)
        run.version = context.version
        # The DAG's steps in its order; the loads run at once and the dbt steps in one invocation.
        plan: list[tuple[str, Callable[[], list[StepRecord]]]] = [
            ("load", lambda: load_all(day)),
            ("dbt build", lambda: transform_all(context, manifest.result())),
            ("export", lambda: [_measured("export", lambda: export(context))]),
            ("publish", lambda: [_measured("publish", lambda: publish(context))]),
            ("cleanup", lambda: [_measured("cleanup", lambda: cleanup(context))]),
        ]
        try:
            for name, work in plan:
                if on_step:
                    on_step(name)
                _record(run, work())
        except Exception as exc:
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            fail(run.run_id, run.error + "\n" + traceback.format_exc(limit=3))
            raise
    finally:
        background.shutdown(wait=True)
    run.status = "success"
    return run
