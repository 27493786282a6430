"""Compact lineage: every raw row points at its object's ops.load_manifest row and its line in
that object, on both paths, for several objects, gzip and CRLF; rejects point at the same
object; (object, line) is a key; tables of the previous layout are migrated in place."""

from __future__ import annotations

from datetime import date

import psycopg2

from loaders.load import load_source

DAY = date(2024, 11, 20)


def numbered(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, line) as in the object: the header is line 1."""
    return [(i, line) for i, line in enumerate(lines, start=2)]


def test_raw_rows_lead_back_to_their_object_and_line(lake, db, monkeypatch):
    monkeypatch.setenv("ADTECH_MAX_REJECT_FRACTION", "0.2")
    fast = lake.ad_lines(40, DAY)
    gzipped = lake.ad_lines(30, DAY, "ADV2")
    checked = [
        *lake.ad_lines(5, DAY, "ADV3"),
        "ADV3,p9,hover,2024-11-20",
        "A\\B,p,click,2024-11-20",
    ]
    checked += lake.ad_lines(5, DAY, "ADV3", start=5)
    keys = {
        "a": lake.put("ads_views", DAY, fast, name="a", eol="\r\n"),
        "b": lake.put("ads_views", DAY, gzipped, name="b.gz", compress=True),
        "c": lake.put("ads_views", DAY, checked, name="c"),
    }
    result = load_source("ads_views", DAY)

    assert [o.checked for o in result.objects] == [False, False, True]
    valid = {name: numbered(lines) for name, lines in (("a", fast), ("b", gzipped), ("c", checked))}
    valid["c"] = [(n, line) for n, line in valid["c"] if "hover" not in line]
    expected = sorted((keys[name], n, line) for name, rows in valid.items() for n, line in rows)
    assert db.lineage("ads_views", DAY) == expected
    # The reject points at the same object and names its line.
    assert db.query(
        "select m.s3_key, r.line_number, r.line, r.reason from ops.rejected_rows r "
        "join ops.load_manifest m using (object_id)"
    ) == [(keys["c"], 7, "ADV3,p9,hover,2024-11-20", "invalid_type")]
    # (object, line) is a key of the day.
    assert db.query(
        "select count(*), count(distinct (object_id, line_number)) from raw.ads_views"
    ) == [(len(expected), len(expected))]


def test_every_source_numbers_its_lines(lake, db):
    lake.put("advertiser_ids", DAY, ["ADV1", "ADV2", "ADV1"])
    views = lake.view_lines(3, DAY)
    key = lake.put("product_views", DAY, views)
    for source in ("advertiser_ids", "product_views"):
        load_source(source, DAY)

    assert [row[1:] for row in db.lineage("advertiser_ids", DAY)] == [
        (2, "ADV1"),
        (3, "ADV2"),
        (4, "ADV1"),
    ]
    assert db.lineage("product_views", DAY) == [(key, n, line) for n, line in numbered(views)]


def test_tables_of_the_previous_layout_are_migrated_in_place(lake, db):
    conn = psycopg2.connect(db.url)
    with conn, conn.cursor() as cur:  # the layout before compact lineage, with one old day
        cur.execute(
            "create schema raw; create schema ops; "
            "create table raw.ads_views (advertiser_id text not null, product_id text not null, "
            "type text not null, date date not null, s3_key text not null, load_id text not null)"
            " partition by list (date); "
            "create table raw.ads_views_20241119 partition of raw.ads_views "
            "for values in ('2024-11-19'); "
            "insert into raw.ads_views values ('A', 'p', 'click', '2024-11-19', 'k', 'l'); "
            "create table ops.load_manifest (date date not null, source text not null, "
            "s3_key text not null, etag text, size_bytes bigint, rows_loaded bigint not null, "
            "rows_rejected bigint not null, load_id text not null, started_at timestamptz not "
            "null, finished_at timestamptz not null, primary key (date, source, s3_key)); "
            "create table ops.rejected_rows (date date not null, source text not null, "
            "s3_key text not null, line_number bigint not null, line text, reason text not null,"
            " load_id text not null, primary key (date, source, s3_key, line_number))"
        )
    conn.close()
    lines = lake.ad_lines(3, DAY)
    key = lake.put("ads_views", DAY, lines)
    load_source("ads_views", DAY)

    assert db.lineage("ads_views", DAY) == [(key, n, line) for n, line in numbered(lines)]
    assert db.query("select * from raw.ads_views where date = '2024-11-19'") == [
        ("A", "p", "click", date(2024, 11, 19), 0, 0)
    ]
    assert db.query(
        "select count(*) from information_schema.columns where table_schema = 'raw' "
        "and column_name in ('s3_key', 'load_id')"
    ) == [(0,)]
