"""Loads that must fail, clearly, and change nothing: bad header, missing day, missing active
list (and its fallback), an object breaking mid-stream, a bad object after a good one."""

from __future__ import annotations

import gzip
import logging
from datetime import date, timedelta

import pytest

from loaders.errors import (
    ConfigError,
    HeaderMismatchError,
    MissingPartitionError,
    ObjectReadError,
)
from loaders.load import load_source

DAY = date(2024, 11, 20)


@pytest.fixture
def loaded_day(lake, db):
    """DAY loaded once (100 ads rows); returns a snapshot function of everything it wrote."""
    lake.put("ads_views", DAY, lake.ad_lines(100, DAY, "OLD"))
    load_source("ads_views", DAY)

    def snapshot():
        return (
            db.rows("ads_views", DAY),
            db.manifest("ads_views", DAY),
            db.rejects("ads_views", DAY),
            db.query("select tablename from pg_tables where schemaname = 'raw' order by 1"),
        )

    before = snapshot()
    assert len(before[0]) == 100
    return before, snapshot


def test_a_bad_header_names_the_object_and_the_header_found(lake, loaded_day):
    before, snapshot = loaded_day
    key = lake.put("ads_views", DAY, lake.ad_lines(10, DAY), header="adv,product,type,date")
    with pytest.raises(HeaderMismatchError) as failure:
        load_source("ads_views", DAY)
    assert str(failure.value) == (
        f"s3://{lake.bucket}/{key}: header is 'adv,product,type,date', "
        "expected 'advertiser_id,product_id,type,date'"
    )
    assert snapshot() == before


def test_a_missing_header_is_a_header_mismatch(lake, db):
    lake.put("product_views", DAY, lake.view_lines(3, DAY), header="")
    with pytest.raises(HeaderMismatchError, match="header is 'ADV1,p0,2024-11-20'"):
        load_source("product_views", DAY)


def test_an_empty_object_is_a_header_mismatch(lake, db):
    lake.put_bytes(f"raw/ads_views/date={DAY}/empty", b"")
    with pytest.raises(HeaderMismatchError, match=r"header is nothing \(empty object\)"):
        load_source("ads_views", DAY)


def test_a_byte_order_mark_before_the_header_is_tolerated(lake, db):
    key = f"raw/product_views/date={DAY}/bom.csv"
    lake.put_bytes(key, b"\xef\xbb\xbfadvertiser_id,product_id,date\nA,p,2024-11-20\n")
    assert load_source("product_views", DAY).rows_loaded == 1


def test_a_day_without_objects_fails_with_its_own_error(lake, db):
    lake.put("ads_views", DAY - timedelta(days=1), lake.ad_lines(5, DAY - timedelta(days=1)))
    lake.s3.put_object(Bucket=lake.bucket, Key=f"raw/ads_views/date={DAY}/", Body=b"")  # marker
    with pytest.raises(MissingPartitionError) as failure:
        load_source("ads_views", DAY)
    assert str(failure.value) == (
        f"ads_views {DAY}: no objects under s3://{lake.bucket}/raw/ads_views/date={DAY}/"
    )
    assert db.query("select to_regclass('ops.load_manifest')") == [(None,)]  # untouched


def test_the_active_list_falls_back_to_the_most_recent_earlier_day(lake, db, caplog):
    old = lake.put("advertiser_ids", DAY - timedelta(days=5), ["OLDEST"])
    recent = lake.put("advertiser_ids", DAY - timedelta(days=2), ["A1", "A2"])
    lake.put("advertiser_ids", DAY + timedelta(days=1), ["FUTURE"])  # later: never used
    with caplog.at_level(logging.WARNING, logger="loaders"):
        result = load_source("advertiser_ids", DAY)

    assert result.list_day == DAY - timedelta(days=2) and result.fell_back
    assert db.rows("advertiser_ids", DAY) == [("A1", recent), ("A2", recent)]
    assert db.manifest("advertiser_ids", DAY)[0][0] == recent != old
    assert f"no list for {DAY}; applying the list of {DAY - timedelta(days=2)}" in caplog.text


def test_the_days_own_list_wins(lake, db):
    lake.put("advertiser_ids", DAY - timedelta(days=1), ["YESTERDAY"])
    own = lake.put("advertiser_ids", DAY, ["TODAY"])
    result = load_source("advertiser_ids", DAY)
    assert not result.fell_back
    assert db.rows("advertiser_ids", DAY) == [("TODAY", own)]


def test_no_active_list_at_all_fails_clearly(lake, db):
    lake.put("advertiser_ids", DAY + timedelta(days=1), ["LATER"])
    with pytest.raises(MissingPartitionError, match="nor in any earlier date= partition"):
        load_source("advertiser_ids", DAY)


def test_an_object_breaking_mid_stream_changes_nothing(lake, loaded_day):
    """A gzip object cut short: rows were already streamed into COPY when it breaks."""
    before, snapshot = loaded_day
    lines = lake.ad_lines(50_000, DAY, "NEW")
    body = gzip.compress(("advertiser_id,product_id,type,date\n" + "\n".join(lines)).encode())
    key = f"raw/ads_views/date={DAY}/part-0"
    lake.put_bytes(key, body[: len(body) // 2])
    with pytest.raises(ObjectReadError) as failure:
        load_source("ads_views", DAY)
    assert f"s3://{lake.bucket}/{key}: could not be read to the end" in str(failure.value)
    assert snapshot() == before


def test_a_bad_object_after_a_good_one_changes_nothing(lake, loaded_day):
    before, snapshot = loaded_day
    lake.put("ads_views", DAY, lake.ad_lines(1000, DAY, "NEW"), name="a-good")
    lake.put("ads_views", DAY, lake.ad_lines(10, DAY), name="b-bad", header="a,b,c,d")
    with pytest.raises(HeaderMismatchError, match="b-bad"):
        load_source("ads_views", DAY)
    assert snapshot() == before


def test_a_failure_after_rejects_were_recorded_changes_nothing(lake, loaded_day):
    """The first object goes through the checked path (writes rejects), the second breaks."""
    before, snapshot = loaded_day
    lake.put(
        "ads_views",
        DAY,
        [*lake.ad_lines(500, DAY, "NEW"), "A,p,hover,2024-11-20"],
        name="a-with-reject",
    )
    lake.put_bytes(f"raw/ads_views/date={DAY}/b-broken", b"\x1f\x8bnot really gzip")
    with pytest.raises(ObjectReadError, match="b-broken"):
        load_source("ads_views", DAY)
    assert snapshot() == before


def test_missing_settings_are_named(lake, db, monkeypatch):
    monkeypatch.delenv("ADTECH_S3_BUCKET")
    with pytest.raises(ConfigError, match="ADTECH_S3_BUCKET"):
        load_source("ads_views", DAY)
