"""Walking the steps (pipeline/flow/sequence.py) in order without a scheduler: `adtech run` (one
day) and `adtech backfill` (a range of days in one dbt build). Each run is recorded in
ops.pipeline_runs as it goes; a failed day is never published.

If a backfill's loads or build fail, each of its days runs again as its own night
(nights_instead, the backfill DAG's fallback too), so the good days are published and a bad day
fails alone, keeping its served answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline.flow.sequence import (
    StepRecord,
    cleanup,
    days_between,
    export,
    export_days,
    fail,
    load_all,
    load_days,
    measured,
    publish,
    start,
    start_range,
    transform_all,
)
from pipeline.steps import runs
from pipeline.steps.runs import RunContext

log = logging.getLogger(__name__)


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
    from pipeline.steps.transform import parse_project

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
            ("export", lambda: [measured("export", lambda: export(context))]),
            ("publish", lambda: [measured("publish", lambda: publish(context))]),
            ("cleanup", lambda: [measured("cleanup", lambda: cleanup(context))]),
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
    from pipeline.steps.transform import parse_project

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
            _record_each(results, transform_all(contexts, manifest.result()))
        except Exception as exc:
            log.warning("backfill %s..%s failed (%s): each day runs alone", first, last, exc)
            return nights_instead(contexts, f"{type(exc).__name__}: {exc}")
    finally:
        background.shutdown(wait=True)
    if on_step:
        on_step(f"export, publish {len(days)} days")
    try:
        name, seconds, by_day = measured("export", lambda: export_days(contexts))
    except Exception as exc:
        return [_failed(results[c.day], c, exc) for c in contexts]
    for context in contexts:
        result = results[context.day]
        _record(result, [(name, seconds / len(contexts), by_day[context.day.isoformat()])])
        try:
            _record(result, [measured("publish", lambda context=context: publish(context))])
        except Exception as exc:
            _failed(result, context, exc)
            continue
        result.status = "success"
    # Retention counts back from a day: the last day's cleanup drops all an earlier one would.
    try:
        _record(results[days[-1]], [measured("cleanup", lambda: cleanup(contexts[-1]))])
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
