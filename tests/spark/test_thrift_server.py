"""The Thrift Server on the session's standalone cluster: reachable over thrift, ANSI mode as on
any cluster, state kept in its own folder, and its work spread over both workers' executors
(the driver's REST API names each executor's worker by its log links)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from pyhive.exc import OperationalError

from devstack.spark import SparkServer
from devstack.spark_cluster import SparkCluster, executors
from tests.databases import spark_rows


def test_server_answers_over_thrift_with_its_state_in_its_folder(spark_server: SparkServer):
    conn = spark_server.connect()
    try:
        cur = conn.cursor()
        cur.execute("create database if not exists smoke")
        cur.execute("create table if not exists smoke.t (a int) using parquet")
        cur.execute("insert overwrite table smoke.t values (41), (1)")
        cur.execute("select sum(a) from smoke.t")
        assert cur.fetchall() == [(42,)]
        # Over thrift ANSI mode stays on, as on a cluster (dbt's session mode turns it off):
        # x / 0 raises, so the models divide by nullif(..., 0).
        with pytest.raises(OperationalError, match="DIVIDE_BY_ZERO"):
            cur.execute("select 1 / 0")
    finally:
        conn.close()
    assert (spark_server.warehouse / "smoke.db" / "t").is_dir()
    assert (spark_server.state_dir / "metastore_db").is_dir()
    assert spark_server.log_path.stat().st_size > 0


def tasks_per_worker(server: SparkServer, cluster: SparkCluster) -> dict[str, int]:
    """Tasks run by the executors of each worker (by the worker's UI port in the executor's log
    links), lost executors included."""
    by_port = {worker.ui_port: worker.name for worker in cluster.workers}
    out: dict[str, int] = {}
    for executor in executors(server):
        if executor["id"] == "driver":
            continue
        port = urlparse(executor["executorLogs"]["stdout"]).port
        out[by_port[port]] = out.get(by_port[port], 0) + executor["totalTasks"]
    return out


def test_a_shuffle_runs_on_both_workers_and_none_in_the_driver(
    spark_server: SparkServer, spark_cluster: SparkCluster
):
    assert len(spark_cluster.alive_workers()) == 2
    before = tasks_per_worker(spark_server, spark_cluster)
    # 8 map tasks and a shuffle: more work than one 1-core executor takes at once.
    assert spark_rows(
        spark_server,
        "select count(*), sum(n) from (select id % 1000 as k, count(*) as n"
        " from range(0, 4000000, 1, 8) group by id % 1000)",
    ) == [(1000, 4000000)]
    after = tasks_per_worker(spark_server, spark_cluster)
    ran = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert set(ran) == {"worker-0", "worker-1"}, after
    assert all(n > 0 for n in ran.values()), ran
    assert sum(ran.values()) >= 8  # the 8 map tasks at least: every task on an executor
    (driver,) = [e for e in executors(spark_server) if e["id"] == "driver"]
    assert driver["totalTasks"] == 0
