"""Fixtures for the Spark tests: one local Spark Thrift Server for the whole session (started
from the pyspark wheel by devstack/spark.py, ~25-50 s), its host and port exported as the
`spark` dbt target reads them (ADTECH_SPARK_HOST, ADTECH_SPARK_PORT)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.spark import SparkServer, start_thrift_server


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkServer]:
    server = start_thrift_server(tmp_path_factory.mktemp("spark-state"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in server.env.items():
                mp.setenv(key, value)
            yield server
    finally:
        server.stop()
