"""Loaders benchmark (issue 3): one big ads_views day from S3 into PostgreSQL, against a plain COPY.

    .venv/bin/python -m bench.load_bench [--rows 10000000] [--repeat 2] [--gzip] [--bad 0]

Starts a private local stack (embedded PostgreSQL + moto S3 over HTTP) in a temporary folder,
writes one day of `--rows` ads_views lines to local disk and uploads it. Then, alternately,
`--repeat` times each:

- baseline: a plain `COPY ... FROM STDIN (FORMAT csv, HEADER)` of the local file into an
  unconstrained 4-column table (also the same in FORMAT text, the loader's own COPY format);
- loader: `loaders.load.load_source("ads_views", D)` in a child process, whose peak RSS is read
  with os.wait4 (ru_maxrss).

Prints rows/s of each, the loader's ratio to the best baseline (target >= 75 %) and its peak RSS
(target < 300 MB). `--bad F` turns a fraction F of the lines into rejects (the checked path).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2024, 11, 20)
KEY = f"raw/ads_views/date={DAY}/part-00000.csv"
BLOCK_LINES = 100_000


def write_day(path: Path, rows: int, bad: float, compress: bool) -> None:
    """`rows` lines (plus header): ten random 100,000-line blocks written in rotation."""
    rng = random.Random(20241120)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    advertisers = ["".join(rng.choices(alphabet, k=20)) for _ in range(2_000)]
    products = ["".join(rng.choices(alphabet.lower(), k=6)) for _ in range(50_000)]
    blocks = []
    for _ in range(10):
        lines = [
            f"{rng.choice(advertisers)},{rng.choice(products)},"
            f"{'click' if rng.random() < 0.02 else 'impression'},{DAY}\n"
            for _ in range(BLOCK_LINES)
        ]
        for i in rng.sample(range(BLOCK_LINES), round(bad * BLOCK_LINES)):
            lines[i] = lines[i].replace("impression", "hover").replace("click", "hover")
        blocks.append("".join(lines).encode())
    with open_for_write(path, compress) as out:
        out.write(b"advertiser_id,product_id,type,date\n")
        for i, start in enumerate(range(0, rows, BLOCK_LINES)):
            block = blocks[i % len(blocks)]
            if rows - start < BLOCK_LINES:
                block = b"".join(block.splitlines(keepends=True)[: rows - start])
            out.write(block)


def open_for_write(path: Path, compress: bool):
    # gzip's default level 9 is needlessly slow for a benchmark's input: level 1.
    return gzip.open(path, "wb", compresslevel=1) if compress else open(path, "wb")


def plain_copy(url: str, path: Path, fmt: str) -> float:
    """Seconds for COPY of the local file into a fresh unconstrained table (commit included)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("drop table if exists bench_plain")
            cur.execute(
                "create table bench_plain (advertiser_id text, product_id text, "
                "type text, date date)"
            )
            conn.commit()
            cur.execute("checkpoint")
            options = "format csv, header" if fmt == "csv" else "format text, delimiter ','"
            opener = gzip.open if path.suffix == ".gz" else open
            started = time.perf_counter()
            with opener(path, "rb") as f:
                if fmt == "text":
                    f.readline()
                cur.copy_expert(f"copy bench_plain from stdin with ({options})", f, size=1 << 20)
            conn.commit()
            seconds = time.perf_counter() - started
            cur.execute("drop table bench_plain")
            conn.commit()
            return seconds
    finally:
        conn.close()


def loader_run(env: dict[str, str]) -> tuple[dict, float]:
    """One load in a child process: its own report and its peak RSS in MB."""
    import psycopg2

    conn = psycopg2.connect(env["DATABASE_URL"])  # start every run from an empty day
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"drop table if exists raw.ads_views_{DAY:%Y%m%d}")
        cur.execute("checkpoint")
    conn.close()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.load_bench", "--child"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"loader run failed (status {status})")
    return json.loads(out), usage.ru_maxrss / 1024  # KiB on Linux


def child() -> None:
    """The measured process: nothing but the loader."""
    from loaders.load import load_source

    result = load_source("ads_views", DAY)
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "rows": result.rows_loaded,
                "rejected": result.rows_rejected,
                "checked": sum(o.checked for o in result.objects),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--gzip", action="store_true", help="gzip the object (level 1)")
    parser.add_argument("--bad", type=float, default=0.0, help="fraction of rejected lines")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()

    from devstack import stack as devstack

    root = Path(tempfile.mkdtemp(prefix="adtech-load-bench-"))
    root.chmod(0o755)  # the PostgreSQL service user must reach its folder
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        os.environ.pop(name, None)
    try:
        st = devstack.up(root, bucket="load-bench")
        os.environ.update(st.env)
        env = {**os.environ, "ADTECH_MAX_REJECT_FRACTION": str(max(args.bad * 2, 0.01))}
        run(args, root, env)
    finally:
        devstack.down(root)
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, env: dict[str, str]) -> None:
    import boto3
    import botocore.config

    path = root / ("day.csv.gz" if args.gzip else "day.csv")
    started = time.perf_counter()
    write_day(path, args.rows, args.bad, args.gzip)
    size = path.stat().st_size
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    client.upload_file(str(path), env["ADTECH_S3_BUCKET"], KEY)
    print(
        f"{args.rows:,} rows, {size / 1e6:.0f} MB{' gzip' if args.gzip else ''}, written and "
        f"uploaded in {time.perf_counter() - started:.1f} s; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )

    csv_s, text_s, load_s, rss = [], [], [], []
    for i in range(args.repeat):
        csv_s.append(plain_copy(env["DATABASE_URL"], path, "csv"))
        report, peak = loader_run(env)
        load_s.append(report["seconds"])
        rss.append(peak)
        text_s.append(plain_copy(env["DATABASE_URL"], path, "text"))
        print(
            f"run {i + 1}: COPY csv {csv_s[-1]:.2f} s, loader {load_s[-1]:.2f} s "
            f"({report['rows']:,} loaded, {report['rejected']:,} rejected, "
            f"{report['checked']} object(s) checked), COPY text {text_s[-1]:.2f} s, "
            f"loader peak RSS {peak:.0f} MB",
            flush=True,
        )

    rows = args.rows
    best = {"plain COPY csv": min(csv_s), "plain COPY text": min(text_s), "loader": min(load_s)}
    for name, seconds in best.items():
        print(f"{name:16} best {seconds:6.2f} s = {rows / seconds:>12,.0f} rows/s")
    for name in ("plain COPY csv", "plain COPY text"):
        print(f"loader / {name}: {best[name] / best['loader']:.0%} (target >= 75%)")
    print(
        f"loader peak RSS: {max(rss):.0f} MB (target < 300 MB); load average now "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
