"""Run the dbt steps (`dbt build --select ...`) for a run, in-process: `adtech run` and the DAG."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.settings import get_settings
from pipeline.steps.runs import RunContext

if TYPE_CHECKING:  # dbt's import costs seconds: only where it runs
    from dbt.contracts.graph.manifest import Manifest


class DbtStepError(RuntimeError):
    """A model or a test of the step failed: the day must not be published."""

    def __init__(self, message: str, nodes: list[dict] | None = None) -> None:
        super().__init__(message)
        self.nodes = nodes or []


def dbt_env(runs: Sequence[RunContext]) -> dict[str, str]:
    """How a build tells dbt its days and version (macros/vars.sql): one day, or a backfill's
    consecutive days, all with one version. Environment variables, not --vars: dbt reads them
    only at execution time, so a new day keeps partial parsing valid."""
    days = [run.day for run in runs]
    if days != [days[0] + dt.timedelta(days=i) for i in range(len(days))]:
        raise ValueError(f"a build covers consecutive days, got {[d.isoformat() for d in days]}")
    if len({run.version for run in runs}) != 1:
        raise ValueError("the days of one build share one version")
    return {
        "ADTECH_RUN_DATE": days[0].isoformat(),
        "ADTECH_RUN_DATE_END": days[-1].isoformat(),
        "ADTECH_BUILD_VERSION": str(runs[0].version),
    }


def build_days(run: RunContext | Sequence[RunContext]) -> list[RunContext]:
    return [run] if isinstance(run, RunContext) else list(run)


def _set_environ(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with `values` set (None: removed) for the block, then as it was."""
    saved = {key: os.environ.get(key) for key in values}
    _set_environ(values)
    try:
        yield
    finally:
        _set_environ(saved)


# dbt's file log at its default level (debug) writes every event of every node, each SQL
# statement included: a third of a small build's time (docs/BENCHMARKS.md). The pipeline keeps
# each node's status, time and message in ops.pipeline_runs and the task logs, so its file log
# keeps warnings and errors only, unless DBT_LOG_LEVEL_FILE (dbt's own variable) says otherwise.
PIPELINE_FILE_LOG_LEVEL = "warn"


def file_log_args() -> list[str]:
    """dbt's flags for the pipeline's file log level (none when DBT_LOG_LEVEL_FILE is set)."""
    if os.environ.get("DBT_LOG_LEVEL_FILE"):
        return []
    return ["--log-level-file", PIPELINE_FILE_LOG_LEVEL]


def _invoke(*args: str, manifest: Manifest | None = None):
    """dbt in-process, with the project and profile at the repository root; with `manifest`,
    dbt skips parsing."""
    from dbt.cli.main import dbtRunner

    settings = get_settings()
    project_dir = str(settings.dbt_project_dir)
    return dbtRunner(manifest=manifest).invoke(
        [
            *args,
            "--project-dir",
            project_dir,
            "--profiles-dir",
            project_dir,
            "--quiet",
            *file_log_args(),
            *target_args(settings.dbt_target),
        ]
    )


def target_args(target: str) -> list[str]:
    """dbt's target, named explicitly (ADTECH_DBT_TARGET wins over DBT_TARGET). A target other
    than `default` keeps its own target folder (<target path>/<name>/): its manifest and
    partial-parse state, never mixed with PostgreSQL's."""
    if target == "default":
        return ["--target", target]
    base = os.environ.get("DBT_TARGET_PATH") or get_settings().dbt_project_dir / "target"
    return ["--target", target, "--target-path", str(Path(base) / target)]


# A night's build (selectors.yml's `nightly`) runs the models and their data tests, which check
# the night's data; unit tests check the SQL logic on fixed inputs, where it changes (`dbt build
# --selector one_day` in development, the test suite in CI), as dbt Labs recommends, not again
# every night (12 nodes, a quarter of a small night). The night's results are returned in memory
# (below), so dbt does not also write manifest.json and run_results.json (about 1 s).
NIGHTLY_FLAGS = ("--no-write-json",)


def parse_project() -> Manifest:
    """dbt's manifest of the project (partial parsing keeps it cheap), for dbt_build: `adtech
    run` parses while the loads run, so dbt's start-up overlaps them. Nothing in parsing depends
    on the run (macros/vars.sql reads the day and version only at execution). One manifest
    serves one build: dbt marks its nodes compiled as it goes (ephemeral models' CTEs), and a
    second build from the same object fails on recommendation_changes' missing CTE."""
    result = _invoke("parse", "--no-write-json")
    if not result.success:
        raise DbtStepError(f"dbt parse failed: {result.exception}")
    return result.result


# The dbt command that checks the run's sources (the `logs` sources of _sources.yml).
SOURCES_CHECK = ("source", "freshness", "--select", "source:logs")


class SourcesNotReady(DbtStepError):
    """A source of the run's days is empty or stale: the day stops before anything is built."""


def check_sources(
    run: RunContext | Sequence[RunContext], *, manifest: Manifest | None = None
) -> list[dict]:
    """`dbt source freshness` of the run's days (the `logs` sources: when the loaders finished
    each source's files of each day, ops.load_manifest; dbt_project/models/staging/_sources.yml),
    before anything is built. A source with no loaded row for a day, or loaded too long ago
    (error_after), raises SourcesNotReady naming it: building would publish a day from missing
    or old data. Returns one dict per source (status, max_loaded_at, age in hours)."""
    days = build_days(run)
    with environment(dbt_env(days)):
        result = _invoke(*SOURCES_CHECK, manifest=manifest)
    return sources_checked(result, days)


def sources_checked(result, run: RunContext | Sequence[RunContext]) -> list[dict]:
    """check_sources' verdict on a `dbt source freshness` result (SOURCES_CHECK) for the run's
    days, wherever dbt ran (the DAGs run it in their Cosmos build's project copy)."""
    days = build_days(run)
    span = days[0].day.isoformat() + (f"..{days[-1].day.isoformat()}" if len(days) > 1 else "")
    checked, problems = [], []
    for r in getattr(result.result, "results", None) or []:
        if getattr(r.node, "resource_type", None) != "source":
            continue  # the on-run-start hook reports too
        loaded = getattr(r, "max_loaded_at", None)
        never = loaded is None or loaded.year == 1  # dbt's "infinitely long ago" for null
        age = None if never else round(r.age / 3600, 1)
        checked.append(
            {
                "source": f"{r.node.source_name}.{r.node.name}",
                "status": str(r.status),
                "max_loaded_at": None if never else loaded.isoformat(),
                "age_hours": age,
            }
        )
        if str(r.status) in ("error", "runtime error"):
            problems.append(
                f"{r.node.source_name}.{r.node.name} has no loaded row for {span}"
                " (ops.load_manifest): load the day first (adtech load --date D)"
                if never
                else f"{r.node.source_name}.{r.node.name} was loaded for {span} {age} h ago,"
                " longer than its error_after: load the day again (adtech load --date D)"
            )
    if not result.success and not problems:
        problems.append(f"dbt source freshness failed: {result.exception}")
    if problems:
        raise SourcesNotReady(f"the sources of {span} are not ready: " + "; ".join(problems))
    return checked


# The key of the advisory lock that builds take (any constant; "adtech" in ASCII).
BUILD_LOCK_KEY = 0x616474656368


@contextlib.contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Two days' builds at once would share the intermediate tables (they hold the current run
    only), so one day's marts could be computed from another day's rows: a backfill started with
    several runs at once, or two `adtech run`s. Each build waits for the one before to finish.
    A session lock of PostgreSQL: a build that crashes releases it with its connection."""
    import psycopg2

    conn = psycopg2.connect(get_settings().database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (BUILD_LOCK_KEY,))
        yield
    finally:
        conn.close()  # ends the session, and the lock with it


def dbt_build(
    run: RunContext | Sequence[RunContext],
    selector: str,
    *,
    manifest: Manifest | None = None,
    before: Callable[[], object] | None = None,
    then: Callable[[], object] | None = None,
) -> list[dict]:
    """Build and test a selector of selectors.yml (the night's: `nightly`) for the run in one dbt
    invocation (dbt's start-up is paid once; not at all with a `manifest` from parse_project);
    return one summary dict per node, with the tags and parents that tell which step it belongs
    to. `run` may be a backfill's consecutive days (one version): every day in the same
    statements. `before` runs once this build holds the lock, before dbt starts; `then` after a
    successful build, before the next build may start (it reads what only this build's working
    tables hold)."""
    days = build_days(run)
    with environment(dbt_env(days)), one_build_at_a_time():
        if before is not None:
            before()
        result = _invoke("build", "--selector", selector, *NIGHTLY_FLAGS, manifest=manifest)
        if result.success and then is not None:
            then()
    nodes = node_summaries(result)
    if not result.success:
        failed = [
            f"{n['node']} ({n.get('message') or n['status']})"
            for n in nodes
            if n["status"] in ("error", "fail")
        ]
        reason = f"failed nodes: {', '.join(failed)}" if failed else str(result.exception)
        span = days[0].day.isoformat()
        if len(days) > 1:
            span += f"..{days[-1].day.isoformat()}"
        raise DbtStepError(f"dbt build --selector {selector} for {span}: {reason}", nodes)
    return nodes


def node_summaries(result) -> list[dict]:
    """One summary dict per node of a dbtRunner result (the pipeline's build and the DAG's Cosmos
    producer both record these), with the tags and parents that tell which step it belongs to."""
    return [
        {
            "node": r.node.name,
            "status": str(r.status),
            "seconds": round(r.execution_time, 3),
            "tags": list(r.node.tags),
            "parents": list(getattr(r.node.depends_on, "nodes", []) or []),
            "unique_id": r.node.unique_id,
            # What a failing test or model said (its SQL error, its failure count).
            **({"message": r.message} if str(r.status) in ("error", "fail", "warn") else {}),
        }
        for r in getattr(result.result, "results", None) or []
    ]
