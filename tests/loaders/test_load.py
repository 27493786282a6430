"""Loading days: clean data, idempotence, several objects, gzip, CRLF, other days untouched,
concurrent days, and the manifest. Real PostgreSQL, real S3 over HTTP."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import psycopg2
import pytest

from loaders import partitions
from loaders.load import load_day, load_source

DAY = date(2024, 11, 20)


def expected_ads(lines: list[str], key: str) -> list[tuple]:
    return sorted(
        (*line.split(",")[:3], date.fromisoformat(line.split(",")[3]), key) for line in lines
    )


def test_clean_day_loads_every_source_with_its_manifest(lake, db, s3):
    ads, views = lake.ad_lines(300, DAY), lake.view_lines(200, DAY)
    keys = {
        "advertiser_ids": lake.put("advertiser_ids", DAY, ["ADV1", "ADV2"]),
        "product_views": lake.put("product_views", DAY, views),
        "ads_views": lake.put("ads_views", DAY, ads),
    }
    results = load_day(DAY)

    assert [(r.source, r.rows_loaded, r.rows_rejected) for r in results] == [
        ("advertiser_ids", 2, 0),
        ("product_views", 200, 0),
        ("ads_views", 300, 0),
    ]
    assert db.rows("ads_views", DAY) == expected_ads(ads, keys["ads_views"])
    assert db.rows("advertiser_ids", DAY) == [
        ("ADV1", keys["advertiser_ids"]),
        ("ADV2", keys["advertiser_ids"]),
    ]
    assert db.count("product_views", DAY) == 200
    for r in results:
        head = s3.head_object(Bucket=lake.bucket, Key=keys[r.source])
        assert db.manifest(r.source, DAY) == [
            (
                keys[r.source],
                head["ETag"].strip('"'),
                head["ContentLength"],
                r.rows_loaded,
                0,
                r.load_id,
            )
        ]
        assert not r.objects[0].checked  # clean objects take the fast path
    assert db.query("select count(*) from ops.rejected_rows") == [(0,)]
    # Every raw row points at its object's manifest row, which names the load.
    assert db.query(
        "select count(distinct m.load_id), count(*) from raw.ads_views r "
        "join ops.load_manifest m using (object_id)"
    ) == [(1, 300)]


def test_a_loaded_day_has_planner_statistics_from_a_small_sample(lake, db):
    # dbt's FiltrarDatos plans read these; a tenth of PostgreSQL's default sample keeps the
    # advertisers exact and the products close, for a tenth of ANALYZE's CPU.
    lines = [
        line
        for advertiser in ("ADV1", "ADV2", "ADV3", "ADV4")
        for line in lake.ad_lines(1500, DAY, advertiser)
    ]
    lake.put("ads_views", DAY, lines)
    load_source("ads_views", DAY)

    stats = {
        column: (n_distinct, bounds)
        for column, n_distinct, bounds in db.query(
            "select attname, n_distinct,"
            " coalesce(array_length(histogram_bounds::text::text[], 1), 0)"
            " from pg_stats where schemaname = 'raw' and tablename = %s",
            (partitions.partition_name("ads_views", DAY),),
        )
    }
    advertisers, _ = stats["advertiser_id"]
    products, bounds = stats["product_id"]
    products = products if products > 0 else -products * len(lines)  # < 0: a share of rows
    assert advertisers == 4
    assert 1350 <= products <= 1650  # 1,500 products, estimated
    assert 2 <= bounds <= partitions.STATISTICS_TARGET + 1  # the default sample gives 101


def test_loading_the_same_day_twice_gives_the_same_contents(lake, db):
    lake.put("ads_views", DAY, lake.ad_lines(500, DAY))
    first = load_source("ads_views", DAY)
    before = db.rows("ads_views", DAY)
    second = load_source("ads_views", DAY)

    assert db.rows("ads_views", DAY) == before
    assert len(before) == 500
    assert first.load_id != second.load_id
    assert db.query(
        "select distinct m.load_id from raw.ads_views join ops.load_manifest m using (object_id)"
    ) == [(second.load_id,)]
    assert db.query("select distinct object_id from raw.ads_views") == [
        (second.objects[0].object_id,)
    ]
    assert first.objects[0].object_id != second.objects[0].object_id
    assert [m[5] for m in db.manifest("ads_views", DAY)] == [second.load_id]


def test_a_reload_replaces_the_day_with_the_current_objects(lake, db):
    lake.put("ads_views", DAY, lake.ad_lines(50, DAY), name="a")
    lake.put("ads_views", DAY, lake.ad_lines(30, DAY, "ADV2"), name="b")
    load_source("ads_views", DAY)
    lake.s3.delete_object(Bucket=lake.bucket, Key=f"raw/ads_views/date={DAY}/b")
    load_source("ads_views", DAY)

    assert db.count("ads_views", DAY) == 50
    assert [m[0] for m in db.manifest("ads_views", DAY)] == [f"raw/ads_views/date={DAY}/a"]


def test_several_objects_per_source_day(lake, db):
    parts = {f"part-{i}": lake.ad_lines(100, DAY, f"ADV{i}") for i in range(3)}
    keys = {name: lake.put("ads_views", DAY, lines, name=name) for name, lines in parts.items()}
    result = load_source("ads_views", DAY)

    assert result.rows_loaded == 300
    assert db.rows("ads_views", DAY) == sorted(
        row for name, lines in parts.items() for row in expected_ads(lines, keys[name])
    )
    assert [(m[0], m[3]) for m in db.manifest("ads_views", DAY)] == [
        (keys[name], 100) for name in sorted(parts)
    ]


@pytest.mark.parametrize("name", ["part-0.csv.gz", "part-0", "part-0.csv"])
def test_gzip_is_recognised_by_its_bytes_not_its_name(lake, db, name):
    lines = lake.ad_lines(400, DAY)
    key = lake.put("ads_views", DAY, lines, name=name, compress=True)
    result = load_source("ads_views", DAY)

    assert result.rows_loaded == 400
    assert db.rows("ads_views", DAY) == expected_ads(lines, key)


@pytest.mark.parametrize("compress", [False, True])
def test_crlf_lines(lake, db, compress):
    lines = lake.view_lines(250, DAY)
    lake.put("product_views", DAY, lines, eol="\r\n", compress=compress)
    result = load_source("product_views", DAY)

    assert (result.rows_loaded, result.rows_rejected) == (250, 0)
    assert not result.objects[0].checked
    assert db.query(
        "select count(*) from raw.product_views where product_id like %s", ("%\r%",)
    ) == [(0,)]


def test_last_line_without_line_ending_is_loaded(lake, db):
    key = f"raw/ads_views/date={DAY}/part-0"
    lake.put_bytes(
        key,
        b"advertiser_id,product_id,type,date\r\nA,p1,click,2024-11-20\r\n"
        b"A,p2,impression,2024-11-20",
    )
    assert load_source("ads_views", DAY).rows_loaded == 2
    assert db.rows("ads_views", DAY) == [
        ("A", "p1", "click", DAY, key),
        ("A", "p2", "impression", DAY, key),
    ]


def test_a_header_only_object_loads_nothing(lake, db):
    lake.put("ads_views", DAY, [])
    result = load_source("ads_views", DAY)
    assert (result.rows_loaded, result.rows_rejected, len(result.objects)) == (0, 0, 1)
    assert db.count("ads_views", DAY) == 0


def test_loading_a_day_leaves_other_days_untouched(lake, db):
    before, after = DAY - timedelta(days=1), DAY + timedelta(days=1)
    for day in (before, DAY, after):
        lake.put("ads_views", day, lake.ad_lines(100, day))
        load_source("ads_views", day)
    neighbours = {
        day: db.query(
            "select *, ctid::text from raw.ads_views where date = %s order by product_id", (day,)
        )
        for day in (before, after)
    }
    lake.put("ads_views", DAY, lake.ad_lines(10, DAY, "NEW"))
    load_source("ads_views", DAY)

    assert db.count("ads_views", DAY) == 10
    for day, rows in neighbours.items():  # same rows, same physical tuples: not rewritten
        assert (
            db.query(
                "select *, ctid::text from raw.ads_views where date = %s order by product_id",
                (day,),
            )
            == rows
        )
        assert len(db.manifest("ads_views", day)) == 1


def wait_until_blocked(db, application_name: str) -> None:
    """Until the load's session waits for a lock (it has reached the held rows)."""
    deadline = time.monotonic() + 60
    while not db.query(
        "select 1 from pg_stat_activity where application_name = %s and wait_event_type = 'Lock'",
        (application_name,),
    ):
        assert time.monotonic() < deadline, "the reload never reached the held rows"
        time.sleep(0.05)


def test_two_days_load_concurrently_without_waiting_for_each_other(lake, db):
    other = DAY + timedelta(days=1)
    for day in (DAY, other):
        lake.put("ads_views", day, lake.ad_lines(2_000, day))
    load_source("ads_views", DAY)

    # Hold DAY's manifest rows: a reload of DAY must wait for them; `other` must not.
    blocker = psycopg2.connect(db.url)
    with blocker.cursor() as cur:
        cur.execute("select 1 from ops.load_manifest where date = %s for update", (DAY,))
    results: dict[str, object] = {}

    def reload_day() -> None:
        try:
            results["day"] = load_source("ads_views", DAY)
        except Exception as exc:  # reported below
            results["day"] = exc

    waiting = threading.Thread(target=reload_day)
    waiting.start()
    try:
        wait_until_blocked(db, f"adtech-load ads_views {DAY}")
        other_result = load_source("ads_views", other)
        assert waiting.is_alive()  # DAY's reload is still waiting, `other` is done
    finally:
        blocker.rollback()
        blocker.close()
        waiting.join(timeout=60)
    assert other_result.rows_loaded == 2_000
    assert getattr(results["day"], "rows_loaded", results["day"]) == 2_000
    assert db.count("ads_views", DAY) == db.count("ads_views", other) == 2_000


def test_two_days_started_together_both_succeed(lake, db):
    days = [DAY + timedelta(days=i) for i in range(3)]
    for day in days:
        lake.put("ads_views", day, lake.ad_lines(3_000, day))
    start = threading.Barrier(len(days))
    outcome: dict[date, object] = {}

    def load(day: date) -> None:
        start.wait()
        try:
            outcome[day] = load_source("ads_views", day).rows_loaded
        except Exception as exc:  # a deadlock would show here
            outcome[day] = exc

    threads = [threading.Thread(target=load, args=(day,)) for day in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcome == {day: 3_000 for day in days}
    assert db.query("select date, count(*) from raw.ads_views group by 1 order by 1") == [
        (day, 3_000) for day in days
    ]


def test_a_reader_never_sees_a_day_half_replaced(lake, db):
    """While a reload replaces D, a reader polling D sees the old day or the new one, whole."""
    lake.put("ads_views", DAY, lake.ad_lines(20_000, DAY, "OLD"), name="old")
    load_source("ads_views", DAY)
    lake.s3.delete_object(Bucket=lake.bucket, Key=f"raw/ads_views/date={DAY}/old")
    lake.put("ads_views", DAY, lake.ad_lines(200_000, DAY, "NEW"), name="new")

    seen: list[tuple] = []
    loading = threading.Event()
    loading.set()

    def poll() -> None:
        reader = psycopg2.connect(db.url)
        reader.autocommit = True  # every query sees the latest committed state
        with reader.cursor() as cur:
            while loading.is_set():
                cur.execute(
                    "select advertiser_id, count(*) from raw.ads_views where date = %s"
                    " group by 1 order by 1",
                    (DAY,),
                )
                seen.append(tuple(cur.fetchall()))
        reader.close()

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        load_source("ads_views", DAY)
    finally:
        loading.clear()
        reader.join(timeout=60)
    old, new = (("OLD", 20_000),), (("NEW", 200_000),)
    assert set(seen) <= {old, new}
    assert seen.count(old) > 1, "the reader should have polled while the reload ran"
    assert db.count("ads_views", DAY) == 200_000
