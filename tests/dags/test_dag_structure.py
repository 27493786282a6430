"""The DAG folder imports cleanly and the DAG has the shape DESIGN.md asks for."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

DAG_ID = "adtech_recommendations"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert list(bag.dag_ids) == [DAG_ID]
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
    from pipeline.steps import DBT_STEPS

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
    """`adtech run` and the DAG walk pipeline.steps.DBT_STEPS: each step's upstream steps are
    its task's upstream tasks, and a step's task never retries (it reports dbt_build's results,
    which a retry cannot change)."""
    from pipeline.steps import DBT_STEPS

    for step in DBT_STEPS:
        task = dag.get_task(step.name)
        assert _upstream(dag, step.name) == (set(step.upstream) or {"dbt_build"})
        assert task.op_kwargs == {"name": step.name}
        assert task.retries == 0


def test_every_dbt_node_runs_in_the_one_build_and_belongs_to_a_step() -> None:
    """dbt_build selects the four steps' tags with buildable indirect selection: every model of
    the project is in some step (or ephemeral, inlined), and every data or unit test has all its
    models in the selection, so no test silently never runs. Each node is reported by a step."""
    from pipeline.steps import DBT_STEPS, nodes_by_step
    from pipeline.transform import parse_project

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
    """One dbt invocation a run, in dbt_build (pipeline.transform.dbt_build, as `adtech run`):
    no Cosmos task starting dbt once per model, no `--vars` (a new day would force dbt to parse
    the whole project again; the day and version reach dbt as environment variables)."""
    assert not [t.task_id for t in dag.tasks if type(t).__module__.startswith("cosmos")]
    assert dag.get_task("dbt_build").retries == dag.default_args["retries"]
