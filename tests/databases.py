"""Scratch databases on the test stack's PostgreSQL server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2


def with_database(url: str, database: str) -> str:
    """`url` with its database name replaced."""
    return url.rsplit("/", 1)[0] + "/" + database


@contextlib.contextmanager
def new_database(admin_url: str, prefix: str = "t", name: str | None = None) -> Iterator[str]:
    """A new, empty database that lives as long as the block; yields its URL. Named `name`
    (one left by an interrupted run is dropped first), else `prefix` and a random suffix."""
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if name is None:
                name = f"{prefix}_{uuid.uuid4().hex[:10]}"
            else:
                cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'create database "{name}"')
        yield with_database(admin_url, name)
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        conn.close()


def spark_rows(server, sql: str) -> list[tuple]:
    """The rows of one statement on a Spark Thrift Server (devstack.spark.SparkServer), over a
    connection of its own."""
    conn = server.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(row) for row in cur.fetchall()] if cur.description else []
    finally:
        conn.close()
