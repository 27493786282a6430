"""`adtech cleanup [--dry-run] [--date D]` and `adtech stack status`: the retention cleanup by
hand, and where the database's bytes are with what the next cleanup will drop.

Heavy imports stay inside the commands so that `adtech --help` is instant.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be dropped; change nothing.")
    ] = False,
    day: Annotated[
        dt.datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="The night's day D (default: the latest day published or loaded).",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="default (PostgreSQL) or spark (Spark's warehouse and export root too)."
            " Default: $ADTECH_DBT_TARGET, $DBT_TARGET, else default.",
        ),
    ] = None,
) -> None:
    """Drop what the retention settings no longer keep (raw days, old rejected rows, superseded
    versions); never a day a build can still read or a running run needs."""
    from pipeline.cli.main import _use_target
    from pipeline.spark.cleanup import cleanup_on_target

    _use_target(target)
    settings = _settings()
    if day is None:
        conn = _connect(settings.database_url)
        try:
            today = _latest_day(conn)
        finally:
            conn.close()
    else:
        today = day.date()
    if today is None:
        console.print("nothing loaded yet: nothing to clean up")
        return
    report, spark_drops = cleanup_on_target(today, dry_run=dry_run, settings=settings)
    if report.retention.drops or report.versions or spark_drops:
        console.print(_drops_table(report, "would drop" if dry_run else "dropped", spark_drops))
    else:
        console.print(f"{today}: nothing to drop")
    for skip in report.retention.skips:
        console.print(f"kept {skip.source} {skip.day}: {skip.reason}")
    verb = "would free" if dry_run else "freed"
    console.print(
        f"{today}: {verb} {_mb(report.bytes)} (raw kept from "
        f"{min(report.retention.policy.raw_from(today), *report.protected)}, rejects from "
        f"{report.retention.policy.rejects_from(today)}, CTR window {report.window_days} day(s))"
    )


def status() -> None:
    """Bytes per day and per table (raw partitions, ops tables, marts), and what the next
    night's cleanup will drop."""
    from pipeline.steps.cleanup import cleanup as run_cleanup
    from pipeline.steps.sizes import size_report

    settings = _settings()
    conn = _connect(settings.database_url)
    try:
        sizes = size_report(conn)
        latest = _latest_day(conn)
    finally:
        conn.close()
    console.print(_sizes_table(sizes))
    console.print(f"database: {_mb(sizes.database_bytes)}")
    if latest is None:
        return
    night = latest + dt.timedelta(days=1)
    report = run_cleanup(night, dry_run=True, settings=settings)
    table = _drops_table(report, f"next cleanup (night of {night}) will drop")
    dropping = report.retention.drops or report.versions
    console.print(table if dropping else f"next cleanup ({night}): nothing to drop")


def _settings():
    """The retention settings, or one line naming what is missing (never a traceback)."""
    from loaders.errors import ConfigError
    from loaders.settings import get_retention_settings

    try:
        return get_retention_settings()
    except ConfigError as exc:
        console.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None


def _connect(database_url: str):
    import psycopg2

    try:
        return psycopg2.connect(database_url)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        console.print(f"[red]error[/]: cannot connect to PostgreSQL ({reason})")
        raise typer.Exit(1) from None


def _latest_day(conn) -> dt.date | None:
    """The newest day published or held in raw: a manual cleanup's `today`."""
    from loaders.partitions import day_partitions
    from loaders.sources import SOURCES

    with conn, conn.cursor() as cur:
        days = [d for source in SOURCES for d in day_partitions(cur, source)]
        cur.execute("select to_regclass('ops.published_days') is not null")
        if cur.fetchone()[0]:
            cur.execute("select max(date) from ops.published_days")
            days += [d for (d,) in cur.fetchall() if d]
    return max(days, default=None)


def _drops_table(report, title: str, spark_drops: list | None = None) -> Table:
    """One line per day and table (the three sources summed)."""
    table = Table(title=f"adtech cleanup {report.today}: {title}")
    for column in ("day", "table", "rows", "MB"):
        table.add_column(column, justify="right" if column in ("rows", "MB") else "left")
    summed: dict[tuple, list[int]] = {}
    for d in report.retention.drops:
        name = "raw" if d.table.startswith("raw.") else d.table
        totals = summed.setdefault((d.day, name), [0, 0])
        totals[0] += d.rows
        totals[1] += d.bytes
    for (day, name), (rows, size) in sorted(summed.items()):
        table.add_row(str(day), name, f"{rows:,}", f"{size / 1e6:.1f}")
    for v in report.versions:  # superseded mart versions (pipeline/steps/publication.py)
        table.add_row(str(v.day), f"{v.table} version {v.version}", f"{v.rows:,}", "")
    for d in spark_drops or []:  # Spark's partitions and export folders (spark target)
        table.add_row(str(d.day), f"{d.what} {d.detail}", "", "")
    return table


def _group(table: str) -> str:
    """raw.<source> stays itself; ops and marts tables are summed per schema."""
    return table if table.startswith("raw.") else table.split(".")[0]


def _sizes_table(sizes) -> Table:
    groups = sorted({_group(t) for day in sizes.by_day.values() for t in day} | {"ops", "marts"})
    table = Table(title="MB per day (ops, marts: the day's rows) and on disk")
    table.add_column("day")
    for column in [*groups, "total"]:
        table.add_column(column.removeprefix("raw."), justify="right")
    for day, per_table in sizes.by_day.items():
        cells = {g: 0 for g in groups}
        for name, size in per_table.items():
            cells[_group(name)] += size
        table.add_row(
            str(day), *(f"{cells[g] / 1e6:.1f}" for g in groups), f"{sum(cells.values()) / 1e6:.1f}"
        )
    disk = {g: 0 for g in groups}
    for name, size in sizes.tables.items():
        disk[_group(name)] = disk.get(_group(name), 0) + size
    table.add_row(
        "on disk", *(f"{disk[g] / 1e6:.1f}" for g in groups), f"{sum(disk.values()) / 1e6:.1f}"
    )
    return table


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"
