"""`adtech backfill --start D --end D2`, as a user runs it: the loads of every day, ONE dbt build
for the range, then each day published on its own. It must serve exactly what one night per day
serves; a bad day in the range must fail alone (the others published, its served version kept);
and a malformed range is refused before anything runs.

The nights the backfill is compared with (one per day, on the same logs) are run once for the
whole test run (tests/nights.py: churning_nights); tests/pipeline/test_concurrent_days.py
compares days run at once with the same nights."""

from __future__ import annotations

import os

import psycopg2
import pytest

from tests.cli import adtech
from tests.nights import CHURNING_DAYS, churning_nights

DAYS = CHURNING_DAYS
SERVED = """
    select r.date, r.model, r.advertiser_id, r.rank, r.product_id, r.score, r.views,
           r.impressions, r.clicks
    from marts.recommendations r join ops.published_days p using (date, version)
    order by 1, 2, 3, 4
"""


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture(scope="module")
def nights(stack, s3, admin_url, tmp_path_factory, worker_id):
    return churning_nights(tmp_path_factory, worker_id, stack, s3, admin_url)


def backfill(*args: str):
    return adtech(None, "backfill", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat(),
                  *args, check=False)  # fmt: skip


def test_a_backfill_serves_what_one_night_per_day_serves(
    stack, bucket, fresh_db, s3, admin_url, nights
):
    nights.copy_objects(s3, bucket, "raw/")  # the nights' logs, nothing they exported
    result = backfill()
    assert result.returncode == 0, result.stderr[-3000:]
    for day in DAYS:
        assert f"{day}: published" in result.stderr
    runs = query(
        fresh_db,
        "select date, status, version from ops.pipeline_runs where run_id like 'backfill__%%'"
        " order by date",
    )
    assert [(d, s) for d, s, _ in runs] == [(day, "success") for day in DAYS]
    assert len({version for *_, version in runs}) == 1, "one build, one version"
    published = query(fresh_db, "select date, version from ops.published_days order by date")
    assert published == [(day, runs[0][2]) for day in DAYS]
    # Each day's stage outputs are exported under its own date, with that day's rows only.
    for day in DAYS:
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"intermediate/date={day}/")[
                "Contents"
            ]
        ]
        assert any("int_ad_event_counts" in key for key in keys), keys
    by_backfill = query(fresh_db, SERVED)
    assert {row[0] for row in by_backfill} == set(DAYS)

    # The same input, one night per day: a version per night, the same answers.
    with nights.database(admin_url) as by_night:
        assert query(by_night, "select count(distinct version) from ops.published_days") == [(3,)]
        assert query(by_night, SERVED) == by_backfill


def test_a_bad_day_fails_alone_and_keeps_its_served_answers(stack, bucket, fresh_db, s3, nights):
    # Every day served before the backfill, by its own night.
    nights.restore(fresh_db)
    nights.copy_objects(s3, bucket, "raw/")
    bad = DAYS[1]
    served_before = query(fresh_db, SERVED)
    published_before = dict(query(fresh_db, "select date, version from ops.published_days"))
    version_before = query(fresh_db, "select version from ops.published_days where date = %s",
                           (bad,))  # fmt: skip
    # The day's active list now names an advertiser without a single event: no recommendations.
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/advertiser_ids/date={bad}/")[
        "Contents"
    ]:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.put_object(
        Bucket=bucket,
        Key=f"raw/advertiser_ids/date={bad}/part-0.csv",
        Body=b"advertiser_id\nNOBODYLOGSANYTHING01\n",
    )

    result = backfill()
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"{DAYS[0]}: published" in result.stderr
    assert f"{DAYS[2]}: published" in result.stderr
    assert f"{bad}: failed" in result.stderr
    assert "assert_run_date_has_recommendations" in result.stderr
    # The bad day answers exactly as before; the others are served, at new versions.
    assert query(fresh_db, "select version from ops.published_days where date = %s",
                 (bad,)) == version_before  # fmt: skip
    now = query(fresh_db, SERVED)
    assert [row for row in now if row[0] == bad] == [row for row in served_before if row[0] == bad]
    assert {row[0] for row in now} == set(DAYS)
    published_now = dict(query(fresh_db, "select date, version from ops.published_days"))
    for day in (DAYS[0], DAYS[2]):
        assert published_now[day] > published_before[day], day
    # The range's runs are closed as failed; each day then ran alone.
    statuses = dict(
        query(
            fresh_db,
            "select run_id, status from ops.pipeline_runs where run_id like 'backfill__%%'",
        )
    )
    assert {s for r, s in statuses.items() if not r.endswith("__alone")} == {"failed"}
    alone = {r.split("__")[-2]: s for r, s in statuses.items() if r.endswith("__alone")}
    assert alone == {
        DAYS[0].isoformat(): "success",
        bad.isoformat(): "failed",
        DAYS[2].isoformat(): "success",
    }


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("2024-11-22", "2024-11-20", "before it starts"),
        ("2014-11-20", "2024-11-20", "at most 366"),
        ("2024-13-01", "2024-11-20", "Invalid value"),
        ("2024-11-20'; drop table ops.published_days; --", "2024-11-21", "Invalid value"),
    ],
    ids=["reversed", "ten-years", "no-such-month", "sql-in-date"],
)
def test_a_malformed_range_is_refused_before_anything_runs(start: str, end: str, says: str):
    # No settings at all: the range is judged before any connection is attempted.
    result = adtech({"PATH": os.environ["PATH"]}, "backfill", "--start", start,
                    "--end", end, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert says in output
