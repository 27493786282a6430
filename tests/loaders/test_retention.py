"""Retention (loaders/retention.py through pipeline.steps.cleanup.cleanup): exactly the raw days,
rejected rows and manifest rows outside the settings go; a build's CTR window, a running run and
a day being loaded stay; a dry run changes nothing; a dropped day reloads to the same rows with
the same lineage. Real PostgreSQL, real S3 over HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest

from loaders import partitions
from loaders.load import load_day
from loaders.settings import RetentionSettings
from pipeline.settings import get_settings
from pipeline.steps.cleanup import cleanup, longest_window

FIRST = date(2024, 11, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(10)]  # Nov 1 .. Nov 10
LAST = DAYS[-1]
SOURCES = ("advertiser_ids", "product_views", "ads_views")


@pytest.fixture(autouse=True)
def pipeline_settings_of_this_test():
    """The pipeline's settings are cached per process: read this test's DATABASE_URL."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def ten_days(lake, db, monkeypatch) -> None:
    """Ten loaded days; ads_views of every day has one rejected line."""
    monkeypatch.setenv("ADTECH_MAX_REJECT_FRACTION", "0.2")
    for day in DAYS:
        lake.put("advertiser_ids", day, ["ADV1", "ADV2"])
        lake.put("product_views", day, lake.view_lines(20, day))
        lake.put("ads_views", day, [*lake.ad_lines(20, day), f"ADV1,p1,hover,{day}"])
        load_day(day)


def settings(raw_days: int = 3, rejects_days: int = 5) -> RetentionSettings:
    return RetentionSettings(raw_days=raw_days, rejects_days=rejects_days)


def project(tmp_path: Path, window: int) -> Path:
    (tmp_path / "dbt_project.yml").write_text(f"vars:\n  top_n: 20\n  ctr_window_days: {window}\n")
    return tmp_path


def state(db) -> dict:
    """Everything retention may touch: raw days per source, reject days, manifest days."""
    conn = psycopg2.connect(db.url)
    try:
        with conn.cursor() as cur:
            raw = {s: sorted(partitions.day_partitions(cur, s)) for s in SOURCES}
    finally:
        conn.close()
    return {
        "raw": raw,
        "rejects": db.query(
            "select source, date, line_number, line from ops.rejected_rows order by 1, 2, 3"
        ),
        "manifest": db.query(
            "select source, date, object_id, s3_key from ops.load_manifest order by 1, 2"
        ),
    }


def test_cleanup_drops_exactly_what_falls_outside_retention(ten_days, db, tmp_path):
    report = cleanup(LAST, settings=settings(), project_dir=project(tmp_path, 1))

    after = state(db)
    assert after["raw"] == {s: DAYS[-3:] for s in SOURCES}  # Nov 8, 9, 10
    assert sorted({d for _, d, _, _ in after["rejects"]}) == DAYS[-5:]  # Nov 6 .. 10
    # Manifest rows stay while raw rows or rejects point at them: Nov 6 and 7 keep only the
    # ads_views object (their rejects), Nov 8-10 all three.
    assert sorted((s, d) for s, d, _, _ in after["manifest"]) == sorted(
        [("ads_views", DAYS[5]), ("ads_views", DAYS[6])]
        + [(s, d) for s in SOURCES for d in DAYS[-3:]]
    )
    dropped_raw = sorted(
        (d.source, d.day) for d in report.retention.drops if d.table.startswith("raw.")
    )
    assert dropped_raw == sorted((s, d) for s in SOURCES for d in DAYS[:7])
    assert all(d.bytes > 0 for d in report.retention.drops)
    assert report.retention.skips == []
    # Nothing left to do: a second cleanup drops nothing.
    assert (
        cleanup(LAST, settings=settings(), project_dir=project(tmp_path, 1)).retention.drops == []
    )


def test_a_ctr_window_and_a_running_rerun_keep_their_days(ten_days, db, tmp_path):
    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cur:  # the pipeline's run table, as far as cleanup reads it
        cur.execute(
            "create table if not exists ops.pipeline_runs (run_id text primary key, "
            "date date not null, status text not null)"
        )
        cur.execute(
            "insert into ops.pipeline_runs values ('rerun', %s, 'running'), ('old', %s, 'success')",
            (DAYS[2], DAYS[0]),
        )
    conn.close()

    report = cleanup(LAST, settings=settings(raw_days=2), project_dir=project(tmp_path, 4))

    # Window 4 keeps Nov 7-10 (raw_days 2 alone would keep 9-10); the rerun of Nov 3 keeps
    # its own window, Nov 1-3 (Nov 1's finished run does not count).
    kept = [*DAYS[:3], *DAYS[6:]]
    assert state(db)["raw"] == {s: kept for s in SOURCES}
    reasons = {(s.source, s.day): s.reason for s in report.retention.skips}
    assert reasons[("ads_views", DAYS[2])] == f"run rerun for {DAYS[2]} is running"
    assert reasons[("ads_views", DAYS[6])] == f"CTR window of {LAST}"


def test_a_day_being_loaded_is_skipped_then_dropped_by_the_next_cleanup(ten_days, db, tmp_path):
    loader = psycopg2.connect(db.url)  # holds Nov 1's ads_views lock, as a running load does
    with loader.cursor() as cur:
        partitions.day_lock(cur, "ads_views", DAYS[0])
        report = cleanup(LAST, settings=settings(), project_dir=project(tmp_path, 1))
        assert ("ads_views", DAYS[0], "being loaded") in [
            (s.source, s.day, s.reason) for s in report.retention.skips
        ]
        assert state(db)["raw"]["ads_views"] == [DAYS[0], *DAYS[-3:]]
        assert state(db)["raw"]["product_views"] == DAYS[-3:]
    loader.rollback()
    loader.close()

    cleanup(LAST, settings=settings(), project_dir=project(tmp_path, 1))
    assert state(db)["raw"]["ads_views"] == DAYS[-3:]


def test_a_dry_run_changes_nothing_and_reports_what_a_cleanup_drops(ten_days, db, tmp_path):
    before = state(db)
    dry = cleanup(LAST, dry_run=True, settings=settings(), project_dir=project(tmp_path, 1))
    assert state(db) == before

    real = cleanup(LAST, settings=settings(), project_dir=project(tmp_path, 1))
    assert dry.retention.drops == real.retention.drops
    assert len(real.retention.drops) > 0
    assert state(db) != before


def test_a_dropped_day_reloads_to_the_same_rows_and_lineage(ten_days, db, tmp_path):
    day = DAYS[0]
    before = {s: db.lineage(s, day) for s in SOURCES}
    rejects = db.rejects("ads_views", day)
    assert len(before["ads_views"]) == 20 and len(rejects) == 1

    cleanup(LAST, settings=settings(rejects_days=1), project_dir=project(tmp_path, 1))
    assert all(db.count(s, day) == 0 for s in SOURCES)
    assert db.rejects("ads_views", day) == []

    load_day(day)  # `adtech load --date D`, as the first time
    assert {s: db.lineage(s, day) for s in SOURCES} == before
    assert db.rejects("ads_views", day) == rejects


def test_the_longest_window_of_dbt_project_yml_counts(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "vars:\n  ctr_window_days: 2\n  adtech_recs:\n    ctr_window_days: 5\n"
    )
    assert longest_window(tmp_path / "dbt_project.yml") == 5
    (tmp_path / "dbt_project.yml").write_text("vars:\n  top_n: 20\n")
    assert longest_window(tmp_path / "dbt_project.yml") == 1
    assert longest_window(Path(__file__).parents[2] / "dbt_project.yml") >= 1


def test_raw_days_held_elsewhere_keep_their_manifest_rows(ten_days, db, tmp_path):
    """The spark target: PostgreSQL holds the manifest rows (mirrored by Spark's loads) but no
    raw partition; Spark's raw days keep those rows exactly as PostgreSQL's partitions do."""
    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cur:
        for source in SOURCES:
            for day in DAYS:
                partitions.drop_partition(cur, source, day)
    conn.close()
    spark_raw = {s: set(DAYS) for s in SOURCES}

    report = cleanup(
        LAST, settings=settings(), project_dir=project(tmp_path, 1), raw_elsewhere=spark_raw
    )

    after = state(db)
    assert after["raw"] == {s: [] for s in SOURCES}
    # As on the default target: Nov 6 and 7 keep the ads_views object (their rejects), Nov 8-10
    # (the raw retention) all three, though no rejects point at advertiser_ids and product_views.
    assert sorted((s, d) for s, d, _, _ in after["manifest"]) == sorted(
        [("ads_views", DAYS[5]), ("ads_views", DAYS[6])]
        + [(s, d) for s in SOURCES for d in DAYS[-3:]]
    )
    # The raw days held elsewhere are that engine's to drop, never PostgreSQL's.
    assert not [d for d in report.retention.drops if d.table.startswith("raw.")]
