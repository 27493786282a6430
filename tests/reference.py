"""An independent, plain-Python implementation of the models, to check the SQL against.

It reads the day's files straight from S3 and applies docs/ARCHITECTURE.md's rules literally.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter, defaultdict

TOP_N = 20


def _rows(s3, bucket: str, prefix: str) -> list[dict]:
    rows: list[dict] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        rows.extend(csv.DictReader(io.StringIO(body.decode(), newline="")))
    return rows


def day_files(s3, bucket: str, day: str) -> dict[str, list[dict]]:
    return {
        source: _rows(s3, bucket, f"raw/{source}/date={day}/")
        for source in ("advertiser_ids", "product_views", "ads_views")
    }


def top_lists(files: dict[str, list[dict]], day: str) -> dict[tuple[str, str], list[str]]:
    """{(advertiser_id, model): [product_id by rank]} for the active advertisers of `day`."""
    active = {r["advertiser_id"] for r in files["advertiser_ids"]}
    views: dict[str, Counter] = defaultdict(Counter)
    for r in files["product_views"]:
        if r["advertiser_id"] in active and r["date"] == day:
            views[r["advertiser_id"]][r["product_id"]] += 1
    ads: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for r in files["ads_views"]:
        if r["advertiser_id"] in active and r["date"] == day:
            ads[r["advertiser_id"]][r["product_id"]][r["type"]] += 1

    lists: dict[tuple[str, str], list[str]] = {}
    for adv, counts in views.items():
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        lists[(adv, "top_product")] = [p for p, _ in ranked[:TOP_N]]
    for adv, products in ads.items():
        eligible = [
            (p, c["click"], c["impression"]) for p, c in products.items() if c["impression"] >= 1
        ]
        ranked = sorted(eligible, key=lambda t: (-t[1] / t[2], -t[1], -t[2], t[0]))
        if ranked:
            lists[(adv, "top_ctr")] = [p for p, _, _ in ranked[:TOP_N]]
    return lists
