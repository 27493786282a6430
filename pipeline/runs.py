"""Run bookkeeping (`ops.pipeline_runs`) and publication (`ops.published_days`)."""

from __future__ import annotations

import datetime as dt
import json
import logging

import psycopg2

from pipeline.settings import get_settings

log = logging.getLogger(__name__)


class NothingToPublishError(RuntimeError):
    """The day built, but produced no recommendations: publishing it would blank the API."""


def _execute(query: str, params: tuple | dict) -> list[tuple]:
    conn = psycopg2.connect(get_settings().database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def start_run(run_id: str, day: dt.date) -> None:
    """Open the run's row. A day already published is withdrawn first, in the same transaction:
    the run is about to rewrite its marts rows, and the API must not serve them half-rebuilt (nor
    rebuilt from inputs whose tests then fail). It serves the other published days meanwhile and
    `publish` makes the day visible again."""
    rows = _execute(
        """
        with withdrawn as (
            delete from ops.published_days where date = %(day)s returning date
        ),
        opened as (
            insert into ops.pipeline_runs (run_id, date, status)
            values (%(run_id)s, %(day)s, 'running')
            on conflict (run_id) do update
                set status = 'running', started_at = now(), finished_at = null, error = null
        )
        select count(*) from withdrawn
        """,
        {"run_id": run_id, "day": day},
    )
    if rows[0][0]:
        log.warning("%s was published: withdrawn from the API until this run publishes it", day)


def record_step(run_id: str, step: str, seconds: float, detail: dict | None = None) -> None:
    entry = {"step": step, "seconds": round(seconds, 3), **(detail or {})}
    _execute(
        "update ops.pipeline_runs set steps = steps || %s::jsonb where run_id = %s",
        (json.dumps([entry]), run_id),
    )


def finish_run(run_id: str, status: str, error: str | None = None) -> None:
    _execute(
        "update ops.pipeline_runs set status = %s, finished_at = now(), error = %s"
        " where run_id = %s",
        (status, error, run_id),
    )


def publish(day: dt.date, run_id: str) -> int:
    """Make `day` visible to the API. Called only after every dbt test of the day passed."""
    rows = _execute(
        """
        with recs as (select count(*) as n from marts.recommendations where date = %(day)s),
        published as (
            insert into ops.published_days (date, run_id, published_at)
            select %(day)s, %(run_id)s, now() from recs where n > 0
            on conflict (date) do update
                set run_id = excluded.run_id, published_at = excluded.published_at
            returning 1
        )
        select (select n from recs), (select count(*) from published)
        """,
        {"day": day, "run_id": run_id},
    )
    recommendations, published = rows[0]
    if not published:
        raise NothingToPublishError(f"{day}: marts.recommendations has no rows; not published")
    return recommendations
