"""The cleanup step: what the database keeps, so that it stops growing with every night.

    cleanup(today, dry_run=False) -> CleanupReport

Runs after publish (DAG and `adtech run`); `adtech cleanup [--dry-run]` runs it by hand. It
drops, per loaders/retention.py, raw day partitions older than ADTECH_RETAIN_RAW_DAYS and rejected
rows older than ADTECH_RETAIN_REJECTS_DAYS, then the superseded versions of published days. It
never drops:

- a raw day a build can still read: the CTR window of `today` and of the next day (the longest
  `ctr_window_days` in dbt_project.yml counts);
- the window of a day whose run is `running` in ops.pipeline_runs (a rerun of an old day too);
- a day whose load holds its lock (skipped, dropped by a later cleanup).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import yaml

from loaders.retention import RetentionPolicy, RetentionReport, apply_retention
from loaders.settings import RetentionSettings, get_retention_settings
from pipeline.settings import REPO_ROOT

WINDOW_VAR = "ctr_window_days"


@dataclass
class CleanupReport:
    today: dt.date
    dry_run: bool
    window_days: int
    protected: dict[dt.date, str]
    retention: RetentionReport
    versions: list[Any] = field(default_factory=list)  # superseded mart versions dropped

    @property
    def bytes(self) -> int:
        return self.retention.bytes


def cleanup(
    today: dt.date,
    *,
    dry_run: bool = False,
    settings: RetentionSettings | None = None,
    project_dir: Path = REPO_ROOT,
    raw_elsewhere: Mapping[str, Collection[dt.date]] | None = None,
) -> CleanupReport:
    """Apply the retention settings for the night of `today` (the run date D, or the latest day
    for a manual cleanup). A dry run reports the same drops and changes nothing.
    `raw_elsewhere`: the raw days per source held outside PostgreSQL (Spark's warehouse), which
    keep their manifest rows as PostgreSQL's raw partitions do."""
    settings = settings or get_retention_settings()
    window = longest_window(project_dir / "dbt_project.yml")
    policy = RetentionPolicy(settings.raw_days, settings.rejects_days)
    conn = psycopg2.connect(settings.database_url, application_name=f"adtech-cleanup {today}")
    try:
        protected = protected_days(conn, today, window)
        retention = apply_retention(
            conn,
            today,
            policy,
            protected=protected,
            dry_run=dry_run,
            lock_timeout_s=settings.lock_timeout_s,
            raw_elsewhere=raw_elsewhere,
        )
    finally:
        conn.close()
    # Superseded versions of published days (write-audit-publish) are the publication's own
    # retention: its drop_superseded_versions(keep, dry_run) is called here.
    versions = _drop_superseded_versions(dry_run=dry_run)
    return CleanupReport(today, dry_run, window, protected, retention, versions)


def _drop_superseded_versions(*, dry_run: bool) -> list[Any]:
    """The publication's own retention of superseded mart versions (every published day), with
    ADTECH_KEEP_SUPERSEDED_VERSIONS; never the served version or one newer than it."""
    from pipeline.settings import get_settings
    from pipeline.steps.publication import drop_superseded_versions

    return drop_superseded_versions(keep=get_settings().keep_superseded_versions, dry_run=dry_run)


def longest_window(project_file: Path) -> int:
    """The longest `ctr_window_days` among dbt_project.yml's vars (global or per package), at
    least 1: the raw days a build reads are [D - window + 1, D]."""
    found = list(_values(yaml.safe_load(project_file.read_text()).get("vars") or {}, WINDOW_VAR))
    return max([1, *(int(v) for v in found)])


def _values(node: Any, key: str) -> Iterable[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _values(v, key)


def window(day: dt.date, days: int) -> list[dt.date]:
    return [day - dt.timedelta(days=i) for i in range(days)]


def protected_days(conn, today: dt.date, window_days: int) -> dict[dt.date, str]:
    """Day -> why it must stay: the builds of `today` and the next day, and every run still
    running (its own window)."""
    protected: dict[dt.date, str] = {}
    for day in (today + dt.timedelta(days=1), today):
        for d in window(day, window_days):
            protected[d] = f"CTR window of {day}"
    with conn, conn.cursor() as cur:
        cur.execute("select to_regclass('ops.pipeline_runs') is not null")
        if not cur.fetchone()[0]:  # no run yet (raw loaded by `adtech load` alone)
            return protected
        cur.execute(
            "select date, run_id from ops.pipeline_runs where status = 'running' order by date"
        )
        for run_date, run_id in cur.fetchall():
            for d in window(run_date, window_days):
                protected.setdefault(d, f"run {run_id} for {run_date} is running")
    return protected
