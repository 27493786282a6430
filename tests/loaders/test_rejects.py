"""Lines that cannot be loaded: each reason, kept in ops.rejected_rows with file, line number and
raw text; the ceiling ADTECH_MAX_REJECT_FRACTION (under: load and keep; over: fail, change
nothing); and the fast and checked paths agreeing on what is valid."""

from __future__ import annotations

from datetime import date

import pytest

from loaders.errors import RejectThresholdError
from loaders.load import load_source

DAY = date(2024, 11, 20)
GOOD = 199  # one bad line among 200 stays under the default 1 % ceiling

BAD_AD_LINES = {
    "wrong_field_count": "ADV1,p1,impression",
    "empty_id": "ADV1,,click,2024-11-20",
    "invalid_type": "ADV1,p1,hover,2024-11-20",
    "unparsable_date": "ADV1,p1,click,2024-11-32",
    "date_outside_partition": "ADV1,p1,click,2024-11-21",
    "quoted_field": '"ADV1",p1,click,2024-11-20',
}
MORE_BAD_LINES = [  # (source, line, reason)
    ("ads_views", ",p1,click,2024-11-20", "empty_id"),
    ("ads_views", "ADV1,p1,click,2024-11-20,extra", "wrong_field_count"),
    ("ads_views", "ADV1,p1,Click,2024-11-20", "invalid_type"),
    ("ads_views", "ADV1,p1,click,2024-02-30", "unparsable_date"),
    ("ads_views", "ADV1,p1,click,20241120", "unparsable_date"),
    ("ads_views", "ADV1,p1,click,2024-11-20 ", "unparsable_date"),
    ("ads_views", "", "wrong_field_count"),
    ("ads_views", 'ADV1,"p,1",click,2024-11-20', "quoted_field"),
    ("product_views", "ADV1,p1,2023-11-20", "date_outside_partition"),
    ("product_views", "ADV1,2024-11-20", "wrong_field_count"),
    ("advertiser_ids", "ADV1,ADV2", "wrong_field_count"),
    ("advertiser_ids", "", "wrong_field_count"),
]


def good_lines(lake, source: str, n: int = GOOD) -> list[str]:
    if source == "advertiser_ids":
        return [f"ADV{i}" for i in range(n)]
    return (lake.ad_lines if source == "ads_views" else lake.view_lines)(n, DAY)


@pytest.mark.parametrize("reason", sorted(BAD_AD_LINES))
def test_each_reason_is_kept_with_file_line_and_text(lake, db, reason):
    lines = good_lines(lake, "ads_views")
    lines.insert(57, BAD_AD_LINES[reason])  # line 59 of the file (header is line 1)
    key = lake.put("ads_views", DAY, lines)
    result = load_source("ads_views", DAY)

    assert (result.rows_loaded, result.rows_rejected) == (GOOD, 1)
    assert result.objects[0].checked
    assert db.rejects("ads_views", DAY) == [(key, 59, BAD_AD_LINES[reason], reason)]
    assert db.count("ads_views", DAY) == GOOD
    assert db.manifest("ads_views", DAY)[0][3:5] == (GOOD, 1)


@pytest.mark.parametrize(("source", "line", "reason"), MORE_BAD_LINES)
def test_more_rejects(lake, db, source, line, reason):
    lines = [*good_lines(lake, source), line]
    key = lake.put(source, DAY, lines)
    result = load_source(source, DAY)

    assert (result.rows_loaded, result.rows_rejected) == (GOOD, 1)
    assert db.rejects(source, DAY) == [(key, GOOD + 2, line, reason)]


def test_bytes_that_are_not_text_are_rejected_not_lost(lake, db):
    key = f"raw/ads_views/date={DAY}/part-0"
    body = "\n".join(["advertiser_id,product_id,type,date", *good_lines(lake, "ads_views")])
    lake.put_bytes(
        key, body.encode() + b"\nADV\xff,p1,click,2024-11-20\nA\x00,p,click,2024-11-20\n"
    )
    result = load_source("ads_views", DAY)

    assert (result.rows_loaded, result.rows_rejected) == (GOOD, 2)
    assert db.rejects("ads_views", DAY) == [
        (key, GOOD + 2, "ADV\\377,p1,click,2024-11-20", "invalid_encoding"),
        (key, GOOD + 3, "A\\000,p,click,2024-11-20", "invalid_encoding"),
    ]
    # Stored escaped (PostgreSQL's bytea escape format): the bytes come back exactly.
    stored = db.query("select decode(line, 'escape') from ops.rejected_rows order by line_number")
    assert [bytes(b) for (b,) in stored] == [
        b"ADV\xff,p1,click,2024-11-20",
        b"A\x00,p,click,2024-11-20",
    ]


@pytest.mark.parametrize("length", [1001, 5000])  # within two chunks, across several
def test_an_overlong_line_is_rejected_truncated(lake, db, monkeypatch, length):
    """Small chunks (1000 bytes) also exercise lines cut across chunk boundaries."""
    monkeypatch.setattr("loaders.streams.CHUNK", 1000)
    monkeypatch.setattr("loaders.streams.MAX_LINE", 1000)
    long_line = "A," + "p" * (length - 19) + ",click,2024-11-20"
    lines = [*good_lines(lake, "ads_views"), long_line, "ADV9,p9,click,2024-11-20"]
    key = lake.put("ads_views", DAY, lines)
    result = load_source("ads_views", DAY)

    assert len(long_line) == length
    assert (result.rows_loaded, result.rows_rejected) == (GOOD + 1, 1)
    [(got_key, number, text, reason)] = db.rejects("ads_views", DAY)
    assert (got_key, number, reason, text) == (key, GOOD + 2, "line_too_long", long_line[:1000])
    assert db.count("ads_views", DAY) == GOOD + 1


def test_small_chunks_load_the_same_rows(lake, db, monkeypatch):
    monkeypatch.setattr("loaders.streams.CHUNK", 100)
    lines = good_lines(lake, "ads_views")
    lake.put("ads_views", DAY, lines, eol="\r\n")
    result = load_source("ads_views", DAY)
    assert (result.rows_loaded, result.objects[0].checked) == (GOOD, False)
    assert sorted(r[:3] for r in db.rows("ads_views", DAY)) == sorted(
        tuple(line.split(",")[:3]) for line in lines
    )


def test_odd_but_valid_lines_load_the_same_on_both_paths(lake, db):
    """Ids are opaque text: spaces, non-ASCII, a backslash or a tab are kept as they are.
    The object with a backslash takes the checked path, the other the fast path."""
    odd = [
        "A B,p 1,click,2024-11-20",
        "Ünïcode,€uro,impression,2024-11-20",
        "A\tB,p,click,2024-11-20",
    ]
    with_backslash = [*odd, "A\\B,p,click,2024-11-20"]
    lake.put("ads_views", DAY, odd, name="fast")
    lake.put("ads_views", DAY, with_backslash, name="checked")
    result = load_source("ads_views", DAY)

    assert [(o.key.rsplit("/", 1)[1], o.checked) for o in result.objects] == [
        ("checked", True),
        ("fast", False),
    ]
    rows = db.query(
        "select advertiser_id, product_id, type, s3_key like '%%fast' from "
        "raw.ads_views join ops.load_manifest using (object_id) order by 4, 1"
    )
    expected = sorted(tuple(line.split(",")[:3]) for line in odd)
    assert [r[:3] for r in rows if r[3]] == expected
    assert [r[:3] for r in rows if not r[3]] == sorted([*expected, ("A\\B", "p", "click")])
    assert db.rejects("ads_views", DAY) == []


def test_under_the_ceiling_the_day_loads_and_keeps_its_rejects(lake, db, monkeypatch):
    monkeypatch.setenv("ADTECH_MAX_REJECT_FRACTION", "0.05")
    lines = good_lines(lake, "ads_views", 95) + [BAD_AD_LINES["invalid_type"]] * 5
    lake.put("ads_views", DAY, lines)
    result = load_source("ads_views", DAY)

    assert (result.rows_loaded, result.rows_rejected) == (95, 5)
    assert [r[3] for r in db.rejects("ads_views", DAY)] == ["invalid_type"] * 5


def test_over_the_ceiling_the_load_fails_and_changes_nothing(lake, db):
    lake.put("ads_views", DAY, good_lines(lake, "ads_views", 100))
    previous = load_source("ads_views", DAY)
    before = (
        db.rows("ads_views", DAY),
        db.manifest("ads_views", DAY),
        db.rejects("ads_views", DAY),
    )

    bad = (
        good_lines(lake, "ads_views", 90)
        + [BAD_AD_LINES["invalid_type"]] * 6
        + [BAD_AD_LINES["empty_id"]] * 3
        + [BAD_AD_LINES["unparsable_date"]]
    )
    lake.put("ads_views", DAY, bad)
    with pytest.raises(RejectThresholdError) as failure:
        load_source("ads_views", DAY)

    message = str(failure.value)
    assert "10 of 100 lines rejected" in message
    assert "invalid_type (6), empty_id (3), unparsable_date (1)" in message
    assert failure.value.top_reasons == [
        ("invalid_type", 6),
        ("empty_id", 3),
        ("unparsable_date", 1),
    ]
    assert (
        db.rows("ads_views", DAY),
        db.manifest("ads_views", DAY),
        db.rejects("ads_views", DAY),
    ) == before
    assert before[1][0][5] == previous.load_id


def test_the_ceiling_counts_the_whole_source_day(lake, db, monkeypatch):
    """2 rejects in one object of 10 lines is 20 %, but 2 of 400 lines over the day: loads."""
    lake.put(
        "ads_views",
        DAY,
        good_lines(lake, "ads_views", 8) + [BAD_AD_LINES["invalid_type"]] * 2,
        name="small",
    )
    lake.put("ads_views", DAY, good_lines(lake, "ads_views", 390), name="big")
    result = load_source("ads_views", DAY)
    assert (result.rows_loaded, result.rows_rejected) == (398, 2)
