"""The API's role can read marts and ops.published_days, and can write nothing."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
import pytest

from api.core.db import Database
from tests.api.conftest import api_role_url, settings_for

WRITES = [
    "insert into marts.recommendations (date, version, advertiser_id, model, rank, product_id,"
    " score) values ('2024-11-20', 1, 'X', 'top_ctr', 99, 'p', 1)",
    "update marts.recommendations set score = 0",
    "delete from marts.model_coverage",
    "truncate marts.model_agreement",
    "insert into ops.published_days (date, run_id) values ('2030-01-01', 'evil')",
    "delete from ops.published_days",
    "create table marts.evil (x int)",
    "create table ops.evil (x int)",
    "drop table marts.recommendations",
]


@pytest.fixture
def api_conn(published):
    conn = psycopg2.connect(api_role_url(published.url))
    conn.autocommit = True
    yield conn
    conn.close()


def test_role_reads_what_the_api_needs(api_conn, published):
    with api_conn.cursor() as cur:
        cur.execute("select current_user, count(*) from marts.recommendations")
        user, rows = cur.fetchone()
        cur.execute("select count(*) from ops.published_days")
        assert user == "adtech_api" and rows > 0 and cur.fetchone()[0] == len(published.days)


@pytest.mark.parametrize("sql", WRITES)
def test_role_cannot_write(api_conn, sql):
    with api_conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute(sql)


def test_role_cannot_read_other_ops_tables(api_conn):
    with api_conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute("select * from ops.pipeline_runs")


def test_the_apis_own_connection_cannot_write(published):
    db = Database(settings_for(published.url))
    try:
        assert db.fetchone("select current_user")[0] == "adtech_api"
        with pytest.raises(
            (psycopg2.errors.ReadOnlySqlTransaction, psycopg2.errors.InsufficientPrivilege)
        ):
            db.fetchall("delete from marts.recommendations returning 1")
        # The failed write lost nothing and left the pooled connection usable.
        assert db.fetchone("select count(*) from marts.recommendations")[0] > 0
    finally:
        db.close()
