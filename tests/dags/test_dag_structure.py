"""The DAG folder imports cleanly; the nightly DAG has the shape the project's contract asks
for, and the backfill DAG has the same steps over a range of days."""

from __future__ import annotations

import datetime as dt

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


def test_tasks_and_their_order(dag) -> None:
    from pipeline.flow.sequence import DBT_STEPS

    loads = {"load_advertiser_ids", "load_product_views", "load_ads_views"}
    steps = {"FiltrarDatos", "TopCTR", "TopProduct", "DBWriting"}
    others = {"start", "dbt_build", "export", "publish", "cleanup", "record_failure"}
    # The assignment's steps are tasks of their own, named after them, and nothing else runs.
    assert set(dag.task_ids) == loads | steps | others
    assert [s.name for s in DBT_STEPS] == ["FiltrarDatos", "TopCTR", "TopProduct", "DBWriting"]
    for load in loads:
        assert _upstream(dag, load) == {"start"}
    assert _upstream(dag, "dbt_build") == loads
    assert _upstream(dag, "FiltrarDatos") == {"dbt_build"}
    assert _upstream(dag, "TopCTR") == _upstream(dag, "TopProduct") == {"FiltrarDatos"}
    assert _upstream(dag, "DBWriting") == {"TopCTR", "TopProduct"}
    assert _upstream(dag, "export") == {"DBWriting"}
    assert _upstream(dag, "publish") == {"export"}
    assert _upstream(dag, "cleanup") == {"publish"}
    assert dag.get_task("record_failure").trigger_rule == "one_failed"
    assert _upstream(dag, "record_failure") == set(dag.task_ids) - {"record_failure"}
    assert [t.task_id for t in dag.leaves] == ["record_failure"]


def test_the_step_tasks_follow_the_one_list_of_steps(dag) -> None:
    """`adtech run` and the DAG walk pipeline.flow.sequence.DBT_STEPS: each step's upstream steps
    are its task's upstream tasks, and a step's task never retries (it reports dbt_build's
    results, which a retry cannot change)."""
    from pipeline.flow.sequence import DBT_STEPS

    for step in DBT_STEPS:
        task = dag.get_task(step.name)
        assert _upstream(dag, step.name) == (set(step.upstream) or {"dbt_build"})
        assert task.op_kwargs == {"name": step.name}
        assert task.retries == 0


def test_every_dbt_node_runs_in_the_one_build_and_belongs_to_a_step() -> None:
    """dbt_build selects the four steps' tags with buildable indirect selection: every model of
    the project is in some step (or ephemeral, inlined), and every data or unit test has all its
    models in the selection, so no test silently never runs. Each node is reported by a step."""
    from pipeline.flow.sequence import DBT_STEPS, nodes_by_step
    from pipeline.steps.transform import parse_project

    manifest = parse_project()  # in memory, as `adtech run` parses (no database needed)
    tags = {step.select.removeprefix("tag:") for step in DBT_STEPS}
    nodes = {**manifest.nodes, **manifest.unit_tests}
    models = {
        uid: node
        for uid, node in nodes.items()
        if node.resource_type == "model" and node.config.materialized != "ephemeral"
    }
    assert models
    untagged = [uid for uid, node in models.items() if not tags & set(node.tags)]
    assert untagged == []
    selected = {
        uid
        for uid, node in nodes.items()
        if node.resource_type == "model" and tags & set(node.tags)
    }
    orphans = []
    results = []
    for uid, node in nodes.items():
        if node.resource_type not in ("test", "unit_test"):
            continue
        parents = [p for p in node.depends_on.nodes if p.startswith("model.")]
        if not set(parents) <= selected:
            orphans.append(uid)
        results.append({"unique_id": uid, "parents": parents, "tags": list(node.tags)})
    assert orphans == []
    results += [{"unique_id": uid, "parents": [], "tags": n.tags} for uid, n in models.items()]
    by_step = nodes_by_step(results)
    assert sum(len(v) for v in by_step.values()) == len(results)
    assert all(by_step[step.name] for step in DBT_STEPS)
    assert "model.adtech_recs.recommendations" in {n["unique_id"] for n in by_step["DBWriting"]}


def test_no_task_renders_dbt_from_a_manifest_or_passes_vars(dag) -> None:
    """One dbt invocation a run, in dbt_build (pipeline.steps.transform.dbt_build, as `adtech run`):
    no Cosmos task starting dbt once per model, no `--vars` (a new day would force dbt to parse
    the whole project again; the day and version reach dbt as environment variables)."""
    assert not [t.task_id for t in dag.tasks if type(t).__module__.startswith("cosmos")]
    assert dag.get_task("dbt_build").retries == dag.default_args["retries"]


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
        if task_id != "start":
            assert (
                backfill.get_task(task_id).python_callable is dag.get_task(task_id).python_callable
            )
    alone = backfill.get_task("nights_instead")
    assert alone.trigger_rule == "one_failed" and alone.retries == 0
    loads = {"load_advertiser_ids", "load_product_views", "load_ads_views"}
    steps = {"FiltrarDatos", "TopCTR", "TopProduct", "DBWriting"}
    assert _upstream(backfill, "nights_instead") == loads | {"dbt_build"} | steps
    assert backfill.get_task("record_failure").trigger_rule == "one_failed"
    assert _upstream(backfill, "record_failure") == set(backfill.task_ids) - {"record_failure"}
    assert [t.task_id for t in backfill.leaves] == ["record_failure"]


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
