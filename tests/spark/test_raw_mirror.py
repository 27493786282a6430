"""The local stack's stand-in for `s3a://` (pipeline/spark/objects.py mirror_from_s3): a
source-day's objects copied from the bucket into the file:// root Spark reads, made equal to the
bucket's folder, and nothing written outside the root whatever the keys. No Spark needed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.spark.objects import mirror_from_s3

DAY = dt.date(2024, 11, 20)


@pytest.fixture
def root(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    raw = tmp_path / "spark" / "raw"
    monkeypatch.setenv("ADTECH_SPARK_RAW_ROOT", raw.as_uri())
    monkeypatch.setenv("ADTECH_SPARK_RAW_FROM_S3", "true")
    monkeypatch.setenv("ADTECH_S3_PREFIX", "raw/")
    return raw


def test_the_day_is_copied_refreshed_and_pruned_and_hostile_keys_stay_inside(s3, bucket, root):
    day = f"raw/ads_views/date={DAY}/"
    s3.put_object(Bucket=bucket, Key=day + "a.csv", Body=b"header\n1\n")
    s3.put_object(Bucket=bucket, Key=day + "b.csv.gz", Body=b"\x1f\x8b...")
    # Keys an attacker with write access to the bucket might try:
    s3.put_object(Bucket=bucket, Key=day + "../../../../escaped.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key=day + "..", Body=b"x")
    s3.put_object(Bucket=bucket, Key=day + ".hidden", Body=b"x")
    s3.put_object(Bucket=bucket, Key=day + "empty.csv", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"raw/ads_views/date={DAY + dt.timedelta(1)}/c.csv", Body=b"y")

    assert mirror_from_s3("ads_views", DAY) == 2
    folder = root / "raw" / "ads_views" / f"date={DAY}"
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv", "b.csv.gz"]
    assert (folder / "a.csv").read_bytes() == b"header\n1\n"
    outside = [p for p in root.parent.parent.rglob("*") if p.is_file() and root not in p.parents]
    assert outside == []
    assert not (root / "raw" / "ads_views" / f"date={DAY + dt.timedelta(1)}").exists()

    # Again: nothing to copy. Then an object replaced (another size) and one deleted.
    assert mirror_from_s3("ads_views", DAY) == 0
    s3.put_object(Bucket=bucket, Key=day + "a.csv", Body=b"header\n1\n2\n")
    s3.delete_object(Bucket=bucket, Key=day + "b.csv.gz")
    assert mirror_from_s3("ads_views", DAY) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv"]
    assert (folder / "a.csv").read_bytes() == b"header\n1\n2\n"


def test_advertiser_lists_of_earlier_days_come_too_and_the_setting_is_checked(
    s3, bucket, root, monkeypatch
):
    for day in (DAY - dt.timedelta(2), DAY + dt.timedelta(1)):
        s3.put_object(
            Bucket=bucket, Key=f"raw/advertiser_ids/date={day}/l.csv", Body=b"advertiser_id\nA\n"
        )
    assert mirror_from_s3("advertiser_ids", DAY) == 1  # the earlier list, not the later one
    lists = root / "raw" / "advertiser_ids"
    assert [p.name for p in lists.iterdir()] == [f"date={DAY - dt.timedelta(2)}"]

    monkeypatch.setenv("ADTECH_SPARK_RAW_FROM_S3", "")
    assert mirror_from_s3("ads_views", DAY) == 0  # off unless asked
    monkeypatch.setenv("ADTECH_SPARK_RAW_FROM_S3", "true")
    monkeypatch.setenv("ADTECH_SPARK_RAW_ROOT", f"s3a://{bucket}")
    with pytest.raises(ValueError, match="needs a file://"):
        mirror_from_s3("ads_views", DAY)
