"""The floor under `adtech run`: what no dbt-on-PostgreSQL night can go below, against
bench/pandas_baseline.py on the same days.

    .venv/bin/python -m bench.floor_bench [--sizes 200000,2000000,10000000] [--nights 2]

Starts a private local stack (as bench/night_bench.py does) and, each night on a NEW date,
alternates three processes on the same S3 objects:
1. `python -m bench.pandas_baseline --date D`: the whole night in pandas;
2. the COPY floor (`python -m bench.floor_bench copy --date D`): the day's three sources streamed
   from S3 into PostgreSQL with a bare COPY each, at once, into unlogged all-text tables: no
   checks, no lineage, no rejects. Getting the day into PostgreSQL costs at least this;
3. the dbt floor: `dbt parse` with partial parsing (the project parsed before the first night):
   the cheapest dbt invocation there is, with no model or test run.
`adtech run` starts dbt while it loads (pipeline/flow/sequence.py), so the two floors can
overlap: the night's lower bound is max(COPY floor, dbt floor), with every model and test
for free. Its ratio to pandas is the best any dbt-on-PostgreSQL night could reach on this machine.
The machine's load average is printed with every figure. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from bench.night_bench import BIN, FIRST_DAY, PANDAS, days_from, generate, measure
from bench.private_stack import private_stack

FLOOR_COPY = (sys.executable, "-m", "bench.floor_bench", "copy")
TARGETS = {200_000: 1.0, 2_000_000: 0.6, 10_000_000: 0.4}  # adtech run / pandas


def copy_day(day: date) -> None:
    """The three sources of D from S3 into PostgreSQL, a bare COPY each, at once."""
    from loaders.s3objects import make_client
    from loaders.sources import SOURCES

    def copy(source: str) -> None:
        import psycopg2

        client = make_client()
        bucket, prefix = os.environ["ADTECH_S3_BUCKET"], os.environ.get("ADTECH_S3_PREFIX", "raw/")
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{source}/date={day}/")
        columns = ", ".join(f"{c} text" for c in SOURCES[source].columns)
        with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
            cur.execute(f"drop table if exists floor_bench.{source}")
            cur.execute(f"create unlogged table floor_bench.{source} ({columns})")
            for item in listed.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                stream = gzip.GzipFile(fileobj=body) if item["Key"].endswith(".gz") else body
                cur.copy_expert(
                    f"copy floor_bench.{source} from stdin with (format csv, header true)", stream
                )

    import psycopg2

    with psycopg2.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("create schema if not exists floor_bench")
    with ThreadPoolExecutor(len(SOURCES)) as pool:
        for future in [pool.submit(copy, source) for source in SOURCES]:
            future.result()


def nights(env: dict[str, str], size: int, days: list[date]) -> None:
    print(f"\n{size:,} ad events and product views a day", flush=True)
    generate(env, days[0], len(days), size)
    parse = [str(BIN / "dbt"), "parse"]
    figures: dict[str, list] = {"pandas": [], "COPY floor": [], "dbt floor": []}
    for i, day in enumerate(days):
        contenders = [
            ("pandas", [*PANDAS, "--date", day.isoformat()]),
            ("COPY floor", [*FLOOR_COPY, "--date", day.isoformat()]),
            ("dbt floor", parse),
        ]
        for name, command in contenders[i % 3 :] + contenders[: i % 3]:
            figures[name].append(measure(command, {**env, "ADTECH_RUN_DATE": day.isoformat()}))
        print(
            f"  {day}: "
            + " | ".join(
                f"{k} {v[-1].wall:6.2f} s (load {v[-1].load:4.1f})" for k, v in figures.items()
            ),
            flush=True,
        )
    best = {name: min(m.wall for m in runs) for name, runs in figures.items()}
    bound = max(best["COPY floor"], best["dbt floor"])
    loads = [m.load for runs in figures.values() for m in runs]
    median_pandas = statistics.median(m.wall for m in figures["pandas"])
    print(
        f"  best of {len(days)}: pandas {best['pandas']:.2f} s, COPY floor "
        f"{best['COPY floor']:.2f} s, dbt floor {best['dbt floor']:.2f} s; lower bound of a "
        f"dbt night / pandas = {bound / best['pandas']:.2f} (target "
        f"{TARGETS.get(size, float('nan'))}); median pandas {median_pandas:.2f} s; "
        f"load average {min(loads):.1f}-{max(loads):.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", choices=["copy"], help="internal: the COPY floor")
    parser.add_argument("--date", type=date.fromisoformat)
    parser.add_argument("--sizes", default="200000,2000000,10000000")
    parser.add_argument("--nights", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "copy":
        copy_day(args.date)
        return

    with private_stack("floor-bench", airflow_db=False) as private:
        measure([str(BIN / "dbt"), "parse"], private.env)  # the nightly state: parsed once before
        start = FIRST_DAY
        for size in (int(s) for s in args.sizes.split(",") if s):
            nights(private.env, size, days_from(start, args.nights))
            start += timedelta(days=args.nights)


if __name__ == "__main__":
    main()
