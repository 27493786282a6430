"""The DAG folder imports cleanly; the nightly DAG has the shape the project's contract asks
for, and the backfill DAG has the same steps over a range of days."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pendulum
import pytest

DAG_ID = "adtech_recommendations"
BACKFILL_ID = "adtech_backfill"


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [BACKFILL_ID, DAG_ID]
    return bag


@pytest.fixture(scope="module")
def dag(bag):
    return bag.dags[DAG_ID]


def _upstream(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_schedule_has_a_one_day_interval_starting_at_the_log_day(dag) -> None:
    from airflow.timetables.interval import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    # A run triggered just after 2024-11-21 00:00 processes the day that ended: 2024-11-20.
    interval = dag.timetable.infer_manual_data_interval(
        run_after=pendulum.datetime(2024, 11, 21, 0, 5, tz="UTC")
    )
    assert interval.start == pendulum.datetime(2024, 11, 20, tz="UTC")
    assert interval.end - interval.start == dt.timedelta(days=1)
    assert dag.catchup is True
    assert dag.max_active_runs == 1
    assert "run_date" in dag.params


PRODUCER = "dbt_build.dbt_producer_watcher"
GATE = "dbt_build.dbt_producer_watcher_done"
STEPS = ("FiltrarDatos", "TopCTR", "TopProduct", "DBWriting")
LOADS = {"load_advertiser_ids", "load_product_views", "load_ads_views"}
OTHERS = {"start", PRODUCER, GATE, "export", "publish", "cleanup", "record_failure"}


def _dbt_tasks(dag) -> dict[str, list[str]]:
    """Each step's task ids (its task group's)."""
    return {step: [t for t in dag.task_ids if t.startswith(f"{step}.")] for step in STEPS}


def _ancestors(dag, task_id: str) -> set[str]:
    return {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=True)}


def test_tasks_and_their_order(dag) -> None:
    from pipeline.flow.sequence import DBT_STEPS

    assert [s.name for s in DBT_STEPS] == list(STEPS)
    by_step = _dbt_tasks(dag)
    # Nothing but the loads, the one build, the steps' model tasks and the publication runs.
    assert set(dag.task_ids) == LOADS | OTHERS | {t for ts in by_step.values() for t in ts}
    assert all(by_step.values())
    for load in LOADS:
        assert _upstream(dag, load) == {"start"}
    assert _upstream(dag, PRODUCER) == LOADS
    assert _upstream(dag, GATE) == {PRODUCER}
    # The gate runs after the build, passed or failed; skipped when it never ran.
    assert dag.get_task(GATE).trigger_rule == "one_done"
    for step, task_ids in by_step.items():
        for task_id in task_ids:
            # Every model task looks after the build ended (dag.test runs one task at a time).
            assert GATE in _ancestors(dag, task_id), task_id
            # ... and after every task of the steps before its own.
            for upstream in next(s for s in DBT_STEPS if s.name == step).upstream:
                assert set(by_step[upstream]) <= _ancestors(dag, task_id), (task_id, upstream)
    # FiltrarDatos' first models wait for the gate alone.
    assert {t for ts in by_step.values() for t in ts if _upstream(dag, t) == {GATE}}
    last = {
        t
        for t in by_step["DBWriting"]
        if not dag.get_task(t).downstream_task_ids - {"export", "record_failure"}
    }
    assert _upstream(dag, "export") == last | {PRODUCER}
    assert _upstream(dag, "publish") == {"export"}
    assert _upstream(dag, "cleanup") == {"publish"}
    assert dag.get_task("record_failure").trigger_rule == "one_failed"
    # Every task's failure reaches record_failure (directly or through upstream_failed leaves).
    assert _ancestors(dag, "record_failure") == set(dag.task_ids) - {"record_failure"}
    assert [t.task_id for t in dag.leaves] == ["record_failure"]


def test_every_model_and_test_has_a_task_in_its_step(dag) -> None:
    """Each model of the project (ephemeral ones are inlined) is a task of the step its tags name
    (pipeline.flow.sequence, as `adtech run` reports it), and each data test is watched by
    exactly one model's tests task: the model it checks, built last among its parents."""
    from pipeline.flow.sequence import step_of_model
    from pipeline.steps.transform import parse_project

    manifest = parse_project()  # in memory, as `adtech run` parses (no database needed)
    models = {
        uid: node
        for uid, node in manifest.nodes.items()
        if node.resource_type == "model" and node.config.materialized != "ephemeral"
    }
    assert len(models) >= 10
    producer = dag.get_task(PRODUCER)
    tested = {model for model, tests in producer.tests_per_model.items() if tests}
    for uid, node in models.items():
        step = step_of_model(node.tags)
        assert step in STEPS, uid
        run = [f"{step}.{node.name}.run", f"{step}.{node.name}_run"]
        assert set(run) & set(dag.task_ids), uid
        if uid in tested:
            assert f"{step}.{node.name}.test" in dag.task_ids, uid
    data_tests = [uid for uid, n in manifest.nodes.items() if n.resource_type == "test"]
    owners = [m for t in data_tests for m, tests in producer.tests_per_model.items() if t in tests]
    assert len(owners) == len(data_tests)
    relationships = next(t for t in data_tests if ".relationships_top_ctr_" in t)
    assert [m for m, ts in producer.tests_per_model.items() if relationships in ts] == [
        "model.adtech_recs.top_ctr"
    ]


def test_one_build_by_cosmos_with_the_day_from_start_and_no_retry(dag) -> None:
    """Cosmos runs dbt: its producer (the build lock and FiltrarDatos' export around it) builds
    the night's selector once; the watchers never run dbt. The day and version reach dbt as
    environment rendered from start's XCom, never as --vars (a new day would force a full
    parse). No Cosmos task retries: a failed day is run again as a new DAG run."""
    from cosmos.operators.watcher import DbtConsumerWatcherSensor

    from pipeline.airflow.dbt_group import LockedBuildProducer, ModelWatcher, TestsWatcher
    from pipeline.flow.sequence import NIGHTLY_SELECTOR

    producer = dag.get_task(PRODUCER)
    assert type(producer) is LockedBuildProducer
    # The night's selector, as `adtech run` builds (it leaves the unit tests out).
    assert (producer.selector, producer.select, producer.exclude) == (NIGHTLY_SELECTOR, None, None)
    command, _ = producer.build_cmd(context={}, cmd_flags=producer.add_cmd_flags())
    assert command[command.index("--selector") + 1] == NIGHTLY_SELECTOR
    assert "--select" not in command
    assert not producer.vars
    assert set(producer.env) == {"ADTECH_RUN_DATE", "ADTECH_RUN_DATE_END", "ADTECH_BUILD_VERSION"}
    assert all("xcom_pull(task_ids='start', key='dbt_env')" in v for v in producer.env.values())
    watchers = [t for t in dag.tasks if isinstance(t, DbtConsumerWatcherSensor)]
    assert {type(t) for t in watchers} == {ModelWatcher, TestsWatcher}
    assert all(t.producer_task_id == PRODUCER for t in watchers)
    assert {t.retries for t in [producer, *watchers]} == {0}
    # Cosmos records no usage metadata (telemetry off in the project's Airflow settings).
    assert "__cosmos_telemetry_metadata__" not in dag.params


def test_a_watcher_never_runs_dbt_itself(dag) -> None:
    """Where Cosmos's watcher would run dbt for its model (a retry, a build that failed before
    reporting the model), the project's fails, naming the build: no dbt outside the build."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.airflow.env import project_settings

    watcher = dag.get_task("DBWriting.recommendations.test")
    with pytest.raises(AirflowFailException, match=r"did not report model\.adtech_recs\.recommen"):
        watcher._fallback_to_non_watcher_run(2, {})
    settings = project_settings("postgresql://u@h/db", Path("/tmp"))
    assert settings["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"
    assert settings["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"


def test_the_backfill_dag_runs_the_same_steps_over_a_range(bag, dag) -> None:
    """Manual only, params start and end required; the nightly DAG's tasks with the same
    upstreams, plus nights_instead after a failed load, build or step; record_failure last."""
    backfill = bag.dags[BACKFILL_ID]
    assert backfill.timetable.can_be_scheduled is False
    assert set(backfill.params) == {"start", "end"}
    assert set(backfill.task_ids) == set(dag.task_ids) | {"nights_instead"}
    for task_id in dag.task_ids:
        if task_id != "record_failure":
            assert _upstream(backfill, task_id) == _upstream(dag, task_id), task_id
        # The same task code (pipeline/airflow/tasks.py), not a copy: start alone differs.
        callable_ = getattr(dag.get_task(task_id), "python_callable", None)
        if task_id != "start" and callable_ is not None:
            assert backfill.get_task(task_id).python_callable is callable_
    alone = backfill.get_task("nights_instead")
    assert alone.trigger_rule == "one_failed" and alone.retries == 0
    assert LOADS | {PRODUCER, GATE} <= _upstream(backfill, "nights_instead")
    assert _ancestors(backfill, "nights_instead") == set(dag.task_ids) - {
        "export",
        "publish",
        "cleanup",
        "record_failure",
    }
    assert backfill.get_task("record_failure").trigger_rule == "one_failed"
    assert _ancestors(backfill, "record_failure") == set(backfill.task_ids) - {"record_failure"}
    assert [t.task_id for t in backfill.leaves] == ["record_failure"]


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"start": "2024-13-01", "end": "2024-13-02"}, "'2024-13-01' is not a 'date'"),
        ({"start": 20241120, "end": "2024-11-20"}, "20241120 is not of type 'string'"),
        ({"start": "2024-11-20"}, "Invalid input for param end"),
    ],
    ids=["no such month", "not a string", "missing end"],
)
def test_the_backfill_params_schema_refuses_what_is_not_a_date(bag, conf, message) -> None:
    """What `airflow dags test adtech_backfill -c CONF` checks before it creates a run (the
    params merged into the DAG's, then validated): test_backfill_dag.py runs one such CLI call."""
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(bag.dags[BACKFILL_ID].params)
    with pytest.raises(ParamValidationError, match=re.escape(message)):
        for key, value in conf.items():
            params[key] = value
        params.validate()


def test_the_backfill_checks_its_params_before_opening_anything() -> None:
    """Each bad range is refused with a message naming what is wrong (the DAG run test shows
    that nothing is written); a good one gives its days."""
    from airflow.sdk.exceptions import AirflowFailException

    from dags.adtech_backfill import requested_days
    from pipeline.flow.sequence import MAX_RANGE_DAYS

    day = dt.date(2024, 11, 20)
    assert requested_days({"start": "2024-11-20", "end": "2024-11-22"}) == [
        day + dt.timedelta(days=i) for i in range(3)
    ]
    too_far = (day + dt.timedelta(days=MAX_RANGE_DAYS)).isoformat()
    for params, clue in [
        ({"start": "2024-11-20\x00", "end": "2024-11-21"}, "must be a date YYYY-MM-DD"),
        ({"start": "2024-11-20\n", "end": "2024-11-21"}, "must be a date YYYY-MM-DD"),
        ({"start": "2024-13-01", "end": "2024-13-02"}, "not a calendar date"),
        ({"start": "2024-11-20"}, "'end' must be a date"),
        ({"start": 20241120, "end": "2024-11-21"}, "'start' must be a date"),
        ({"start": "\uff12\uff10\uff12\uff14-11-20", "end": "2024-11-21"}, "YYYY-MM-DD"),  # wide
        ({"start": "2024-11-21", "end": "2024-11-20"}, "end=2024-11-20"),
        ({"start": "2024-11-20", "end": too_far}, f"end={too_far}"),
    ]:
        with pytest.raises(AirflowFailException, match=clue):
            requested_days(params)
