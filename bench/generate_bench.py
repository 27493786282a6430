"""Sample-data generator benchmark: rows/s for one big ads_views day.

    .venv/bin/python -m bench.generate_bench [--events 10000000] [--skew zipf] [--gzip] [--s3]

Generates one day of `--events` ad events into a temporary folder (and, with --s3, into a bucket
of a throw-away local stack: moto over HTTP, multipart upload) and prints rows/s and the peak RSS.
Baseline, same run, same writer: writing the same number of pre-built constant lines, i.e. the
I/O ceiling that generation cannot beat.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from devstack.generate import CHUNK_LINES, Options, generate
from devstack.storage import LocalFolder, Location, S3Prefix, gzip_writer

DAY = date(2024, 11, 20)
LINE = b"8C88YB6E8YCGWU07HA7A,kczdli,impression,2024-11-20\n"  # the course's typical line


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def constant_lines(location: Location, events: int, gzip: bool) -> float:
    """Seconds to write `events` identical pre-built lines, in the generator's chunk size."""
    block = LINE * CHUNK_LINES
    started = time.perf_counter()
    with location.writer("baseline/constant.csv") as raw:
        out = gzip_writer(raw) if gzip else raw
        for written in range(0, events, CHUNK_LINES):
            out.write(block if events - written >= CHUNK_LINES else LINE * (events - written))
        if gzip:
            out.close()
    return time.perf_counter() - started


def generated(location: Location, events: int, skew: str, gzip: bool) -> float:
    opts = Options(
        start=DAY, days=1, views_per_day=0, ad_events_per_day=events, skew=skew, gzip=gzip
    )
    started = time.perf_counter()
    generate(opts, location)
    return time.perf_counter() - started


def report(where: str, events: int, gen_s: float, base_s: float, size: int) -> None:
    print(
        f"{where}: generated {events:,} rows in {gen_s:.2f} s = {events / gen_s:,.0f} rows/s "
        f"({size / gen_s / 1e6:.0f} MB/s); baseline constant lines {events / base_s:,.0f} rows/s;"
        f" generation at {base_s / gen_s:.0%} of the I/O ceiling"
    )


def run_local(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="adtech-gen-bench-") as tmp:
        folder = LocalFolder(Path(tmp))
        gen_s = generated(folder, args.events, args.skew, args.gzip)
        size = sum(p.stat().st_size for p in Path(tmp, "ads_views").rglob("*") if p.is_file())
        base_s = constant_lines(folder, args.events, args.gzip)
        report("local folder", args.events, gen_s, base_s, size)


def run_s3(args: argparse.Namespace) -> None:
    """A private moto server (the stack's own S3 part), torn down afterwards."""
    import socket

    from devstack.s3 import LOCAL_CREDENTIALS, LocalS3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = LocalS3(Path(tempfile.mkdtemp(prefix="adtech-gen-bench-s3-")), port)
    saved = dict(os.environ)
    try:
        server.start()
        os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL_S3": server.endpoint})
        location = S3Prefix("generate-bench", "raw/")
        location.client.create_bucket(Bucket="generate-bench")
        gen_s = generated(location, args.events, args.skew, args.gzip)
        name = "generated.csv.gz" if args.gzip else "generated.csv"
        size = location.client.head_object(
            Bucket="generate-bench", Key=f"raw/ads_views/date={DAY}/{name}"
        )["ContentLength"]
        base_s = constant_lines(location, args.events, args.gzip)
        report("local S3 (moto over HTTP, multipart)", args.events, gen_s, base_s, size)
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--skew", choices=("uniform", "zipf"), default="uniform")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--s3", action="store_true", help="also write to a local S3 endpoint")
    args = parser.parse_args()
    before = peak_rss_mb()
    run_local(args)
    print(f"peak RSS {peak_rss_mb():.0f} MB (before generating: {before:.0f} MB)")
    if args.s3:
        run_s3(args)
        print(f"peak RSS {peak_rss_mb():.0f} MB after the S3 run")


if __name__ == "__main__":
    main()
