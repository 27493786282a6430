"""dbt benchmark: the day's dbt build against one hand-written query from raw.

    .venv/bin/python -m bench.dbt_bench [--ad-events 10000000] [--product-views 5000000]

Starts a private local stack (embedded PostgreSQL) in a temporary folder and fills one day of the
raw tables in SQL (generate_series): 25 advertisers (20 active), 100,000 products each with a
skewed popularity, impressions:clicks about 99:1. Then, in this order:

- the baseline: one hand-written query computing both top-20 lists straight from `raw.*`
  (timed twice, best kept);
- `dbt build --vars '{run_date: D}'` from the repository root, twice: the first run creates the
  marts, the second is the nightly case (incremental: the day's rows replaced). Every node's time
  comes from target/run_results.json; the invocation's elapsed time is compared to the query.

It also checks that dbt's lists equal the query's. Target: dbt build <= 2x the query.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2024, 11, 20)
SOURCES = ("advertiser_ids", "product_views", "ads_views")

# Ids look like the course's: 20-character advertiser ids, 8-character product ids. Product
# popularity is skewed (power 3 of a uniform draw) so that a few products dominate, as in logs.
FILL_SQL = """
create temporary table bench_advertisers as
select a, upper(substr(md5('advertiser' || a), 1, 20)) as advertiser_id
from generate_series(1, 25) as a;

insert into raw.advertiser_ids
select %(day)s, advertiser_id, 'bench/advertiser_ids.csv', 'bench'
from bench_advertisers where a <= 20;

insert into raw.product_views
select adv.advertiser_id, substr(md5(adv.a || '-' || e.p), 1, 8), %(day)s,
       'bench/product_views.csv', 'bench'
from (select g, 1 + (g %% 25) as a, floor(100000 * power(random(), 3))::int as p
      from generate_series(1, %(views)s) as g) as e
join bench_advertisers as adv on adv.a = e.a;

insert into raw.ads_views
select adv.advertiser_id, substr(md5(adv.a || '-' || e.p), 1, 8),
       case when random() < 0.01 then 'click' else 'impression' end, %(day)s,
       'bench/ads_views.csv', 'bench'
from (select g, 1 + (g %% 25) as a, floor(100000 * power(random(), 3))::int as p
      from generate_series(1, %(ads)s) as g) as e
join bench_advertisers as adv on adv.a = e.a;
"""

# The baseline: the two models for the day (docs/ARCHITECTURE.md, "The models' rules"), straight
# from raw, in one statement.
QUERY_SQL = """
with
active as (
    select distinct advertiser_id from raw.advertiser_ids where date = %(day)s
),
views as (
    select v.advertiser_id, v.product_id, count(*) as views
    from raw.product_views as v
    join active on active.advertiser_id = v.advertiser_id
    where v.date = %(day)s
    group by v.advertiser_id, v.product_id
),
ads as (
    select a.advertiser_id, a.product_id,
           count(*) filter (where a.type = 'impression') as impressions,
           count(*) filter (where a.type = 'click') as clicks
    from raw.ads_views as a
    join active on active.advertiser_id = a.advertiser_id
    where a.date = %(day)s
    group by a.advertiser_id, a.product_id
),
top_product as (
    select advertiser_id, product_id,
           row_number() over (partition by advertiser_id
                              order by views desc, product_id) as rank
    from views
),
top_ctr as (
    select advertiser_id, product_id,
           row_number() over (partition by advertiser_id
                              order by clicks::float8 / impressions desc, clicks desc,
                                       impressions desc, product_id) as rank
    from ads where impressions >= 1
)
select 'top_product', advertiser_id, rank, product_id from top_product where rank <= 20
union all
select 'top_ctr', advertiser_id, rank, product_id from top_ctr where rank <= 20
"""


def prepare(url: str, ads: int, views: int) -> float:
    """Schema as the pipeline makes it, one day of raw data, statistics. Returns seconds."""
    from loaders.schema import ensure_schema
    from pipeline.steps.bootstrap import bootstrap

    bootstrap(url)
    conn = psycopg2.connect(url)
    ensure_schema(conn)
    started = time.perf_counter()
    with conn, conn.cursor() as cur:
        for source in SOURCES:  # raw tables are partitioned by day (loaders/sql/schema.sql)
            cur.execute(
                f"create table raw.{source}_bench partition of raw.{source} for values in ('{DAY}')"
            )
        cur.execute(FILL_SQL, {"day": DAY, "views": views, "ads": ads})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("vacuum analyze")  # as after a load: hint bits set, statistics fresh
    conn.close()
    return time.perf_counter() - started


def time_query(url: str) -> tuple[float, dict]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(QUERY_SQL, {"day": DAY})
        rows = cur.fetchall()
        elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, _lists(rows)


def _lists(rows) -> dict:
    lists: dict = defaultdict(list)
    for model, advertiser, _rank, product in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        lists[(model, advertiser)].append(product)
    return dict(lists)


def dbt_build(tmp: Path) -> tuple[float, dict]:
    """The documented command, from the root; returns wall seconds and run_results.json."""
    env = {**os.environ, "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--vars", f"{{run_date: {DAY}}}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt build failed:\n{done.stdout[-5000:]}")
    return wall, json.loads((tmp / "target" / "run_results.json").read_text())


def _span(result: dict) -> tuple[datetime, datetime]:
    """When a node started compiling and finished executing (run_results timing, UTC)."""
    stamps = [t[key] for t in result["timing"] for key in ("started_at", "completed_at")]
    parsed = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps if s]
    return min(parsed), max(parsed)


def report_nodes(results: dict) -> None:
    """Each model's time and when it ran (seconds from the first node), then tests by kind."""
    spans = {r["unique_id"]: _span(r) for r in results["results"] if r["timing"]}
    origin = min(start for start, _ in spans.values())
    by_type: dict[str, list[float]] = defaultdict(list)
    for r in results["results"]:
        kind, _, name = r["unique_id"].partition(".")
        if kind == "model":
            start, end = spans[r["unique_id"]]
            print(
                f"    model {name.split('.')[-1]:<28} {r['execution_time']:7.2f} s "
                f"(from {(start - origin).total_seconds():5.1f} s to "
                f"{(end - origin).total_seconds():5.1f} s)"
            )
        else:
            by_type[kind].append(r["execution_time"])
    for kind, times in sorted(by_type.items()):
        print(
            f"    {len(times):3d} {kind + 's':<26} {sum(times):7.2f} s (sum; "
            f"max {max(times):.2f} s)"
        )


def dbt_lists(url: str) -> dict:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(
            # Each build is a new version of the day: compare the latest one.
            "select model, advertiser_id, rank, product_id from marts.recommendations "
            "where date = %s and version = "
            "(select max(version) from marts.recommendations where date = %s)",
            (DAY, DAY),
        )
        rows = cur.fetchall()
    conn.close()
    return _lists(rows)


def run(args: argparse.Namespace, root: Path) -> None:
    url = os.environ["DATABASE_URL"]
    print(
        f"filling {args.ad_events:,} ad events and {args.product_views:,} product views "
        f"for {DAY} ..."
    )
    print(f"  filled in {prepare(url, args.ad_events, args.product_views):.1f} s")

    query_times = []
    for _ in range(2):
        seconds, query_lists = time_query(url)
        query_times.append(seconds)
    query = min(query_times)
    print(
        f"baseline: hand-written query, both top-20 lists from raw: {query:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in query_times)})"
    )

    for label in ("first build (creates the marts)", "nightly build (incremental)"):
        wall, results = dbt_build(root / label.split()[0])
        elapsed = results["elapsed_time"]
        print(
            f"dbt build, {label}: {elapsed:.2f} s inside dbt, {wall:.2f} s wall "
            f"(with interpreter start and parse)"
        )
        report_nodes(results)
        models = sum(
            r["execution_time"] for r in results["results"] if r["unique_id"].startswith("model.")
        )
        print(
            f"  ratio to the query: dbt build {elapsed / query:.2f}x "
            f"(models alone {models / query:.2f}x; target <= 2x)"
        )
    same = dbt_lists(url) == query_lists
    print(f"dbt's lists equal the query's: {same}")
    if not same:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ad-events", type=int, default=10_000_000)
    parser.add_argument("--product-views", type=int, default=5_000_000)
    args = parser.parse_args()

    from devstack import stack as devstack

    root = Path(tempfile.mkdtemp(prefix="adtech-dbt-bench-"))
    root.chmod(0o755)  # the PostgreSQL service user must reach its folder
    for name in ("DATABASE_URL", "AWS_ENDPOINT_URL_S3", "ADTECH_S3_BUCKET", "ADTECH_S3_PREFIX"):
        os.environ.pop(name, None)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        st = devstack.up(root, bucket="dbt-bench")
        os.environ.update(st.env)
        run(args, root)
    finally:
        devstack.down(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
