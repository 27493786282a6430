"""The night benchmarks' yardstick: the statement's four steps as a well-written pandas script.

    .venv/bin/python -m bench.pandas_baseline --date 2024-11-20 [--schema pandas_baseline]

Same inputs, same definitions as the project (docs/ARCHITECTURE.md, dbt_project/models), no dbt,
no Airflow, no raw tables. Each step reads its input from S3 and writes its output to S3:

- FiltrarDatos: the day's partitions `<prefix><source>/date=D/` (every object, gzip or not). The
  active list is D's `advertiser_ids` partition, else the most recent earlier one. Keeps the
  events of D (date field = D, type impression/click) of active advertisers and counts them per
  (advertiser, product): `pandas_baseline/date=D/filtrar_datos/{views,ads}.csv`.
- TopProduct: per advertiser, products by views desc, product_id asc, ranks 1..20.
- TopCTR: products with impressions >= 1, ctr = clicks / impressions, by ctr desc, clicks desc,
  impressions desc, product_id asc, ranks 1..20.
- DBWriting: both lists into `<schema>.recommendations`: DELETE the day, then psycopg2
  `execute_values`, in one transaction.

Settings are the project's: DATABASE_URL, ADTECH_S3_BUCKET, ADTECH_S3_PREFIX, AWS_ENDPOINT_URL_S3.
Prints each step's seconds and, with --json, one JSON line for bench/night_bench.py.

Not replicated: the loaders' reject accounting (a malformed line is dropped here, not recorded)
and the stats marts, tests, export and publication that `adtech run` also does.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable
from datetime import date

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TOP_N = 20
EVENT_TYPES = ("impression", "click")
GZIP_MAGIC = b"\x1f\x8b"
OUTPUT_PREFIX = "pandas_baseline"

# Only the columns a step uses, as dictionary-encoded strings: a few thousand distinct ids
# repeated millions of times (categories make the filter and the group-by work on integer codes).
VIEW_COLUMNS = ("advertiser_id", "product_id", "date")
AD_COLUMNS = ("advertiser_id", "product_id", "type", "date")

TABLE_SQL = """
create schema if not exists {schema};
create table if not exists {schema}.recommendations (
    date date not null,
    advertiser_id text not null,
    model text not null,
    rank integer not null,
    product_id text not null,
    score double precision not null,
    views bigint,
    impressions bigint,
    clicks bigint,
    primary key (date, advertiser_id, model, rank)
)
"""


class BaselineSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(validation_alias="DATABASE_URL")
    s3_bucket: str = Field(validation_alias="ADTECH_S3_BUCKET")
    s3_prefix: str = Field("raw/", validation_alias="ADTECH_S3_PREFIX")


class S3:
    """The bucket, through boto3 (endpoint and credentials from the standard AWS variables)."""

    def __init__(self, bucket: str) -> None:
        import boto3
        import botocore.config

        style = "path" if os.environ.get("AWS_ENDPOINT_URL_S3") else "auto"
        self.client = boto3.client(
            "s3", config=botocore.config.Config(s3={"addressing_style": style})
        )
        self.bucket = bucket

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        found = (item["Key"] for page in pages for item in page.get("Contents", []))
        return sorted(key for key in found if not key.endswith("/"))

    def day_folders(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        return sorted(c["Prefix"] for page in pages for c in page.get("CommonPrefixes", []))

    def read_csv(self, key: str, columns: tuple[str, ...]) -> pd.DataFrame:
        """An object as a frame of categoricals (ids stay text: "000123" is not 123), parsed by
        Arrow's multi-threaded reader straight into dictionary-encoded columns."""
        import pyarrow as pa
        from pyarrow import csv

        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        stream = pa.BufferReader(body)
        if body[:2] == GZIP_MAGIC:  # by content, not by name
            stream = pa.CompressedInputStream(stream, "gzip")
        table = csv.read_csv(
            stream,
            convert_options=csv.ConvertOptions(
                include_columns=list(columns),
                column_types=dict.fromkeys(columns, pa.dictionary(pa.int32(), pa.string())),
            ),
        )
        return table.to_pandas()

    def write_csv(self, key: str, frame: pd.DataFrame) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=frame.to_csv(index=False).encode())

    def read_output(self, key: str) -> pd.DataFrame:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return pd.read_csv(io.BytesIO(body), dtype={"advertiser_id": str, "product_id": str})


class Baseline:
    def __init__(self, settings: BaselineSettings, day: date, schema: str) -> None:
        self.settings, self.day, self.schema = settings, day, schema
        self.s3 = S3(settings.s3_bucket)
        self.out = f"{OUTPUT_PREFIX}/date={day.isoformat()}"

    def partition(self, source: str, day: date) -> str:
        return f"{self.settings.s3_prefix}{source}/date={day.isoformat()}/"

    def read_day(self, source: str, columns: tuple[str, ...], day: date) -> pd.DataFrame:
        frames = [
            self.s3.read_csv(key, columns) for key in self.s3.keys(self.partition(source, day))
        ]
        if not frames:
            raise SystemExit(f"no {source} objects for {day}")
        # union_categoricals keeps the category dtype across several objects of a day
        return frames[0] if len(frames) == 1 else _concat_categorical(frames)

    def active_advertisers(self) -> set[str]:
        """D's list, else the most recent earlier partition's (the S3 layout's rule)."""
        folders = self.s3.day_folders(f"{self.settings.s3_prefix}advertiser_ids/")
        days = sorted(
            (date.fromisoformat(f.rstrip("/").rsplit("date=", 1)[1]) for f in folders),
            reverse=True,
        )
        for day in (d for d in days if d <= self.day):
            keys = self.s3.keys(self.partition("advertiser_ids", day))
            if keys:
                ids = pd.concat(self.s3.read_csv(k, ("advertiser_id",)) for k in keys)
                return set(ids["advertiser_id"].astype(str)) - {""}
        raise SystemExit(f"no advertiser list for {self.day} or any earlier day")

    def filtrar_datos(self) -> None:
        active = self.active_advertisers()
        day_iso = self.day.isoformat()

        views = self.read_day("product_views", VIEW_COLUMNS, self.day)
        # A line with another date, another type or an empty id is one the loaders reject.
        views = views[
            (views["date"] == day_iso)
            & views["advertiser_id"].isin(active)
            & (views["product_id"] != "")
        ]
        view_counts = (
            views.groupby(["advertiser_id", "product_id"], observed=True)
            .size()
            .rename("views")
            .reset_index()
        )
        del views

        ads = self.read_day("ads_views", AD_COLUMNS, self.day)
        ads = ads[
            (ads["date"] == day_iso)
            & ads["type"].isin(EVENT_TYPES)
            & ads["advertiser_id"].isin(active)
            & (ads["product_id"] != "")
        ]
        ad_counts = (
            ads.groupby(["advertiser_id", "product_id", "type"], observed=True)
            .size()
            .unstack("type", fill_value=0)
            .reindex(columns=["impression", "click"], fill_value=0)
            .rename(columns={"impression": "impressions", "click": "clicks"})
            .reset_index()
        )
        ad_counts.columns.name = None
        del ads
        self.s3.write_csv(f"{self.out}/filtrar_datos/views.csv", view_counts)
        self.s3.write_csv(f"{self.out}/filtrar_datos/ads.csv", ad_counts)

    def top_product(self) -> None:
        counts = self.s3.read_output(f"{self.out}/filtrar_datos/views.csv")
        ranked = _top(counts, ["views", "product_id"], [False, True])
        ranked["score"] = ranked["views"].astype("float64")
        self.s3.write_csv(f"{self.out}/top_product.csv", ranked)

    def top_ctr(self) -> None:
        counts = self.s3.read_output(f"{self.out}/filtrar_datos/ads.csv")
        eligible = counts[counts["impressions"] >= 1].copy()
        # float64 division, as PostgreSQL's double precision: correctly rounded, so 1/2 == 2/4
        eligible["score"] = eligible["clicks"] / eligible["impressions"]
        ranked = _top(
            eligible,
            ["score", "clicks", "impressions", "product_id"],
            [False, False, False, True],
        )
        self.s3.write_csv(f"{self.out}/top_ctr.csv", ranked)

    def db_writing(self) -> int:
        import psycopg2
        from psycopg2.extras import execute_values

        ctr = self.s3.read_output(f"{self.out}/top_ctr.csv")
        product = self.s3.read_output(f"{self.out}/top_product.csv")
        rows = [
            (self.day, a, "top_ctr", r, p, s, None, i, c)
            for a, r, p, s, i, c in ctr[
                ["advertiser_id", "rank", "product_id", "score", "impressions", "clicks"]
            ].itertuples(index=False, name=None)
        ] + [
            (self.day, a, "top_product", r, p, s, v, None, None)
            for a, r, p, s, v in product[
                ["advertiser_id", "rank", "product_id", "score", "views"]
            ].itertuples(index=False, name=None)
        ]
        conn = psycopg2.connect(self.settings.database_url)
        try:
            with conn, conn.cursor() as cur:  # one transaction: readers see the old day or the new
                cur.execute(TABLE_SQL.format(schema=self.schema))
                cur.execute(
                    f"delete from {self.schema}.recommendations where date = %s", (self.day,)
                )
                execute_values(
                    cur,
                    f"insert into {self.schema}.recommendations (date, advertiser_id, model, rank,"
                    " product_id, score, views, impressions, clicks) values %s",
                    [tuple(_plain(v) for v in row) for row in rows],
                    page_size=10_000,
                )
        finally:
            conn.close()
        return len(rows)


def _concat_categorical(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from pandas.api.types import union_categoricals

    return pd.DataFrame({c: union_categoricals([f[c] for f in frames]) for c in frames[0].columns})


def _top(frame: pd.DataFrame, by: list[str], ascending: list[bool]) -> pd.DataFrame:
    """The first TOP_N rows of each advertiser in the given order, ranked from 1. The frame holds
    one row per (advertiser, product): small, so one sort then head per group is the cheap way."""
    ranked = frame.sort_values(["advertiser_id", *by], ascending=[True, *ascending])
    ranked = ranked.groupby("advertiser_id", sort=False).head(TOP_N).copy()
    ranked["rank"] = ranked.groupby("advertiser_id", sort=False).cumcount() + 1
    return ranked.reset_index(drop=True)


def _plain(value):
    """numpy scalars and NaN as psycopg2 adapts them (NaN in a nullable count means null)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def run(day: date, schema: str = "pandas_baseline") -> dict:
    """The four steps in order; returns each step's seconds and the rows written."""
    baseline = Baseline(BaselineSettings(), day, schema)
    seconds: dict[str, float] = {}

    def timed(name: str, step: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = step()
        seconds[name] = round(time.perf_counter() - started, 3)
        return result

    timed("FiltrarDatos", baseline.filtrar_datos)
    timed("TopCTR", baseline.top_ctr)
    timed("TopProduct", baseline.top_product)
    rows = timed("DBWriting", baseline.db_writing)
    return {"date": day.isoformat(), "steps": seconds, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--schema", default="pandas_baseline")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    args = parser.parse_args()
    if not args.schema.isidentifier():
        parser.error("--schema must be a plain identifier")
    result = run(args.date, args.schema)
    if args.json:
        print(json.dumps(result))
        return
    for name, seconds in result["steps"].items():
        print(f"{name:<13} {seconds:7.2f} s")
    print(f"{result['rows']} rows written to {args.schema}.recommendations for {args.date}")


if __name__ == "__main__":
    main()
