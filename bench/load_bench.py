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


class CpuMeter:
    """CPU seconds used by the stack's PostgreSQL (postmaster, its children, reaped backends)
    and by its S3 server: less sensitive than wall time to other jobs on a shared machine."""

    def __init__(self, root: Path) -> None:
        self.postmaster = int((root / "postgres/data/postmaster.pid").read_text().split()[0])
        self.s3 = int((root / "s3/s3.pid").read_text())
        self.tick = os.sysconf("SC_CLK_TCK")

    def _stat(self, pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def postgres(self) -> float:
        fields = self._stat(self.postmaster)
        total = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    child = self._stat(int(entry.name))
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if int(child[1]) == self.postmaster:
                    total += int(child[11]) + int(child[12])
        return total / self.tick

    def s3_server(self) -> float:
        fields = self._stat(self.s3)
        return (int(fields[11]) + int(fields[12])) / self.tick


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


PLAIN_TABLE = "advertiser_id text, product_id text, type text, date date"
# The same with the two columns the raw tables must also hold, filled by constant defaults.
WIDE_TABLE = PLAIN_TABLE + f", s3_key text default '{KEY}', load_id text default '0123456789abcdef'"


def plain_copy(url: str, path: Path, fmt: str, table: str = PLAIN_TABLE) -> float:
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
                columns = "advertiser_id, product_id, type, date"
                cur.copy_expert(
                    f"copy bench_plain ({columns}) from stdin with ({options})", f, size=1 << 20
                )
            conn.commit()
            seconds = time.perf_counter() - started
            cur.execute("drop table bench_plain")
            conn.commit()
            return seconds
    finally:
        conn.close()


def loader_run(env: dict[str, str]) -> tuple[float, dict]:
    """One load in a child process: seconds (its own measure) and its report, peak RSS and
    CPU."""
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
    report = json.loads(out)
    return report.pop("seconds"), {
        **report,
        "rss_mb": usage.ru_maxrss / 1024,
        "client_cpu": usage.ru_utime + usage.ru_stime,
    }


def child() -> None:
    """The measured process: nothing but the loader."""
    from loaders.load import load_source

    result = load_source("ads_views", DAY)
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "loaded": result.rows_loaded,
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

    url, meter = env["DATABASE_URL"], CpuMeter(root)
    contenders = {
        "plain COPY csv": lambda: (plain_copy(url, path, "csv"), {}),
        "loader": lambda: loader_run(env),
        "plain COPY text": lambda: (plain_copy(url, path, "text"), {}),
        "COPY text, 6 cols": lambda: (plain_copy(url, path, "text", WIDE_TABLE), {}),
    }
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for i in range(args.repeat):
        for name, contender in contenders.items():
            pg, s3 = meter.postgres(), meter.s3_server()
            seconds, extra = contender()
            time.sleep(1)  # let the postmaster reap the backend, so its CPU is counted
            runs[name].append(
                {
                    "seconds": seconds,
                    "pg_cpu": meter.postgres() - pg,
                    "s3_cpu": meter.s3_server() - s3,
                    **extra,
                }
            )
        print(
            f"run {i + 1}: "
            + ", ".join(f"{name} {r[-1]['seconds']:.1f} s" for name, r in runs.items()),
            flush=True,
        )
    report(args.rows, runs)


def report(rows: int, runs: dict[str, list[dict]]) -> None:
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    print(
        f"{'':18} {'best s':>7} {'rows/s':>10} {'PG CPU s':>9} {'S3 CPU s':>9} {'client CPU s':>12}"
    )
    for name, b in best.items():
        pg_cpu = min(x["pg_cpu"] for x in runs[name])
        print(
            f"{name:18} {b['seconds']:7.2f} {rows / b['seconds']:>10,.0f} {pg_cpu:9.1f} "
            f"{b['s3_cpu']:9.1f} {b.get('client_cpu', float('nan')):12.1f}"
        )
    loader = best["loader"]
    print(
        f"loader: {loader['loaded']:,} rows loaded, {loader['rejected']:,} rejected, "
        f"{loader['checked']} object(s) on the checked path"
    )
    for name in ("plain COPY csv", "plain COPY text"):
        print(
            f"loader / {name}: {best[name]['seconds'] / loader['seconds']:.0%} rows/s "
            "(target >= 75%)"
        )
    peak = max(x["rss_mb"] for x in runs["loader"])
    print(
        f"loader peak RSS: {peak:.0f} MB (target < 300 MB); load average now "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
