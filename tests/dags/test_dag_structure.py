"""The DAG folder imports cleanly and the DAG has the shape DESIGN.md asks for."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pendulum
import pytest

DAG_ID = "adtech_recommendations"


@pytest.fixture(scope="module")
def dag(dbt_manifest):
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
    ids = set(dag.task_ids)
    loads = {"load_advertiser_ids", "load_product_views", "load_ads_views"}
    assert loads | {"start", "export", "publish", "cleanup", "record_failure"} <= ids
    # The assignment's steps are visible as task groups.
    for group in ("FiltrarDatos", "TopCTR", "TopProduct", "DBWriting"):
        assert any(t.startswith(f"{group}.") for t in ids), group
    for load in loads:
        assert _upstream(dag, load) == {"start"}
    filtrar_roots = [t for t in dag.task_group_dict["FiltrarDatos"].get_roots()]
    assert filtrar_roots and all(loads <= set(t.upstream_task_ids) for t in filtrar_roots)
    for group in ("TopCTR", "TopProduct"):
        for root in dag.task_group_dict[group].get_roots():
            assert any(u.startswith("FiltrarDatos.") for u in root.upstream_task_ids), root
    for root in dag.task_group_dict["DBWriting"].get_roots():
        ups = root.upstream_task_ids
        assert any(u.startswith("TopCTR.") for u in ups) and any(
            u.startswith("TopProduct.") for u in ups
        )
    assert all(u.startswith("DBWriting.") for u in _upstream(dag, "export"))
    assert _upstream(dag, "publish") == {"export"}
    assert _upstream(dag, "cleanup") == {"publish"}
    assert dag.get_task("record_failure").trigger_rule == "one_failed"
    assert [t.task_id for t in dag.leaves] == ["record_failure"]


def _dbt_tasks(dag) -> list:
    return [t for t in dag.tasks if t.task_id.endswith("_model_build")]


def test_each_model_is_one_dbt_build_with_its_tests(dag) -> None:
    from cosmos.operators.local import DbtBuildLocalOperator

    tasks = _dbt_tasks(dag)
    ids = {t.task_id for t in tasks}
    assert {"TopCTR.top_ctr_model_build", "TopProduct.top_product_model_build"} <= ids
    # No separate test tasks: a model's tests run inside its `dbt build`, before anything
    # downstream of the model starts.
    assert not [t for t in dag.task_ids if t.endswith("_test") or t.endswith(".test")]
    for task in tasks:
        assert isinstance(task, DbtBuildLocalOperator), task.task_id
        assert task.indirect_selection == "buildable", task.task_id


def test_every_data_test_runs_in_some_model_task(dag, dbt_manifest) -> None:
    """dbt's buildable selection runs a test with model M only when every other parent of the
    test is an ancestor of M: a test across two sibling models would silently never run."""
    manifest = json.loads(Path(dbt_manifest).read_text())
    parents = manifest["parent_map"]
    built = {t.select.removeprefix("fqn:") for t in _dbt_tasks(dag)}

    def ancestors(node: str) -> set[str]:
        seen: set[str] = set()
        todo = list(parents[node])
        while todo:
            if (up := todo.pop()) not in seen:
                seen.add(up)
                todo.extend(parents.get(up, []))
        return seen

    orphans = []
    for test_id, node in manifest["nodes"].items():
        if node["resource_type"] != "test":
            continue
        models = [p for p in parents[test_id] if p.startswith("model.")]
        if not any(
            ".".join(manifest["nodes"][m]["fqn"]) in built and set(models) <= {m} | ancestors(m)
            for m in models
        ):
            orphans.append(test_id)
    assert orphans == []


def test_every_task_takes_the_day_from_start(dag) -> None:
    """dbt tasks get D and the version from start's XCom (environment, no --vars: a new day must
    not force dbt to parse the whole project again); Python tasks read the same XCom."""
    for task in dag.tasks:
        if task.task_id.endswith("_model_build"):
            assert task.env == {
                "ADTECH_RUN_DATE": "{{ ti.xcom_pull(task_ids='start')['day'] }}",
                "ADTECH_BUILD_VERSION": "{{ ti.xcom_pull(task_ids='start')['version'] }}",
            }
            assert not task.vars
