"""Retention on the spark target: what Spark's warehouse and export root keep, by the same rules
as PostgreSQL's (pipeline/steps/cleanup.py, loaders/retention.py).

    cleanup_on_target(today, dry_run=False) -> (CleanupReport, list[SparkDrop])

PostgreSQL's cleanup runs first (its ops tables, the marts' superseded versions it serves); on
the spark target, the same rules are then applied in Spark (`spark_cleanup`). There PostgreSQL's
raw tables stay empty: Spark's raw days (and the days its loads recorded) are the ones that keep
PostgreSQL's manifest rows.

Dropped, each as a whole partition (or folder):
- raw.<source> day partitions older than the raw retention, except the protected days (the CTR
  windows of today and the next day, running runs);
- ops.rejected_rows partitions older than the rejects retention;
- ops.load_manifest partitions that neither a raw day nor kept rejects point at any more;
- marts versions superseded on a published day (PostgreSQL's ops.published_days is the switch,
  as on the default target): older than the served version, except the `keep` most recent a
  successful run published before it; never the served version or a newer one (a build in
  progress);
- the export root's `date=D/version=V/` folder of each superseded version dropped;
- the scratch tables of loads that died (adtech_scratch.*: a load drops its own when it ends,
  fails or not; a killed one cannot). While the cleanup holds the loads' lock no pipeline load
  runs, so every one left is a dead load's. (A load run by hand with `dbt run-operation
  load_raw_day` takes no lock: beside a cleanup it loses its scratch tables and fails; rerun it.)

Spark has no row-level locks: a load of an old day running at the same time as the cleanup
would be the load lock's turn (pipeline/spark/load.py), so the cleanup takes that lock too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

import psycopg2

from loaders.retention import RetentionPolicy
from loaders.settings import RetentionSettings
from pipeline.settings import get_settings
from pipeline.spark.load import one_load_at_a_time
from pipeline.spark.objects import store_for
from pipeline.spark.serving import (
    SparkQueryError,
    _spark_tables,
    export_root,
    spark_cursor,
    spark_sql,
)
from pipeline.steps.cleanup import CleanupReport, cleanup

SOURCES = ("advertiser_ids", "product_views", "ads_views")
_PART = re.compile(r"([a-z_]+)=([^/]*)")


@dataclass(frozen=True)
class SparkDrop:
    what: str  # spark:raw.<source>, spark:ops.rejected_rows, spark:marts.<t>, spark:export
    day: dt.date
    detail: str  # the source, or the version


def _partitions(cur, relation: str) -> list[dict[str, str]]:
    spark_sql(cur, f"show partitions {relation}")
    return [dict(_PART.findall(row[0])) for row in cur.fetchall()]


def _exists(cur, schema: str, table: str) -> bool:
    return table in _spark_tables(cur, schema)


def _superseded(keep: int) -> tuple[dict[dt.date, int], dict[dt.date, list[int]]]:
    """PostgreSQL's served version of each published day, and the versions successful runs
    published before it (newest first)."""
    url = get_settings().database_url
    with contextlib.closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute("select to_regclass('ops.published_days') is not null")
        if not cur.fetchone()[0]:
            return {}, {}
        cur.execute("select date, version from ops.published_days")
        served = dict(cur.fetchall())
        cur.execute("select to_regclass('ops.pipeline_runs') is not null")
        kept: dict[dt.date, list[int]] = {}
        if cur.fetchone()[0]:
            cur.execute(
                "select date, version from ops.pipeline_runs where status = 'success'"
                " order by date, version desc"
            )
            for day, version in cur.fetchall():
                if day in served and version < served[day]:
                    kept.setdefault(day, []).append(version)
    return served, {d: v[:keep] for d, v in kept.items()}


def cleanup_on_target(
    today: dt.date, *, dry_run: bool = False, settings: RetentionSettings | None = None
) -> tuple[CleanupReport, list[SparkDrop]]:
    """The cleanup of the configured target: PostgreSQL's always, Spark's on the spark target
    (the same policy, the same protected days).

    On the spark target PostgreSQL's raw tables stay empty: the raw days are Spark's, and they
    are what keeps PostgreSQL's ops.load_manifest rows (mirrored by the loads) of the days
    without rejects. Both cleanups run under the loads' lock, so a load cannot land a raw day
    in Spark between the listing of Spark's raw days and PostgreSQL's retention."""
    pipeline = get_settings()
    if pipeline.dbt_target != "spark":
        return cleanup(today, dry_run=dry_run, settings=settings), []
    with one_load_at_a_time():
        with spark_cursor() as cur:
            raw_days = spark_raw_days(cur)
        report = cleanup(today, dry_run=dry_run, settings=settings, raw_elsewhere=raw_days)
        drops = spark_cleanup(
            today,
            report.retention.policy,
            report.protected,
            keep=pipeline.keep_superseded_versions,
            dry_run=dry_run,
        )
    return report, drops


def spark_raw_days(cur) -> dict[str, set[dt.date]]:
    """The raw days Spark holds, per source: its raw.<source> day partitions, and the days its
    loads recorded (ops.load_manifest partitions). A day loaded with no row (empty event files)
    leaves no partition in Spark, where PostgreSQL's load keeps an empty one; either way the
    day's manifest rows stay until the raw retention passes."""
    days: dict[str, set[dt.date]] = {source: set() for source in SOURCES}
    for source in SOURCES:
        if _exists(cur, "raw", source):
            days[source] |= {
                dt.date.fromisoformat(p["date"]) for p in _partitions(cur, f"raw.{source}")
            }
    if _exists(cur, "ops", "load_manifest"):
        for part in _partitions(cur, "ops.load_manifest"):
            if part["source"] in days:
                days[part["source"]].add(dt.date.fromisoformat(part["date"]))
    return days


def spark_cleanup(
    today: dt.date,
    policy: RetentionPolicy,
    protected: dict[dt.date, str],
    *,
    keep: int,
    dry_run: bool = False,
) -> list[SparkDrop]:
    """Spark's drops by the policy; the caller holds the loads' lock (one_load_at_a_time)."""
    drops: list[SparkDrop] = []
    raw_from, rejects_from = policy.raw_from(today), policy.rejects_from(today)
    served, kept = _superseded(keep)
    with spark_cursor() as cur:
        raw_kept: dict[str, set[dt.date]] = {}
        for source in SOURCES:
            raw_kept[source] = set()
            if not _exists(cur, "raw", source):
                continue
            for part in _partitions(cur, f"raw.{source}"):
                day = dt.date.fromisoformat(part["date"])
                if day >= raw_from or day in protected:
                    raw_kept[source].add(day)
                    continue
                drops.append(SparkDrop(f"spark:raw.{source}", day, source))
                if not dry_run:
                    spark_sql(
                        cur, f"alter table raw.{source} drop if exists partition (date = '{day}')"
                    )
        for table in ("rejected_rows", "load_manifest"):
            if not _exists(cur, "ops", table):
                continue
            for part in _partitions(cur, f"ops.{table}"):
                day, source = dt.date.fromisoformat(part["date"]), part["source"]
                if day >= rejects_from:
                    continue
                if table == "load_manifest" and day in raw_kept.get(source, ()):
                    continue  # its raw day stays, and points at it
                drops.append(SparkDrop(f"spark:ops.{table}", day, source))
                if not dry_run:
                    spark_sql(
                        cur,
                        f"alter table ops.{table} drop if exists partition"
                        f" (date = '{day}', source = '{source}')",
                    )
        doomed: set[tuple[dt.date, int]] = set()
        for table in _spark_tables(cur, "marts"):
            try:
                parts = _partitions(cur, f"marts.{table}")
            except SparkQueryError:  # a view, or a table without partitions
                continue
            if not parts or "version" not in parts[0]:
                continue
            for part in parts:
                day, version = dt.date.fromisoformat(part["date"]), int(part["version"])
                if day not in served or version >= served[day] or version in kept.get(day, ()):
                    continue
                doomed.add((day, version))
                drops.append(SparkDrop(f"spark:marts.{table}", day, str(version)))
                if not dry_run:
                    spark_sql(
                        cur,
                        f"alter table marts.{table} drop if exists partition"
                        f" (date = '{day}', version = {version})",
                    )
        drops += _dead_loads_scratch(cur, today, dry_run)
    store = store_for(export_root().rstrip("/"))
    for day, version in sorted(doomed):
        drops.append(SparkDrop("spark:export", day, str(version)))
        if not dry_run:
            store.remove(f"date={day}/version={version}/")
    return drops


def _dead_loads_scratch(cur, today: dt.date, dry_run: bool) -> list[SparkDrop]:
    """The scratch tables dead loads left (the caller holds the loads' lock)."""
    spark_sql(cur, "show databases like 'adtech_scratch'")
    if not cur.fetchall():
        return []
    drops = [SparkDrop("spark:scratch", today, t) for t in _spark_tables(cur, "adtech_scratch")]
    if not dry_run:
        for drop in drops:
            spark_sql(cur, f"drop table if exists adtech_scratch.{drop.detail}")
    return drops
