"""Run bookkeeping (`ops.pipeline_runs`): one row per run, the version it builds, its steps."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import psycopg2

from pipeline.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What every step of one run works on: one log day, one new version of its marts."""

    run_id: str
    day: dt.date
    version: int

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "day": self.day.isoformat(), "version": self.version}

    @classmethod
    def from_dict(cls, value: dict) -> RunContext:
        return cls(value["run_id"], dt.date.fromisoformat(value["day"]), int(value["version"]))


def execute(query: str, params: tuple | dict) -> list[tuple]:
    conn = psycopg2.connect(get_settings().database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def start_run(run_id: str, day: dt.date, version: int | None = None) -> RunContext:
    """Open the run's row with a new version (microseconds since the epoch, so later builds are
    larger, as dbt's own default is), or with `version` (the days of one backfill build share
    theirs). The served version of `day`, if any, is left alone: the run builds beside it and
    only `publish` switches the API over.

    Runs left `running` by a process that died are closed here as failed, with the reason: the
    earlier runs of the same day (this run supersedes them), and any run older than
    ADTECH_STALE_RUN_HOURS."""
    rows = execute(
        """
        with stale as (
            update ops.pipeline_runs
            set status = 'failed', finished_at = now(),
                error = case when date = %(day)s
                    then 'never finished (its process died?): superseded by run ' || %(run_id)s
                    else 'never finished: still running after '
                        || %(stale_hours)s || ' h, closed by run ' || %(run_id)s
                end
            where status = 'running' and run_id <> %(run_id)s
              and (date = %(day)s or started_at < now() - %(stale_hours)s * interval '1 hour')
            returning run_id
        ),
        opened as (
            insert into ops.pipeline_runs (run_id, date, status, version)
            values (%(run_id)s, %(day)s, 'running', coalesce(%(version)s::bigint,
                    (extract(epoch from clock_timestamp()) * 1000000)::bigint))
            on conflict (run_id) do update
                set date = excluded.date, status = 'running', version = excluded.version,
                    started_at = now(), finished_at = null, error = null, steps = '[]'::jsonb
            returning version
        )
        select (select version from opened), (select array_agg(run_id) from stale)
        """,
        {
            "run_id": run_id,
            "day": day,
            "version": version,
            "stale_hours": get_settings().stale_run_hours,
        },
    )
    version, stale = rows[0]
    for other in stale or []:
        log.warning("run %s never finished: marked failed (superseded by %s)", other, run_id)
    return RunContext(run_id, day, version)


def still_open(run: RunContext) -> bool:
    """True while the run's day is being built under its version: not yet published, failed or
    replaced by a newer run of the day (a rebuild of a published version would change what is
    served)."""
    return bool(
        execute(
            "select 1 from ops.pipeline_runs where run_id = %s and date = %s and version = %s"
            " and status = 'running'",
            (run.run_id, run.day, run.version),
        )
    )


def record_step(run_id: str, step: str, seconds: float, detail: dict | None = None) -> None:
    entry = {"step": step, "seconds": round(seconds, 3), **(detail or {})}
    execute(
        "update ops.pipeline_runs set steps = steps || %s::jsonb where run_id = %s",
        (json.dumps([entry]), run_id),
    )


def finish_run(
    run_id: str, status: str, error: str | None = None, *, only_if_running: bool = False
) -> None:
    execute(
        "update ops.pipeline_runs set status = %s, finished_at = now(), error = %s"
        " where run_id = %s and (not %s or status = 'running')",
        (status, error, run_id, only_if_running),
    )
