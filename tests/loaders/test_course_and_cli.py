"""The course's real files, split in the test into two days of the S3 layout, loaded and counted
against an independent count; and `adtech load`'s summary and exit codes."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta

import typer
from typer.testing import CliRunner

from loaders.cli import load
from loaders.load import load_day

DAY = date(2024, 11, 20)
NEXT = DAY + timedelta(days=1)


def split_course_day(course_dir, lake, day: date) -> dict[str, list[list[str]]]:
    """Put the course's lines of `day` under date=day/ (advertiser_ids: the whole list, only on
    DAY); returns the rows written per source, read with the csv module."""
    written = {}
    for source in ("product_views", "ads_views"):
        with open(course_dir / source, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = [row for row in reader if row[-1] == day.isoformat()]
        lake.put(
            source, day, [",".join(r) for r in rows], header=",".join(header), name="course.csv"
        )
        written[source] = rows
    if day == DAY:
        ids = (course_dir / "advertiser_ids").read_text().split()[1:]
        lake.put("advertiser_ids", day, ids, name="course.csv")
        written["advertiser_ids"] = [[i] for i in ids]
    return written


def test_the_course_files_load_day_by_day(course_dir, lake, db):
    first = split_course_day(course_dir, lake, DAY)
    second = split_course_day(course_dir, lake, NEXT)
    results = {r.source: r for r in load_day(DAY)}
    next_results = {r.source: r for r in load_day(NEXT)}

    assert len(first["ads_views"]) > 3000 and len(first["product_views"]) > 3000
    for source, rows in first.items():
        assert results[source].rows_loaded == len(rows)
        assert results[source].rows_rejected == 0
    assert Counter(r[2] for r in first["ads_views"]) == Counter(
        dict(
            db.query("select type, count(*) from raw.ads_views where date = %s group by 1", (DAY,))
        )
    )
    assert db.query(
        "select count(distinct advertiser_id) from raw.advertiser_ids where date = %s", (DAY,)
    ) == [(len({r[0] for r in first["advertiser_ids"]}),)]
    # The next day has no list of its own: DAY's applies, and its events load on their own.
    assert next_results["advertiser_ids"].list_day == DAY
    assert db.count("advertiser_ids", NEXT) == len(first["advertiser_ids"])
    assert next_results["ads_views"].rows_loaded == len(second["ads_views"])
    assert db.count("ads_views", DAY) == len(first["ads_views"])  # untouched by NEXT


def invoke(*args: str):
    app = typer.Typer()
    app.command()(load)
    return CliRunner().invoke(app, list(args))


def test_cli_loads_and_prints_a_summary(lake, db):
    lake.put("ads_views", DAY, [*lake.ad_lines(300, DAY), "A,p,hover,2024-11-20"])
    result = invoke("--date", "2024-11-20", "--source", "ads_views")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "ads_views" in line)
    assert [cell.strip() for cell in row.strip("│┃ ").split("│")][:5] == [
        "ads_views",
        "1",
        "300",
        "1",
        "1",
    ]
    assert db.count("ads_views", DAY) == 300


def test_cli_reports_failures_and_exits_1(lake, db):
    lake.put("product_views", DAY, lake.view_lines(10, DAY))
    lake.put("advertiser_ids", DAY, ["A"])
    result = invoke("--date", "2024-11-20")

    assert result.exit_code == 1
    assert "ads_views failed (MissingPartitionError)" in result.output
    assert "no objects under" in result.output.replace("\n", " ")
    assert db.count("product_views", DAY) == 10  # the other sources still loaded


def test_cli_rejects_a_malformed_date(lake, db):
    result = invoke("--date", "20-11-2024")
    assert result.exit_code == 2
    assert "20-11-2024" in result.output
