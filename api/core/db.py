"""Read-only access to PostgreSQL through a thread-safe psycopg2 pool.

Queries run in Starlette's threadpool (psycopg2 blocks). The pool is opened on first use, so the
service starts even when the database is down, and a connection broken by a database restart is
dropped and replaced, so the service recovers by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2.pool import ThreadedConnectionPool

from api.core.config import Settings

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot answer now (down, restarting, overloaded or too slow): a 503."""


class Database:
    """A bounded pool of autocommit, read-only connections and two query helpers."""

    def __init__(self, settings: Settings) -> None:
        self._size = settings.pool_size
        self._wait = settings.pool_wait_seconds
        self._connect_kwargs: dict[str, Any] = {
            "dsn": settings.database_url,
            "connect_timeout": settings.connect_timeout_seconds,
            "application_name": "adtech-api",
            # Belt and braces: the role can only SELECT anyway.
            "options": (
                f"-c statement_timeout={settings.statement_timeout_ms} "
                "-c default_transaction_read_only=on"
            ),
            # A database that vanishes without closing the socket still fails fast.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        }
        self._pool: ThreadedConnectionPool | None = None
        self._pool_lock = threading.Lock()
        # psycopg2's pool raises instead of waiting when exhausted: make callers queue instead.
        self._slots = threading.BoundedSemaphore(self._size)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one parameterised query; DatabaseUnavailable when the database cannot answer."""
        if not self._slots.acquire(timeout=self._wait):
            raise DatabaseUnavailable(f"all {self._size} database connections are busy")
        try:
            return self._fetch(sql, params)
        finally:
            self._slots.release()

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        # Idle connections may all have been broken by a restart: drop each one that fails and
        # try the next; a failure to open a *new* connection means the database is really down.
        last_error: Exception | None = None
        for _ in range(self._size + 1):
            pool, conn = self._checkout()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    rows = cur.fetchall()
            except psycopg2.errors.QueryCanceled as exc:  # statement_timeout: connection is fine
                pool.putconn(conn)
                raise DatabaseUnavailable("the database did not answer in time") from exc
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                pool.putconn(conn, close=True)
                last_error = exc
                continue
            except BaseException:
                pool.putconn(conn, close=conn.closed != 0)
                raise
            pool.putconn(conn)
            return rows
        raise DatabaseUnavailable("the database connection keeps failing") from last_error

    def _checkout(self) -> tuple[ThreadedConnectionPool, Any]:
        pool = self._open_pool()
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailable(_first_line(exc)) from exc
        if not conn.autocommit:  # no transaction left open between queries
            conn.autocommit = True
        return pool, conn

    def _open_pool(self) -> ThreadedConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                try:
                    # minconn == maxconn: psycopg2 closes returned connections above minconn.
                    self._pool = ThreadedConnectionPool(
                        self._size, self._size, **self._connect_kwargs
                    )
                except psycopg2.OperationalError as exc:
                    raise DatabaseUnavailable(_first_line(exc)) from exc
                log.info("database pool opened (%d connections)", self._size)
            return self._pool


def _first_line(exc: Exception) -> str:
    """libpq's message without its multi-line hints (and never the URL)."""
    text = str(exc).strip().splitlines()
    return f"database unreachable: {text[0]}" if text else "database unreachable"
