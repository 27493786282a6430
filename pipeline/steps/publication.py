"""Publication (write-audit-publish): switch the API to a tested version of a day, atomically.
The versions it superseded are dropped by the cleanup step that follows (pipeline/steps/cleanup.py
calls drop_superseded_versions).

A day's versions live side by side in the versioned marts (every table of schema `marts` with a
`version` column). `ops.published_days` points each published day at one of them; the API reads
only that one. So a build, its tests and a failure of either leave every answer as it was, and
publishing is one row's upsert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql

from pipeline.settings import get_settings
from pipeline.steps.runs import RunContext


class NothingToPublishError(RuntimeError):
    """The build produced no recommendations: publishing it would blank the API for the day."""


class StalePublicationError(RuntimeError):
    """The run may not publish: it was closed as failed, or a later version is already served."""


@dataclass(frozen=True)
class DroppedVersion:
    table: str
    day: dt.date
    version: int
    rows: int


def publish(run: RunContext) -> int:
    """Point `run.day` at `run.version` and return its number of recommendations. Called only
    after every dbt test of the build passed. Superseded versions are dropped by the cleanup step
    (each API query joins ops.published_days, so no answer ever mixes two versions)."""
    conn = psycopg2.connect(get_settings().database_url)
    try:
        with conn, conn.cursor() as cur:
            # One publisher per day at a time; the upsert below is the atomic switch.
            cur.execute("select pg_advisory_xact_lock(hashtext('adtech.publish'), %s)", (0,))
            cur.execute(
                "select count(*) from marts.recommendations where date = %s and version = %s",
                (run.day, run.version),
            )
            recommendations = cur.fetchone()[0]
            if not recommendations:
                raise NothingToPublishError(
                    f"{run.day}: version {run.version} has no recommendations; not published"
                )
            cur.execute(
                """
                insert into ops.published_days (date, run_id, version, published_at)
                select %(day)s, run_id, version, now() from ops.pipeline_runs
                where run_id = %(run_id)s and version = %(version)s and status = 'running'
                on conflict (date) do update
                    set run_id = excluded.run_id, version = excluded.version,
                        published_at = excluded.published_at
                    where ops.published_days.version is null
                       or ops.published_days.version < excluded.version
                returning 1
                """,
                {"day": run.day, "run_id": run.run_id, "version": run.version},
            )
            if cur.fetchone() is None:
                raise StalePublicationError(
                    f"{run.day}: run {run.run_id} (version {run.version}) is no longer running,"
                    " or a later version is already published; not published"
                )
    finally:
        conn.close()
    return recommendations


def versioned_marts(cur) -> list[str]:
    """The marts that hold versions, read from the catalog (new models need no code change)."""
    cur.execute(
        """
        select c.table_name from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where c.table_schema = 'marts' and c.column_name = 'version'
          and t.table_type = 'BASE TABLE'
        order by c.table_name
        """
    )
    return [name for (name,) in cur.fetchall()]


def drop_superseded_versions(
    day: dt.date | None = None, *, keep: int, dry_run: bool = False
) -> list[DroppedVersion]:
    """Delete the versions of `day` (every published day when None) older than the served one,
    except the `keep` most recent of them that a successful run published before. Never the
    served version, never one newer than it (a build in progress or a failed one, dropped once a
    later version is published)."""
    conn = psycopg2.connect(get_settings().database_url)
    dropped: list[DroppedVersion] = []
    try:
        with conn, conn.cursor() as cur:
            for table in versioned_marts(cur):
                relation = sql.Identifier("marts", table)
                select = sql.SQL(
                    """
                    with doomed as (
                        select m.date, m.version, count(*) as n
                        from {relation} m
                        join ops.published_days p on p.date = m.date and m.version < p.version
                        where (%(day)s::date is null or m.date = %(day)s)
                          and m.version not in (
                              select r.version from ops.pipeline_runs r
                              where r.date = m.date and r.status = 'success'
                                and r.version < p.version
                              order by r.version desc limit %(keep)s
                          )
                        group by m.date, m.version
                    )
                    select date, version, n from doomed order by date, version
                    """
                ).format(relation=relation)
                cur.execute(select, {"day": day, "keep": keep})
                found = [DroppedVersion(f"marts.{table}", d, v, n) for d, v, n in cur.fetchall()]
                if found and not dry_run:
                    cur.execute(
                        sql.SQL(
                            "delete from {relation} m using unnest(%s::date[], %s::bigint[])"
                            " as doomed(date, version)"
                            " where m.date = doomed.date and m.version = doomed.version"
                        ).format(relation=relation),
                        ([d.day for d in found], [d.version for d in found]),
                    )
                dropped.extend(found)
    finally:
        conn.close()
    return dropped
