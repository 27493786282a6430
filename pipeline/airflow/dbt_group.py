"""The dbt steps of both DAGs as Cosmos tasks: every model and its tests are tasks, grouped by
statement step (FiltrarDatos, TopCTR, TopProduct, DBWriting), and dbt starts ONCE a run.

Cosmos (astronomer-cosmos, ExecutionMode.WATCHER) renders the project from dbt's manifest
(pipeline/airflow/manifest.py) into one DbtTaskGroup, `dbt_build`:

    dbt_build.dbt_producer_watcher       ONE `dbt build` of every step (models, then each model's
                                         data tests: TestBehavior.AFTER_EACH), under the build
                                         lock; FiltrarDatos' tables exported before the lock goes
    dbt_build.dbt_producer_watcher_done  the gate: the model tasks start once the build ended
    <Step>.<model>.run / .test           a watcher per model and one for its tests, in a task
                                         group per step, reading the build's result of its node

A failing model or test fails its own task (and so its step's group); its downstream model tasks
are upstream_failed; `export` waits for the producer as well, so the day is not published.

Why the gate: Cosmos starts the watchers beside the producer and relies on priority weights and
deferral to order them. `airflow dags test` (dag.test) runs one ready task at a time, ignores
priority weights and runs a deferred trigger inline, so a watcher picked before the producer
waits forever for a build that never starts. Behind the gate every watcher looks once, after the
build, and finds its node's status at the first look: no sensor waits, none is deferred. The gate
runs when the build succeeded or failed (trigger rule one_done) and is skipped when the build
never ran (a load failed): the watchers are then skipped too, and no watcher ever falls back to
running dbt itself.

Retries (docs/ARCHITECTURE.md, "Retries"): the producer never retries (Cosmos skips a retried
producer without building, upstream issues #3001, #2554, #2811), and neither do the watchers (a
retried watcher runs dbt for its model by itself, outside the build lock). A failed day is run
again as a new DAG run, or by clearing its DAG run from `start` (the UI's Clear, `airflow backfill
create --reprocess-behavior`): `start` opens a new version and the producer builds it whole, where
Cosmos's own producer would skip a second try; the watchers then read that build. A producer
cleared alone refuses to rebuild a version that is no longer being built (published, failed or
replaced): that would change the served day in place.
AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY is off (pipeline/airflow/env.py): it only keeps an
XCom backup for producer retries, which never happen here.

The run's day(s) and version reach dbt as environment variables rendered per task from `start`'s
XCom (key `dbt_env`, pipeline.steps.transform.dbt_env), never as --vars: a new day keeps dbt's
partial parsing. The build is `dbt build --selector nightly` (selectors.yml), the same as `adtech
run` builds, after the same check of the run's sources (`dbt source freshness`: an empty or stale
source fails the producer with its name before anything is built). The producer runs that check
through Cosmos's own dbtRunner call, in Cosmos's copy of the project and with the build's flags,
just before the build: dbt parses the project once a run (partially, from the state the previous
build left in Cosmos's cache) and the build reuses that parse, where a check run apart (other
flags, another folder) would parse on its own and leave a state the build cannot reuse. dbt's
file log keeps warnings and errors, as the pipeline's (pipeline.steps.transform). The task groups
render the steps' tags that the selector unions (sequence.dbt_selection); each model goes to its
step by its tags (sequence.step_of_model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.sdk import TaskGroup
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.airflow.graph import generate_task_or_group
from cosmos.constants import (
    PRODUCER_WATCHER_DONE_TASK_ID,
    PRODUCER_WATCHER_TASK_ID,
    DbtResourceType,
    ExecutionMode,
    InvocationMode,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.operators.watcher import (
    DbtProducerWatcherOperator,
    DbtRunWatcherOperator,
    DbtTestWatcherOperator,
)

from pipeline.airflow.manifest import dbt_project, ensure_manifest
from pipeline.flow import sequence
from pipeline.settings import REPO_ROOT, dbt_target
from pipeline.steps.transform import NIGHTLY_FLAGS

GROUP_ID = "dbt_build"
PRODUCER_TASK = f"{GROUP_ID}.{PRODUCER_WATCHER_TASK_ID}"
GATE_TASK = f"{GROUP_ID}.{PRODUCER_WATCHER_DONE_TASK_ID}"
START_TASK = "start"
# What dbt needs to know of the run, as start pushed it (XCom key `dbt_env`).
DBT_ENV_KEYS = ("ADTECH_RUN_DATE", "ADTECH_RUN_DATE_END", "ADTECH_BUILD_VERSION")


class _FirstTry:
    """A task instance as its producer reads it on a cleared rerun: every attribute its own, but
    the try number 1, the only one on which Cosmos's producer builds."""

    try_number = 1

    def __init__(self, ti: Any) -> None:
        self._ti = ti

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)


class LockedBuildProducer(DbtProducerWatcherOperator):
    """Cosmos's producer (one `dbt build`, each node's result pushed for its watcher), holding the
    build lock for the build and for FiltrarDatos' export: the intermediate tables hold only the
    latest build's days, and a build started after this one would replace them
    (pipeline.flow.sequence.build does the same for `adtech run`). Before the build, under the
    lock, what the build reads of PostgreSQL is handed to the target (sequence.before_build),
    and in the same project copy the run's sources are checked (run_dbt_runner). Each day's run
    records each step's nodes (ops.pipeline_runs), as `adtech run` does."""

    _dbt_result: Any = None
    _runs: tuple = ()
    _checked = False  # the run's sources passed: the build started

    def run_dbt_runner(self, command: list[str], env: dict[str, str], cwd: str, **kwargs: Any):
        """Cosmos's dbtRunner call, for the build (with a context) preceded by the run's source
        check: `dbt source freshness` in the build's own project copy, with the build's flags and
        environment, so the build reuses the check's parse (dbt's partial parsing) instead of
        parsing again. An empty or stale source raises SourcesNotReady, naming it, before
        anything is built."""
        if kwargs.get("context") is None:  # not the build (a `dbt deps`, never run here)
            return super().run_dbt_runner(command, env, cwd, **kwargs)
        from pipeline.steps.transform import SOURCES_CHECK, file_log_args, sources_checked

        if "--project-dir" not in command:
            raise RuntimeError(f"Cosmos's dbt command has no --project-dir: {command}")
        # Cosmos's own flags (project copy, profile, target), which it appends last.
        cosmos_flags = command[command.index("--project-dir") :]
        own_flags = [
            # dbt's target folder in the project copy, even where DBT_TARGET_PATH sends other dbt
            # runs elsewhere: Cosmos's partial-parse cache reads and refreshes it there, so no
            # other dbt run (with other flags) replaces the state the next day's build reuses.
            "--target-path",
            str(Path(cwd) / "target"),
            # The pipeline's file log level (pipeline.steps.transform): not every SQL statement.
            *file_log_args(),
        ]
        check = [command[0], *SOURCES_CHECK, "--no-write-json", "--quiet", *cosmos_flags]
        checked = sources_checked(
            super().run_dbt_runner([*check, *own_flags], env, cwd), self._runs
        )
        self.log.info("The run's sources are ready: %s", checked)
        self._checked = True
        self._dbt_result = super().run_dbt_runner([*command, *own_flags], env, cwd, **kwargs)
        return self._dbt_result

    def execute(self, context: Any, **kwargs: Any) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline.airflow.tasks import opened_runs
        from pipeline.steps import runs as bookkeeping
        from pipeline.steps.transform import node_summaries, one_build_at_a_time

        runs = opened_runs()
        if not runs:
            raise RuntimeError(f"task {START_TASK!r} opened no run (see its log)")
        closed = [
            f"{run.day} (version {run.version})" for run in runs if not bookkeeping.still_open(run)
        ]
        if closed:
            raise AirflowFailException(
                f"{', '.join(closed)} is no longer being built (published, failed or replaced):"
                f" clear the DAG run from {START_TASK!r} instead, which opens a new version"
            )
        if context["ti"].try_number > 1:
            # Retries are off, so this is a cleared task (the UI's Clear, `airflow backfill
            # create --reprocess-behavior`): build again. Cosmos's producer would skip itself.
            context = {**context, "ti": _FirstTry(context["ti"])}
        self._runs, self._dbt_result, self._checked = tuple(runs), None, False
        exported: dict = {}
        try:
            with one_build_at_a_time():
                sequence.before_build()
                # The sources are checked first, inside (run_dbt_runner).
                super().execute(context, **kwargs)
                exported = sequence.export_intermediates(runs)
        finally:
            nodes = node_summaries(self._dbt_result) if self._dbt_result is not None else []
            # Each step's nodes, once the build started (not when a source stopped the day).
            by_step = sequence.nodes_by_step(nodes) if self._checked else {}
            for name, members in by_step.items():
                seconds = sum(node["seconds"] for node in members)
                for run in runs:
                    bookkeeping.record_step(run.run_id, name, seconds, {"nodes": members})
        return {"nodes": len(nodes), "exported": exported}


class _NoFallback:
    """A watcher that never runs dbt itself. Cosmos's watcher runs `dbt run`/`dbt test` for its
    model on a retry, or when the producer failed before reporting the model: outside the build
    lock, and the build already failed. Here it fails instead, naming the producer."""

    def _handle_retry(self, try_number: int, producer_task_state: Any, context: Any) -> None:
        """A cleared watcher (retries are off) reads the build's result like a first try: the
        producer's statuses of its latest build, or none, which fails it below."""
        return None

    def _log_startup_events(self, ti: Any) -> None:
        """Cosmos's watcher reads dbt's start-up events from the build's XCom only to log them at
        debug level: one request a watcher for nothing. The build's log has them."""

    def _fallback_to_non_watcher_run(self, try_number: int, context: Any) -> bool:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"the build ({self.producer_task_id}) did not report {self.model_unique_id}:"
            " see its log; a failed day is run again as a new DAG run"
        )


class ModelWatcher(_NoFallback, DbtRunWatcherOperator):
    """A model's task: its node's result in the build."""


class TestsWatcher(_NoFallback, DbtTestWatcherOperator):
    """A model's tests' task: its data tests' results in the build."""

    __test__ = False  # not a pytest class


WATCHERS = {DbtRunWatcherOperator: ModelWatcher, DbtTestWatcherOperator: TestsWatcher}


def _latest_parent_only(tests_per_model: dict[str, list[str]], nodes: dict) -> dict[str, list[str]]:
    """Each test under one model only, the parent built last (a relationships test depends on the
    model it checks and on the one it refers to): a failing or skipped test then fails the task
    of the model it checks, not also an earlier step's model that passed."""

    seen: dict[str, int] = {}

    def depth(uid: str) -> int:
        if uid not in seen:
            parents = [p for p in getattr(nodes.get(uid), "depends_on", []) if p in nodes]
            seen[uid] = 1 + max((depth(p) for p in parents), default=0)
        return seen[uid]

    parents: dict[str, list[str]] = {}
    for model, tests in tests_per_model.items():
        for test in tests:
            parents.setdefault(test, []).append(model)
    owner = {test: max(models, key=depth) for test, models in parents.items()}
    return {
        model: [t for t in tests if owner[t] == model] for model, tests in tests_per_model.items()
    }


@dataclass(frozen=True)
class DbtTasks:
    """The dbt part of a DAG: the producer (the build), the gate, and each step's task group."""

    group: DbtTaskGroup
    producer: Any
    gate: Any
    steps: dict[str, TaskGroup]

    def all(self) -> list:
        """The producer, the gate and the step groups (a group stands for its leaves)."""
        return [self.producer, self.gate, *self.steps.values()]


def _env() -> dict[str, str]:
    pulled = f"ti.xcom_pull(task_ids='{START_TASK}', key='dbt_env')"
    return {key: f"{{{{ {pulled}['{key}'] }}}}" for key in DBT_ENV_KEYS}


def _configs(target: str) -> tuple[ProjectConfig, ProfileConfig, ExecutionConfig]:
    project = dbt_project(REPO_ROOT)
    project_config = ProjectConfig(
        dbt_project_path=REPO_ROOT,
        models_relative_path=project["model-paths"][0],
        seeds_relative_path=project["seed-paths"][0],
        snapshots_relative_path=project["snapshot-paths"][0],
        manifest_path=ensure_manifest(REPO_ROOT, target),
        env_vars=_env(),
        install_dbt_deps=False,
    )
    profile_config = ProfileConfig(
        profile_name=project["profile"],
        target_name=target,
        profiles_yml_filepath=REPO_ROOT / "profiles.yml",
    )
    execution_config = ExecutionConfig(
        execution_mode=ExecutionMode.WATCHER,
        # dbt in this process (its start-up once), as `adtech run` runs it.
        invocation_mode=InvocationMode.DBT_RUNNER,
        # A model's tests include those on its ancestors (relationships), never a test on a
        # later step's model: as `adtech run` selects.
        test_indirect_selection=TestIndirectSelection.BUILDABLE,
    )
    return project_config, profile_config, execution_config


def dbt_tasks() -> DbtTasks:
    """Inside a DAG: the dbt steps as Cosmos tasks (see the module's docstring)."""
    target = dbt_target()
    project_config, profile_config, execution_config = _configs(target)
    steps: dict[str, TaskGroup] = {}
    # The model tasks' render settings, as Cosmos's own (without this converter).
    plain = RenderConfig(test_behavior=TestBehavior.AFTER_EACH, emit_datasets=False)

    def in_its_step(*, dag, task_group, node, task_args, execution_mode, **kwargs):
        """Cosmos's node converter: the model's tasks (run and test, as Cosmos renders them),
        in the task group of the model's step instead of the DbtTaskGroup itself."""
        name = sequence.step_of_model(node.tags)
        if name is None:
            raise ValueError(f"{node.unique_id} has no step's tag ({sequence.dbt_selection()})")
        if name not in steps:
            steps[name] = TaskGroup(group_id=name, parent_group=task_group.parent_group, dag=dag)
        return generate_task_or_group(
            dag=dag,
            task_group=steps[name],
            node=node,
            task_args=task_args,
            render_config=plain,
            node_converters={},
            execution_mode=execution_mode,
            test_indirect_selection=execution_config.test_indirect_selection,
            on_warning_callback=kwargs.get("on_warning_callback"),
            detached_from_parent=kwargs.get("detached_from_parent"),
        )

    group = DbtTaskGroup(
        group_id=GROUP_ID,
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=sequence.dbt_selection(),
            # Ephemeral models are inlined where they are used: no node of their own in a build.
            exclude=["config.materialized:ephemeral"],
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
            node_converters={DbtResourceType.MODEL: in_its_step},
            node_conversion_by_task_group=True,
        ),
        operator_args={
            "install_deps": False,
            # The night's flags (no unit tests, no JSON artifacts), as `adtech run` builds.
            "dbt_cmd_flags": list(NIGHTLY_FLAGS),
            # A retry would not rebuild (see the module's docstring): a failed day is a new run.
            "retries": 0,
        },
    )
    producer = group.children[PRODUCER_TASK]
    # The build runs the night's selector, as `adtech run` does (dbt ignores --exclude beside a
    # selector; the selector itself leaves the unit tests out).
    producer.select, producer.exclude, producer.selector = None, None, sequence.NIGHTLY_SELECTOR
    # The producer holds the build lock and exports FiltrarDatos: Cosmos's producer, subclassed
    # (Cosmos names its producer's class by execution mode, with no setting to replace it).
    producer.__class__ = LockedBuildProducer
    producer.tests_per_model = _latest_parent_only(
        producer.tests_per_model, group.dbt_graph.filtered_nodes
    )
    gate = group.children[GATE_TASK]
    gate.trigger_rule = "one_done"
    for step in steps.values():
        for task in step.iter_tasks():
            task.__class__ = WATCHERS[type(task)]
            # A watcher runs no dbt, so it needs no dbt environment: without it, rendering its
            # fields pulls nothing from start's XCom (three requests a watcher otherwise).
            task.env = {}
            if not task.upstream_task_ids:  # a model with no parent in the build
                gate >> task
    # The statement's order between steps, as DBT_STEPS says (beside dbt's between models): a
    # failing model or test stops every later step, as in `adtech run`.
    missing = [s.name for s in sequence.DBT_STEPS if s.name not in steps]
    if missing:
        raise ValueError(f"steps with no model in dbt's manifest: {missing}")
    for step in sequence.DBT_STEPS:
        for upstream in step.upstream:
            steps[upstream] >> steps[step.name]
    return DbtTasks(group, producer, gate, {s.name: steps[s.name] for s in sequence.DBT_STEPS})
