"""Retention of the loaders' tables: old raw day partitions, old rejected rows, and the manifest
rows nothing points at any more.

S3 holds the source of truth, so raw only needs the days a build can still read; a dropped day
reloads from S3 exactly as the first time (`adtech load --date D`). The caller (the pipeline's
cleanup step, pipeline/steps/cleanup.py) says which days must stay whatever their age (a build's CTR
window, a running run); a day whose load holds its lock (loaders/partitions.py: day_lock) is
skipped, and that lock then keeps a load of the day waiting until the cleanup commits.

One transaction per source: the day locks first (try, never wait), then the drops, so a load that
starts meanwhile waits and reloads the day afterwards.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from psycopg2 import sql

from loaders import partitions
from loaders.schema import ensure_schema
from loaders.sources import SOURCES


@dataclass(frozen=True)
class RetentionPolicy:
    raw_days: int  # raw partitions of the last `raw_days` days (today included) stay
    rejects_days: int  # rejected rows of the last `rejects_days` days stay

    def raw_from(self, today: date) -> date:
        """The oldest raw day kept by age alone."""
        return today - timedelta(days=self.raw_days - 1)

    def rejects_from(self, today: date) -> date:
        return today - timedelta(days=self.rejects_days - 1)


@dataclass(frozen=True)
class Drop:
    """One thing the cleanup removes (or, in a dry run, would remove)."""

    table: str  # raw.<source> (a day partition), ops.rejected_rows, ops.load_manifest
    source: str
    day: date
    rows: int
    bytes: int  # the partition's size on disk; for ops rows, their stored size


@dataclass(frozen=True)
class Skip:
    """A day old enough to go that stays, and why."""

    source: str
    day: date
    reason: str


@dataclass
class RetentionReport:
    today: date
    policy: RetentionPolicy
    dry_run: bool
    drops: list[Drop] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.drops)


def apply_retention(
    conn,
    today: date,
    policy: RetentionPolicy,
    *,
    protected: Mapping[date, str] | None = None,
    dry_run: bool = False,
    lock_timeout_s: float = 30.0,
    raw_elsewhere: Mapping[str, Collection[date]] | None = None,
) -> RetentionReport:
    """Drop the raw partitions older than policy.raw_from(today), the rejected rows older than
    policy.rejects_from(today), then the manifest rows of days left with neither. Never touches
    a day in `protected` (day -> why) or a day whose load is running. A dry run takes the same
    locks, reports the same drops and changes nothing. `conn` must not be in a transaction.

    `raw_elsewhere` (source -> days) names the raw days another engine holds for these manifest
    rows (Spark's warehouse on the spark target, where PostgreSQL's raw tables stay empty): they
    point at their manifest rows as PostgreSQL's raw partitions do, by the same age rule (their
    own drop is that engine's cleanup)."""
    report = RetentionReport(today, policy, dry_run)
    protected = protected or {}
    ensure_schema(conn)  # a cleanup before any load finds the tables it reads
    for source in SOURCES:
        with conn, conn.cursor() as cur:
            # Dropping a partition waits for the readers of raw.<source>: bounded, never stuck
            # behind a long query (the task fails and is retried).
            cur.execute("select set_config('lock_timeout', %s, true)", (f"{lock_timeout_s}s",))
            held = (raw_elsewhere or {}).get(source, ())
            _source(cur, source, today, policy, protected, report, held)
            if dry_run:
                conn.rollback()
    return report


def _source(
    cur,
    source: str,
    today: date,
    policy: RetentionPolicy,
    protected: Mapping[date, str],
    report: RetentionReport,
    held_elsewhere: Collection[date] = (),
) -> None:
    days = partitions.day_partitions(cur, source)
    raw_old = {d for d in days if d < policy.raw_from(today)}
    # The raw days pointing at manifest rows: PostgreSQL's partitions and another engine's.
    raw_days = set(days) | set(held_elsewhere)
    raw_days_old = {d for d in raw_days if d < policy.raw_from(today)}
    cur.execute(
        "select date, count(*), sum(pg_column_size(r.*)) from ops.rejected_rows r "
        "where source = %s and date < %s group by date",
        (source, policy.rejects_from(today)),
    )
    rejects_old = {d: (int(n), int(b)) for d, n, b in cur.fetchall()}
    cur.execute(
        "select date, count(*), sum(pg_column_size(m.*)) from ops.load_manifest m "
        "where source = %s group by date",
        (source,),
    )
    manifest = {d: (int(n), int(b)) for d, n, b in cur.fetchall()}
    cur.execute("select distinct date from ops.rejected_rows where source = %s", (source,))
    reject_days = {d for (d,) in cur.fetchall()}
    # Manifest rows stay while raw rows or rejects of their day point at them.
    manifest_old = {
        d
        for d in manifest
        if (d not in raw_days or d in raw_days_old) and (d not in reject_days or d in rejects_old)
    }

    for day in sorted(raw_old | set(rejects_old) | manifest_old):
        if day in protected:
            report.skips.append(Skip(source, day, protected[day]))
            continue
        if not partitions.day_lock(cur, source, day, wait=False):
            report.skips.append(Skip(source, day, "being loaded"))
            continue
        if day in raw_old:
            partition = partitions.partition_name(source, day)
            cur.execute(
                "select pg_total_relation_size(c.oid), greatest(c.reltuples, 0)::bigint "
                "from pg_class c where c.oid = to_regclass(%s)",
                (f"{partitions.RAW}.{partition}",),
            )
            size, rows = cur.fetchone()
            report.drops.append(Drop(f"raw.{source}", source, day, rows, size))
            if not report.dry_run:
                partitions.drop_partition(cur, source, day)
        for table, old in (("ops.rejected_rows", rejects_old), ("ops.load_manifest", manifest)):
            if day not in old or (table == "ops.load_manifest" and day not in manifest_old):
                continue
            rows, size = old[day]
            report.drops.append(Drop(table, source, day, rows, size))
            if not report.dry_run:
                cur.execute(
                    sql.SQL("delete from {} where source = %s and date = %s").format(
                        sql.SQL(table)
                    ),
                    (source, day),
                )
