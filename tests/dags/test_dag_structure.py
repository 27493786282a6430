"""The DAG folder imports cleanly and the DAG has the shape DESIGN.md asks for."""

from __future__ import annotations

import datetime as dt

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
    assert loads | {"start", "export", "publish", "record_failure"} <= ids
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
    assert dag.get_task("record_failure").trigger_rule == "one_failed"
    assert [t.task_id for t in dag.leaves] == ["record_failure"]


def test_each_model_is_tested_right_after_it_is_built(dag) -> None:
    runs = [t for t in dag.task_ids if t.endswith(".run")]
    assert {"TopCTR.top_ctr.run", "TopProduct.top_product.run"} <= set(runs)
    for run in runs:
        test = run.removesuffix(".run") + ".test"
        assert _upstream(dag, test) == {run}
        # whatever comes after a model waits for its tests
        for downstream in dag.get_task(run).downstream_task_ids:
            assert downstream == test


def test_dbt_tasks_receive_the_run_date_var(dag) -> None:
    task = dag.get_task("TopCTR.top_ctr.run")
    assert task.vars == {"run_date": "{{ params.run_date or data_interval_start | ds }}"}
