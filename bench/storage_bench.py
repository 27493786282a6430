"""Storage benchmark: raw bytes per day against the day's CSV bytes, and the database's
size over many nights with retention.

    .venv/bin/python -m bench.storage_bench [--events 1000000] [--nights 30] [--keep 7]

Starts a private local stack (embedded PostgreSQL + moto S3 over HTTP) in a temporary folder.
Each night D: `devstack.generate` writes D's logs to S3 (`--events` product views and as many ad
events, the generator's default catalog), `loaders.load.load_day(D)` loads them, then
`pipeline.steps.cleanup.cleanup(D)` applies retention with ADTECH_RETAIN_RAW_DAYS=`--keep`;
D's objects are then deleted from S3 to keep moto's memory flat (the raw tables no longer need
them). No dbt build runs (loads + cleanup only: the marts add a few kB per night).

Prints, for the first night, each raw partition's bytes (pg_total_relation_size) against its
objects' uncompressed CSV bytes (target: at most 1.8x in total), then pg_database_size after every
night and the spread of nights keep+1..N (target: within 10 %).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

START = date(2024, 10, 1)


def night(day: date, i: int, events: int, env: dict[str, str]) -> dict:
    import boto3
    import botocore.config
    import psycopg2

    from devstack import storage
    from devstack.generate import Options, generate
    from loaders.load import load_day
    from pipeline.steps.cleanup import cleanup

    opts = Options(start=day, days=1, views_per_day=events, ad_events_per_day=events, seed=i)
    started = time.perf_counter()
    generate(opts, storage.from_env())
    generated = time.perf_counter()
    results = load_day(day)
    loaded = time.perf_counter()
    report = cleanup(day)
    cleaned = time.perf_counter()

    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    bucket = env["ADTECH_S3_BUCKET"]
    csv_bytes = {}
    for result in results:
        csv_bytes[result.source] = sum(o.size_bytes for o in result.objects)
        for o in result.objects:
            client.delete_object(Bucket=bucket, Key=o.key)
    conn = psycopg2.connect(env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_database_size(current_database())")
            db_size = cur.fetchone()[0]
            raw_bytes = {}
            for source in csv_bytes:
                cur.execute(
                    "select pg_total_relation_size(to_regclass(%s))",
                    (f"raw.{source}_{day:%Y%m%d}",),
                )
                raw_bytes[source] = cur.fetchone()[0]
            cur.execute(
                "select count(*) from pg_inherits i join pg_class p on p.oid = i.inhparent "
                "join pg_namespace n on n.oid = p.relnamespace where n.nspname = 'raw'"
            )
            partitions = cur.fetchone()[0]
    finally:
        conn.close()
    return {
        "day": day,
        "csv": csv_bytes,
        "raw": raw_bytes,
        "db": db_size,
        "partitions": partitions,
        "dropped": len([d for d in report.retention.drops if d.table.startswith("raw.")]),
        "seconds": (generated - started, loaded - generated, cleaned - loaded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="views and ad events/night")
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--keep", type=int, default=7, help="ADTECH_RETAIN_RAW_DAYS")
    args = parser.parse_args()

    from devstack import stack as devstack

    root = Path(tempfile.mkdtemp(prefix="adtech-storage-bench-"))
    root.chmod(0o755)  # the PostgreSQL service user must reach its folder
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        os.environ.pop(name, None)
    try:
        st = devstack.up(root, bucket="storage-bench")
        os.environ.update(st.env)
        os.environ["ADTECH_RETAIN_RAW_DAYS"] = str(args.keep)
        run(args, dict(os.environ))
    finally:
        devstack.down(root)
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    print(
        f"{args.nights} nights of {args.events:,} product views + {args.events:,} ad events, "
        f"raw retention {args.keep} days; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    nights = []
    for i in range(args.nights):
        n = night(START + timedelta(days=i), i, args.events, env)
        nights.append(n)
        gen, load, clean = n["seconds"]
        print(
            f"night {i + 1:2} {n['day']}: database {n['db'] / 1e6:8.1f} MB, "
            f"{n['partitions']} raw partitions ({n['dropped']} dropped); generate {gen:.1f} s, "
            f"load {load:.1f} s, cleanup {clean:.2f} s",
            flush=True,
        )
        if i == 0:
            ratios(n)
    steady = [n["db"] for n in nights[args.keep :]]
    if steady:
        spread = max(steady) / min(steady) - 1
        print(
            f"nights {args.keep + 1}-{args.nights}: database {min(steady) / 1e6:.1f} - "
            f"{max(steady) / 1e6:.1f} MB, spread {spread:.1%} (target: within 10%); "
            f"load average {os.getloadavg()[0]:.1f}"
        )


def ratios(n: dict) -> None:
    print(f"{'source':16} {'CSV MB':>8} {'raw MB':>8} {'raw/CSV':>8}")
    for source, csv in n["csv"].items():
        raw = n["raw"][source]
        print(f"{source:16} {csv / 1e6:8.1f} {raw / 1e6:8.1f} {raw / max(csv, 1):8.2f}")
    csv, raw = sum(n["csv"].values()), sum(n["raw"].values())
    print(f"{'day':16} {csv / 1e6:8.1f} {raw / 1e6:8.1f} {raw / csv:8.2f} (target <= 1.80)")


if __name__ == "__main__":
    main()
