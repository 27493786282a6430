"""`adtech import-course`: the course's real flat files split into day partitions, checked
against an independent count of the source; CRLF, .csv and gzip inputs; an S3 source; bad lines."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from devstack.cli import import_course

EVENTS = {"product_views": "date", "ads_views": "date"}
FIRST_DAY = "2024-11-20"


def invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(import_course)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def source_days(path: Path) -> Counter[str]:
    """Rows per date in a source file, counted with the csv module (independent of the code)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return Counter(row["date"] for row in csv.DictReader(f))


def written_days(out: Path, source: str) -> Counter[str]:
    """Data rows per day partition actually written (headers checked and not counted)."""
    counts = Counter()
    for path in (out / source).glob("date=*/course.csv"):
        lines = path.read_bytes().splitlines()
        assert lines[0].startswith(b"advertiser_id")
        day = path.parent.name.removeprefix("date=")
        assert all(line.endswith(day.encode()) for line in lines[1:]) or source == "advertiser_ids"
        counts[day] = len(lines) - 1
    return counts


def test_course_files_split_into_their_days(course_dir: Path, tmp_path: Path) -> None:
    code, output = invoke(str(course_dir), "--out", str(tmp_path))
    assert code == 0, output
    for source in EVENTS:
        expected = source_days(course_dir / source)
        assert len(expected) == 30 and sum(expected.values()) == 100_000
        assert written_days(tmp_path, source) == expected
        for day in ("2024-11-20", "2024-12-19"):  # the report shows the same numbers
            assert f"{expected[day]:,}" in output
    # advertiser_ids: only in the first event day, all 20 active advertisers, byte for byte.
    assert [p.name for p in (tmp_path / "advertiser_ids").iterdir()] == [f"date={FIRST_DAY}"]
    copied = tmp_path / "advertiser_ids" / f"date={FIRST_DAY}" / "course.csv"
    assert copied.read_bytes() == (course_dir / "advertiser_ids").read_bytes()
    # Every source line is in exactly one day file, unchanged.
    for source in EVENTS:
        source_lines = (course_dir / source).read_bytes().splitlines()[1:]
        out_lines = [
            line
            for p in (tmp_path / source).glob("date=*/course.csv")
            for line in p.read_bytes().splitlines()[1:]
        ]
        assert sorted(out_lines) == sorted(source_lines)
    assert not list(tmp_path.glob(".import-*"))  # staging removed


def test_crlf_csv_and_gzip_inputs(course_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for source in ("advertiser_ids", "product_views"):
        data = (course_dir / source).read_bytes().replace(b"\n", b"\r\n")
        (src / f"{source}.csv").write_bytes(data)
    ads = (course_dir / "ads_views").read_bytes().replace(b"\n", b"\r\n")
    (src / "ads_views.csv.gz").write_bytes(gzip.compress(ads))
    code, output = invoke(str(src), "--out", str(tmp_path / "out"))
    assert code == 0, output
    out = tmp_path / "out"
    assert written_days(out, "product_views") == source_days(course_dir / "product_views")
    assert written_days(out, "ads_views") == source_days(course_dir / "ads_views")
    day_file = (out / "ads_views" / "date=2024-12-01" / "course.csv").read_bytes()
    assert day_file.startswith(b"advertiser_id,product_id,type,date\r\n")
    assert day_file.count(b"\n") == day_file.count(b"\r\n")


def test_s3_source_to_configured_bucket(course_dir: Path, s3, bucket: str) -> None:
    for source in ("advertiser_ids", "product_views", "ads_views"):
        s3.upload_file(str(course_dir / source), bucket, f"course/{source}")
    code, output = invoke(f"s3://{bucket}/course")
    assert code == 0, output
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="raw/")
        for o in page.get("Contents", [])
    ]
    assert len(keys) == 30 + 30 + 1
    assert f"raw/advertiser_ids/date={FIRST_DAY}/course.csv" in keys
    expected = source_days(course_dir / "ads_views")
    body = s3.get_object(Bucket=bucket, Key="raw/ads_views/date=2024-12-05/course.csv")["Body"]
    assert len(body.read().splitlines()) - 1 == expected["2024-12-05"]


def write_source(folder: Path, ads_lines: list[str]) -> Path:
    folder.mkdir()
    (folder / "advertiser_ids").write_text("advertiser_id\nAAAAAAAAAAAAAAAAAAAA\n")
    (folder / "product_views").write_text(
        "advertiser_id,product_id,date\nAAAAAAAAAAAAAAAAAAAA,abc123,2024-11-20\n"
    )
    (folder / "ads_views").write_text(
        "\n".join(["advertiser_id,product_id,type,date", *ads_lines]) + "\n"
    )
    return folder


BAD_SOURCE = [
    "AAAAAAAAAAAAAAAAAAAA,abc123,impression,2024-11-20",
    "AAAAAAAAAAAAAAAAAAAA,abc123,impression,20/11/2024",  # no readable date
    "AAAAAAAAAAAAAAAAAAAA,abc123,hover,2024-11-21",  # dated, bad type: kept for the loaders
    "AAAAAAAAAAAAAAAAAAAA,click,2024-11-21",  # dated, wrong field count: kept
    "",  # blank line: ignored
    "AAAAAAAAAAAAAAAAAAAA,abc123,click,2024-11-31",  # no such date
]


def test_lines_without_a_date_fail_the_import_and_write_nothing(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", BAD_SOURCE)
    out = tmp_path / "out"
    code, output = invoke(str(src), "--out", str(out))
    assert code == 1
    assert "2 line(s) have no readable date" in output
    assert "line 3" in output and "20/11/2024" in output and "2024-11-31" in output
    assert "--allow-bad" in output
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_allow_bad_leaves_them_out_and_keeps_dated_malformed_lines(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", BAD_SOURCE)
    out = tmp_path / "out"
    code, output = invoke(str(src), "--out", str(out), "--allow-bad")
    assert code == 0, output
    assert "left out" in output and "ads_views: 2" in output  # 2 kept for the loaders
    day21 = (out / "ads_views" / "date=2024-11-21" / "course.csv").read_text().splitlines()
    assert day21[1:] == BAD_SOURCE[2:4]
    day20 = (out / "ads_views" / "date=2024-11-20" / "course.csv").read_text().splitlines()
    assert day20[1:] == BAD_SOURCE[:1]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {
                "advertiser_ids": "advertiser_id\n",
                "product_views": "advertiser_id,product_id,date\n",
            },
            "ads_views: not found",
        ),
        (
            {
                "advertiser_ids": "advertiser_id\n",
                "product_views": "advertiser_id,product_id,date\n",
                "ads_views": "advertiser_id,product_id,type,date\n",
                "ads_views.csv": "advertiser_id,product_id,type,date\n",
            },
            "ads_views: more than one candidate: ads_views, ads_views.csv",
        ),
        (
            {
                "advertiser_ids": "advertiser_id\n",
                "product_views": "product_id,advertiser_id,date\n",
                "ads_views": "advertiser_id,product_id,type,date\n",
            },
            "product_views: header is 'product_id,advertiser_id,date'",
        ),
        (
            {
                "advertiser_ids": "advertiser_id\n",
                "product_views": "advertiser_id,product_id,date\n",
                "ads_views": "advertiser_id,product_id,type,date\n",
            },
            "no dated event lines",
        ),
    ],
)
def test_unusable_sources_are_clear_errors(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    code, output = invoke(str(src), "--out", str(tmp_path / "out"))
    assert code == 1 and message in " ".join(output.split()), output


def test_missing_s3_source_is_a_clear_error(s3, bucket: str) -> None:
    code, output = invoke(f"s3://{bucket}/nothing-here")
    assert code == 1 and "advertiser_ids: not found" in " ".join(output.split())
    code, output = invoke("s3://no-such-bucket-here/course")
    assert code == 1 and "NoSuchBucket" in output


def test_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    src = write_source(tmp_path / "src", ["AAAAAAAAAAAAAAAAAAAA,abc123,click,2024-11-20"])
    (src / "product_views").write_bytes(
        b"advertiser_id,product_id,date\r\nAAAAAAAAAAAAAAAAAAAA,abc123,2024-11-20\r\n"
        b"AAAAAAAAAAAAAAAAAAAA,abc124,2024-11-21"
    )
    code, output = invoke(str(src), "--out", str(tmp_path / "out"))
    assert code == 0, output
    day21 = tmp_path / "out" / "product_views" / "date=2024-11-21" / "course.csv"
    assert day21.read_bytes() == (
        b"advertiser_id,product_id,date\r\nAAAAAAAAAAAAAAAAAAAA,abc124,2024-11-21\r\n"
    )


def test_warns_about_other_files_in_the_partitions(course_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "ads_views" / "date=2024-12-01" / "generated.csv"
    other.parent.mkdir(parents=True)
    other.write_text("advertiser_id,product_id,type,date\n")
    code, output = invoke(str(course_dir), "--out", str(tmp_path))
    assert code == 0, output
    assert "1 other file(s)" in output and "generated.csv" in output
    code, output = invoke(str(course_dir), "--out", str(tmp_path))  # a rerun replaces its own
    assert "1 other file(s)" in output
    assert len(list(other.parent.iterdir())) == 2
