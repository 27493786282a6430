"""The local Thrift Server itself: reachable over thrift, ANSI mode as on a cluster, state kept
in its own folder."""

from __future__ import annotations

import pytest
from pyhive.exc import OperationalError

from devstack.spark import SparkServer


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
