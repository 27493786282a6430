"""Fixtures for the Spark tests: ONE Spark standalone cluster for the whole session (a master
and two 1-core workers, each a JVM of its own, from the pyspark wheel) and one Thrift Server
submitting to it, started the way `adtech stack up --spark` starts them (devstack/stack.py with
devstack/spark_stack.py), beside the session's PostgreSQL and S3 endpoint. Their settings are
exported as the `spark` dbt target reads them (ADTECH_SPARK_HOST, ADTECH_SPARK_PORT).

Every Spark test shares them: a Thrift Server costs 25-70 s to start on this machine and a
scenario's builds minutes, so the scenarios are few and each checks many things."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import stack as devstack
from devstack.spark import SparkServer
from devstack.spark_cluster import SparkCluster
from devstack.spark_stack import alive
from tests.cli import adtech


@pytest.fixture(scope="session")
def spark_stack(stack: devstack.Stack, tmp_path_factory: pytest.TempPathFactory):
    """`adtech stack up --spark` in a stack folder of its own, on the session stack's database
    and S3 endpoint (DATABASE_URL and AWS_ENDPOINT_URL_S3 point there: `up` starts only Spark).
    Stopped at the end by `adtech stack down`, which must leave none of its JVMs running."""
    root = Path(tmp_path_factory.mktemp("spark-stack"))
    st = devstack.up(root, airflow_db=False, spark=True)
    try:
        assert st.spark and st.spark.cluster and st.spark.server
        yield st
    finally:
        pids = {**st.spark.cluster.pids(), "thrift": st.spark.server.process.pid}
        down = adtech({**os.environ, "ADTECH_STACK_DIR": str(root)}, "stack", "down", check=False)
        devstack.down(root)  # whatever the command left
        st.spark.server.stop()
        st.spark.cluster.stop()
        assert down.returncode == 0 and "spark-thrift" in down.stderr, down.stderr
        assert not [name for name, pid in pids.items() if alive(pid)]


@pytest.fixture(scope="session")
def spark_cluster(spark_stack: devstack.Stack) -> SparkCluster:
    return spark_stack.spark.cluster


@pytest.fixture(scope="session")
def spark_server(spark_stack: devstack.Stack) -> Iterator[SparkServer]:
    server = spark_stack.spark.server
    with pytest.MonkeyPatch.context() as mp:
        for key, value in server.env.items():
            mp.setenv(key, value)
        yield server
