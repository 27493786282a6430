"""The day's steps, defined once, in order. `adtech run` walks them here; the Airflow DAG renders
the same list as tasks (one `dbt build` for the dbt steps, then a task per step reporting it).

    load (3 sources, parallel in Airflow) -> FiltrarDatos -> TopCTR, TopProduct -> DBWriting
        -> export -> publish -> cleanup

A backfill walks the same steps over a range of days (`adtech backfill`, DAG adtech_backfill):
the loads of every day, then ONE dbt build for all of them (every day in the same statements,
one version), then the exports, each day published on its own, and one cleanup. If the range's
loads or build fail, each day runs again as its own night, so the good days are published and a
bad day fails alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline import publication, runs
from pipeline.bootstrap import bootstrap
from pipeline.runs import RunContext
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

log = logging.getLogger(__name__)

SOURCES = ("advertiser_ids", "product_views", "ads_views")
# A backfill's longest range: a year of days in one build (and one transaction per model).
MAX_RANGE_DAYS = 366


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


def load_days(days: Sequence[dt.date], sources: Sequence[str] = SOURCES) -> list[StepRecord]:
    """A backfill's loads: every (day, source), three at a time (each its own connection and
    transaction, as load_all); each record says its day."""
    pairs = [(day, source) for day in days for source in sources]

    def one(day: dt.date, source: str) -> StepRecord:
        name, seconds, detail = _measured(f"load_{source}", lambda: load(day, source))
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
    may be a backfill's consecutive days (transform_days)."""
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


def transform_days(
    runs: Sequence[RunContext], manifest: Manifest | None = None
) -> list[StepRecord]:
    """A backfill's dbt steps: ONE build for every day of the range (one version)."""
    return transform_all(runs, manifest)


def nodes_by_step(nodes: list[dict]) -> dict[str, list[dict]]:
    """dbt_build's node results by step, in DBT_STEPS order (the DAG's step tasks report these)."""
    by_step: dict[str, list[dict]] = {step.name: [] for step in DBT_STEPS}
    for node in nodes:
        by_step[_step_of(node, nodes)].append(node)
    return by_step


def _step_of(node: dict, nodes: list[dict]) -> str:
    """A model belongs to the step of its tag; a test to the latest step among its parents."""
    return _step_finder(nodes)(node)


def _step_finder(nodes: list[dict]) -> Callable[[dict], str]:
    order = [step.name for step in DBT_STEPS]
    by_id = {n["unique_id"]: n for n in nodes}

    def step_of(node: dict) -> str:
        if node["unique_id"].startswith("model."):
            tags = {f"tag:{tag}" for tag in node["tags"]}
            return next((step.name for step in DBT_STEPS if step.select in tags), order[0])
        steps = [step_of(by_id[p]) for p in node["parents"] if p in by_id]
        return max(steps, key=order.index, default=order[0])

    return step_of


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
    return export_days([run])[run.day.isoformat()]


def export_days(contexts: Sequence[RunContext]) -> dict[str, dict]:
    """export for several days at once (a backfill's): {day: what export returns}."""
    if get_settings().dbt_target == "spark":
        return {c.day.isoformat(): export(c) for c in contexts}
    from pipeline.export import export_days as export_all

    return {
        day.isoformat(): {"files": [r.key for r in results], "rows": sum(r.rows for r in results)}
        for day, results in export_all(list(contexts)).items()
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


def nights_instead(contexts: Sequence[RunContext], error: str) -> list[RunResult]:
    """After a backfill's loads or build failed: close the range's runs as failed, then run each
    day as its own night, so the good days are published and a bad day fails alone (its served
    version, if any, stays served). Never raises for a day's failure: each result says it."""
    for context in contexts:
        fail(context.run_id, f"the backfill failed ({error}); the day runs again on its own")
    return [_night(context.day, f"{context.run_id}__alone") for context in contexts]


def _record_each(results: dict[dt.date, RunResult], records: list[StepRecord]) -> None:
    """A backfill's records go to the run of their day; the build's, to every day's run."""
    for name, seconds, detail in records:
        days = [dt.date.fromisoformat(detail["day"])] if "day" in detail else list(results)
        for day in days:
            _record(results[day], [(name, seconds, detail)])


def run_range(
    first: dt.date,
    last: dt.date,
    run_id: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Every day from `first` to `last` without a scheduler: the loads, ONE dbt build for all the
    days, the exports, each day published on its own, one cleanup. If the loads or the build
    fail, each day runs again alone (nights_instead). Returns each day's result; never raises
    for a day."""
    from pipeline.transform import parse_project

    days = days_between(first, last)
    run_id = run_id or f"backfill__{first.isoformat()}__{last.isoformat()}__{uuid.uuid4().hex[:8]}"
    background = ThreadPoolExecutor(1)
    manifest = background.submit(parse_project)
    try:
        contexts = start_range(run_id, first, last)
        results = {c.day: RunResult(c.run_id, c.day, c.version) for c in contexts}
        try:
            if on_step:
                on_step(f"load {len(days)} days")
            _record_each(results, load_days(days))
            if on_step:
                on_step(f"dbt build of {len(days)} days")
            _record_each(results, transform_days(contexts, manifest.result()))
        except Exception as exc:
            log.warning("backfill %s..%s failed (%s): each day runs alone", first, last, exc)
            return nights_instead(contexts, f"{type(exc).__name__}: {exc}")
    finally:
        background.shutdown(wait=True)
    if on_step:
        on_step(f"export, publish {len(days)} days")
    try:
        name, seconds, by_day = _measured("export", lambda: export_days(contexts))
    except Exception as exc:
        return [_failed(results[c.day], c, exc) for c in contexts]
    for context in contexts:
        result = results[context.day]
        _record(result, [(name, seconds / len(contexts), by_day[context.day.isoformat()])])
        try:
            _record(result, [_measured("publish", lambda context=context: publish(context))])
        except Exception as exc:
            _failed(result, context, exc)
            continue
        result.status = "success"
    # Retention counts back from a day: the last day's cleanup drops all an earlier one would.
    try:
        _record(results[days[-1]], [_measured("cleanup", lambda: cleanup(contexts[-1]))])
    except Exception as exc:  # the days stay published; the next run's cleanup retries
        log.warning("cleanup after the backfill failed: %s", exc)
    return list(results.values())


def _failed(result: RunResult, context: RunContext, exc: Exception) -> RunResult:
    """A built day that could not be exported or published: that day fails, not the others."""
    result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
    fail(context.run_id, result.error + "\n" + traceback.format_exc(limit=3))
    return result


def _night(day: dt.date, run_id: str) -> RunResult:
    """One day's night, its failure returned rather than raised (it is recorded already)."""
    try:
        return run_day(day, run_id)
    except Exception as exc:
        log.warning("%s failed: %s", day, exc)
        return RunResult(run_id, day, status="failed", error=f"{type(exc).__name__}: {exc}")
