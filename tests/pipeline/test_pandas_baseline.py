"""The pandas baseline of bench/ computes exactly the lists the project serves.

Two generated days in the real S3 endpoint, gzip and CRLF, with churn (inactive advertisers'
events in the logs) and ties (few products, few events). The second day has no advertiser list
(the most recent earlier one applies), a second object in its product_views partition (plain,
LF) and lines the loaders reject (another date, an unknown type). Each day is published by
`adtech run` (a subprocess), then computed by the baseline; both lists must be equal, rank for
rank, with the same scores and counts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2

from bench import pandas_baseline
from tests.cli import adtech

ROOT = Path(__file__).resolve().parents[2]
D1, D2 = dt.date(2024, 11, 20), dt.date(2024, 11, 21)

SERVED = """
    select r.model, r.advertiser_id, r.rank, r.product_id, r.score, r.views, r.impressions,
           r.clicks
    from marts.recommendations r join ops.published_days p using (date, version)
    where r.date = %s
"""
BASELINE = """
    select model, advertiser_id, rank, product_id, score, views, impressions, clicks
    from pandas_baseline.recommendations where date = %s
"""


def rows(url: str, sql: str, day: dt.date) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, (day,))
        return sorted(cur.fetchall())


def reshape_second_day(s3, bucket: str) -> None:
    """No list for D2, a second plain object of views with lines the loaders reject."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/advertiser_ids/date={D2}/")
    for obj in listing["Contents"]:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    first = s3.get_object(Bucket=bucket, Key=f"raw/ads_views/date={D2}/generated.csv.gz")
    assert first["ContentLength"] > 0
    views = s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/product_views/date={D2}/")["Contents"]
    advertiser, product = _some_view(s3, bucket, views[0]["Key"])
    extra = [f"{advertiser},{product},{D2}"] * 40 + [f"{advertiser},{product},{D1}"]
    s3.put_object(
        Bucket=bucket,
        Key=f"raw/product_views/date={D2}/extra.csv",
        Body=("advertiser_id,product_id,date\n" + "\n".join(extra) + "\n").encode(),
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"raw/ads_views/date={D2}/extra.csv",
        Body=f"advertiser_id,product_id,type,date\n{advertiser},{product},view,{D2}\n".encode(),
    )


def _some_view(s3, bucket: str, key: str) -> tuple[str, str]:
    import gzip

    body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
    advertiser, product, _ = body.splitlines()[1].split(",")
    return advertiser, product


def test_pandas_baseline_lists_equal_the_served_lists(stack, bucket, fresh_db, s3):
    adtech(
        None,
        "generate", "--start", D1.isoformat(), "--days", "2", "--advertisers", "10",
        "--active", "6", "--churn", "0.5", "--products", "30", "--views-per-day", "3000",
        "--ad-events-per-day", "4000", "--click-rate", "0.1", "--gzip", "--crlf", "--seed", "11",
    )  # fmt: skip
    reshape_second_day(s3, bucket)

    for day in (D1, D2):
        adtech(None, "run", "--date", day.isoformat())
        result = pandas_baseline.run(day)
        served = rows(fresh_db, SERVED, day)
        computed = rows(fresh_db, BASELINE, day)

        assert result["rows"] == len(computed)
        assert {r[0] for r in served} == {"top_ctr", "top_product"}
        # The lists are not trivially equal: several advertisers, full lists, inactive ones out.
        advertisers = {r[1] for r in served}
        assert 3 <= len(advertisers) <= 6
        assert max(r[2] for r in served) == pandas_baseline.TOP_N
        assert computed == served, f"{day}: lists differ"

        outputs = s3.list_objects_v2(Bucket=bucket, Prefix=f"pandas_baseline/date={day}/")
        assert {o["Key"].rsplit("/", 1)[1] for o in outputs["Contents"]} == {
            "views.csv",
            "ads.csv",
            "top_ctr.csv",
            "top_product.csv",
        }

    # A rerun of the baseline replaces its day (DELETE + insert in one transaction).
    pandas_baseline.run(D2)
    assert rows(fresh_db, BASELINE, D2) == rows(fresh_db, SERVED, D2)
