"""`adtech generate`: the course's CSV format in the S3 day layout, to a folder and to a real S3
endpoint; determinism, malformed lines, gzip, CRLF, active lists, skew."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from devstack.cli import generate
from pipeline.steps.s3_upload import MultipartWriter

SOURCES = ("advertiser_ids", "product_views", "ads_views")
HEADERS = {
    "advertiser_ids": ["advertiser_id"],
    "product_views": ["advertiser_id", "product_id", "date"],
    "ads_views": ["advertiser_id", "product_id", "type", "date"],
}
ADVERTISER = re.compile(r"[A-Z0-9]{20}")
PRODUCT = re.compile(r"[a-z0-9]{6}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
START = date(2024, 11, 20)


def run(*args: str) -> str:
    """Run `adtech generate` with `args`; assert it succeeded; return its output."""
    app = typer.Typer()
    app.command()(generate)
    result = CliRunner().invoke(app, ["--start", START.isoformat(), *args])
    assert result.exit_code == 0, result.output
    return result.output


def read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def rows(folder: Path, source: str, day: date, name: str = "generated.csv") -> list[list[str]]:
    """The data rows of one day file (header checked and dropped)."""
    lines = read(folder / source / f"date={day}" / name).decode().splitlines()
    assert lines[0].split(",") == HEADERS[source]
    return [line.split(",") for line in lines[1:]]


def all_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def malformed_reason(fields: list[str], source: str, day: date) -> str | None:
    """Why a loader must reject this row (an independent re-statement of the loaders' rules)."""
    if len(fields) != len(HEADERS[source]):
        return "field_count"
    if not all(fields):
        return "empty_id"
    if not ISO.fullmatch(fields[-1]):
        return "bad_date"
    try:
        line_day = date.fromisoformat(fields[-1])
    except ValueError:
        return "bad_date"
    if line_day != day:
        return "other_day"
    if source == "ads_views" and fields[2] not in ("impression", "click"):
        return "bad_type"
    return None


def test_format_layout_and_counts(tmp_path: Path) -> None:
    run(
        "--days",
        "3",
        "--views-per-day",
        "3000",
        "--ad-events-per-day",
        "4000",
        "--click-rate",
        "0.05",
        "--out",
        str(tmp_path),
    )
    expected = {
        f"{s}/date={START + timedelta(days=i)}/generated.csv" for s in SOURCES for i in range(3)
    }
    assert set(all_files(tmp_path)) == expected
    for i in range(3):
        day = START + timedelta(days=i)
        active = [r[0] for r in rows(tmp_path, "advertiser_ids", day)]
        views = rows(tmp_path, "product_views", day)
        ads = rows(tmp_path, "ads_views", day)
        assert len(active) == 20 and len(views) == 3000 and len(ads) == 4000
        assert all(ADVERTISER.fullmatch(a) for a in active)
        for row in views + ads:
            assert (
                malformed_reason(row, "ads_views" if len(row) == 4 else "product_views", day)
                is None
            ), row
            assert ADVERTISER.fullmatch(row[0]) and PRODUCT.fullmatch(row[1]), row
        types = Counter(r[2] for r in ads)
        assert set(types) == {"impression", "click"}
        assert 0.03 < types["click"] / len(ads) < 0.07
        # Inactive advertisers' events are there too: the pipeline is the one to filter them.
        seen = {r[0] for r in views} | {r[0] for r in ads}
        assert len(seen) == 25 and set(active) < seen


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    args = (
        "--days",
        "2",
        "--views-per-day",
        "2000",
        "--ad-events-per-day",
        "2000",
        "--malformed",
        "0.02",
        "--gzip",
        "--skew",
        "zipf",
    )
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        run(*args, "--seed", seed, "--out", str(tmp_path / name))
    a, b, c = (all_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a)


def test_malformed_lines_fraction_and_every_kind(tmp_path: Path) -> None:
    run(
        "--days",
        "1",
        "--views-per-day",
        "10000",
        "--ad-events-per-day",
        "10000",
        "--malformed",
        "0.03",
        "--out",
        str(tmp_path),
    )
    for source, kinds in (("product_views", 4), ("ads_views", 5)):
        reasons = Counter(malformed_reason(r, source, START) for r in rows(tmp_path, source, START))
        bad = sum(n for reason, n in reasons.items() if reason)
        assert bad == 300, reasons  # round(0.03 * 10000)
        assert len(reasons) - 1 == kinds, reasons  # every kind present (plus None)
        assert min(n for reason, n in reasons.items() if reason) >= 300 // kinds - 1


def test_gzip_and_crlf(tmp_path: Path) -> None:
    run(
        "--days",
        "1",
        "--views-per-day",
        "500",
        "--ad-events-per-day",
        "500",
        "--gzip",
        "--crlf",
        "--out",
        str(tmp_path),
    )
    for source in SOURCES:
        path = tmp_path / source / f"date={START}" / "generated.csv.gz"
        raw = path.read_bytes()
        assert raw[:2] == b"\x1f\x8b"
        text = gzip.decompress(raw)
        assert text.startswith(",".join(HEADERS[source]).encode() + b"\r\n")
        assert text.count(b"\n") == text.count(b"\r\n") > 1
    assert len(rows(tmp_path, "ads_views", START, "generated.csv.gz")) == 500


def test_rerun_with_other_compression_replaces_the_day(tmp_path: Path) -> None:
    run("--days", "1", "--views-per-day", "10", "--ad-events-per-day", "10", "--out", str(tmp_path))
    run(
        "--days",
        "1",
        "--views-per-day",
        "10",
        "--ad-events-per-day",
        "10",
        "--gzip",
        "--out",
        str(tmp_path),
    )
    assert [p.name for p in (tmp_path / "ads_views" / f"date={START}").iterdir()] == [
        "generated.csv.gz"
    ]


def test_active_lists_and_churn(tmp_path: Path) -> None:
    run(
        "--days",
        "5",
        "--views-per-day",
        "100",
        "--ad-events-per-day",
        "100",
        "--advertisers",
        "30",
        "--active",
        "20",
        "--churn",
        "0.1",
        "--out",
        str(tmp_path / "c"),
    )
    run(
        "--days",
        "3",
        "--views-per-day",
        "100",
        "--ad-events-per-day",
        "100",
        "--churn",
        "0",
        "--out",
        str(tmp_path / "s"),
    )
    lists = [
        {r[0] for r in rows(tmp_path / "c", "advertiser_ids", START + timedelta(days=i))}
        for i in range(5)
    ]
    for before, after in pairwise(lists):
        assert len(after) == 20 and len(before - after) == 2  # round(0.1 * 20) replaced
    steady = [
        {r[0] for r in rows(tmp_path / "s", "advertiser_ids", START + timedelta(days=i))}
        for i in range(3)
    ]
    assert steady[0] == steady[1] == steady[2]


def test_zipf_is_skewed_and_uniform_is_not(tmp_path: Path) -> None:
    for skew in ("uniform", "zipf"):
        run(
            "--days",
            "1",
            "--views-per-day",
            "50000",
            "--ad-events-per-day",
            "0",
            "--skew",
            skew,
            "--out",
            str(tmp_path / skew),
        )
    share = {}
    for skew in ("uniform", "zipf"):
        counts = Counter((r[0], r[1]) for r in rows(tmp_path / skew, "product_views", START))
        share[skew] = counts.most_common(1)[0][1] / 50000
    assert share["uniform"] < 3 / 2500  # 2,500 products, each ~1/2500 of the views
    assert share["zipf"] > 0.02  # top product of the top advertiser: ~1/H(25) * 1/H(100)


def _next_day_click_share(folder: Path, top_n: int) -> tuple[float, float]:
    """Each advertiser's top_n most viewed products of day 1 (TopProduct's rule, active or not):
    the share of day 2's clicks on them, and what top_n products drawn at random from the
    advertiser's products with day-2 events would be expected to get."""
    day1, day2 = START, START + timedelta(days=1)
    views = Counter((r[0], r[1]) for r in rows(folder, "product_views", day1))
    ads = rows(folder, "ads_views", day2)
    clicks = Counter((r[0], r[1]) for r in ads if r[2] == "click")
    seen = {(r[0], r[1]) for r in ads} | {(r[0], r[1]) for r in rows(folder, "product_views", day2)}
    hits = expected = total = 0.0
    for advertiser in {a for a, _ in clicks}:
        ranked = sorted((p for a, p in views if a == advertiser),
                        key=lambda p: (-views[(advertiser, p)], p))[:top_n]  # fmt: skip
        products = [p for a, p in seen if a == advertiser]
        advertiser_clicks = sum(n for (a, _), n in clicks.items() if a == advertiser)
        hits += sum(clicks[(advertiser, p)] for p in ranked)
        expected += advertiser_clicks * min(top_n, len(products)) / len(products)
        total += advertiser_clicks
    return hits / total, expected / total


def test_zipf_carries_a_day_to_day_signal_and_uniform_does_not(tmp_path: Path) -> None:
    """Zipf's popularity and click propensities belong to the product, the same every day (the
    catalogue comes from the seed alone), so yesterday's most viewed products get far more of
    today's clicks than chance: the data the next-day evaluation needs, where a model should
    beat the random reference. Uniform data is chance itself."""
    for skew in ("uniform", "zipf"):
        run("--days", "2", "--advertisers", "5", "--active", "5", "--products", "100",
            "--views-per-day", "20000", "--ad-events-per-day", "20000", "--click-rate", "0.05",
            "--skew", skew, "--seed", "3", "--out", str(tmp_path / skew))  # fmt: skip
    hit, random = _next_day_click_share(tmp_path / "uniform", 20)
    assert abs(hit - random) < 0.05, (hit, random)
    hit, random = _next_day_click_share(tmp_path / "zipf", 20)
    assert hit > random + 0.2, (hit, random)


def test_course_like_volume_has_clicks_without_impressions(tmp_path: Path) -> None:
    run(
        "--days", "3", "--views-per-day", "0", "--ad-events-per-day", "3300", "--out", str(tmp_path)
    )
    orphans = 0
    for i in range(3):
        ads = rows(tmp_path, "ads_views", START + timedelta(days=i))
        shown = {(r[0], r[1]) for r in ads if r[2] == "impression"}
        orphans += sum(1 for r in ads if r[2] == "click" and (r[0], r[1]) not in shown)
    assert orphans > 0


def test_writes_to_s3_the_same_bytes_as_to_a_folder(s3, bucket: str, tmp_path: Path) -> None:
    args = ("--days", "2", "--views-per-day", "1000", "--ad-events-per-day", "1000", "--gzip")
    run(*args, "--out", str(tmp_path))
    output = run(*args)
    assert f"s3://{bucket}/raw/" in output
    local = all_files(tmp_path)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted("raw/" + k for k in local)
    for key, data in local.items():
        assert s3.get_object(Bucket=bucket, Key="raw/" + key)["Body"].read() == data


def test_prefix_from_environment(s3, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADTECH_S3_PREFIX", "demo/logs")
    run("--days", "1", "--views-per-day", "10", "--ad-events-per-day", "10")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"demo/logs/ads_views/date={START}/generated.csv" in keys and len(keys) == 3


def test_multipart_writer_uploads_parts_and_aborts_on_error(s3, bucket: str) -> None:
    part = 5 * 1024 * 1024  # S3's minimum part size
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    with MultipartWriter(s3, bucket, "big.bin", part_size=part) as w:
        for i in range(0, len(data), 1 << 20):
            w.write(data[i : i + (1 << 20)])
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-3"')  # three parts: 5 + 5 + 2 MiB
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data

    with pytest.raises(RuntimeError), MultipartWriter(s3, bucket, "half.bin", part) as w:
        w.write(data)
        raise RuntimeError("generator failed")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"big.bin"}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_bad_options_and_missing_bucket_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = typer.Typer()
    app.command()(generate)
    result = CliRunner().invoke(
        app, ["--start", "2024-11-20", "--active", "30", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "active must be between 0 and advertisers" in result.output
    monkeypatch.delenv("ADTECH_S3_BUCKET", raising=False)
    result = CliRunner().invoke(app, ["--start", "2024-11-20"])
    assert result.exit_code == 2 and "ADTECH_S3_BUCKET is not set" in result.output
    assert list(tmp_path.iterdir()) == []


def test_missing_bucket_is_a_clear_error(s3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADTECH_S3_BUCKET", "no-such-bucket-here")
    app = typer.Typer()
    app.command()(generate)
    result = CliRunner().invoke(app, ["--start", "2024-11-20", "--days", "1"])
    assert result.exit_code == 1
    assert "generate failed" in result.output and "NoSuchBucket" in result.output
