"""Published marts written straight into PostgreSQL, in seconds, for the tests that need a
database of their own (a new day, the outage) and for bench/api_bench.py.

The shared `published` fixture (conftest.py) runs the real pipeline instead. This writer creates
the four marts tables as docs/ARCHITECTURE.md describes them (if dbt has not), fills
`marts.recommendations` with lists ranked by the models' rules (same page), derives the three
summary marts from it in SQL the way the dbt models do, and publishes the day in
`ops.published_days` (each day as one version, SAMPLE_VERSION, of the versioned marts).
"""

from __future__ import annotations

import datetime as dt
import io
import random
import string
from dataclasses import dataclass

import psycopg2

TOP_N = 20
SAMPLE_VERSION = 1

MARTS_DDL = """
create table if not exists marts.recommendations (
    date date not null, version bigint not null, advertiser_id text not null,
    model text not null check (model in ('top_ctr', 'top_product')),
    rank int not null, product_id text not null, score double precision not null,
    views bigint, impressions bigint, clicks bigint,
    primary key (date, version, advertiser_id, model, rank));
create table if not exists marts.model_coverage (
    date date not null, version bigint not null, model text not null,
    active_advertisers bigint not null, advertisers_with_recommendations bigint not null,
    coverage numeric not null, avg_list_length numeric not null,
    primary key (date, version, model));
create table if not exists marts.model_agreement (
    date date not null, version bigint not null, advertiser_id text not null,
    top_ctr_count bigint not null, top_product_count bigint not null, overlap bigint not null,
    jaccard numeric, primary key (date, version, advertiser_id));
create table if not exists marts.recommendation_changes (
    date date not null, advertiser_id text not null, model text not null, previous_date date,
    kept bigint not null, added bigint not null, removed bigint not null,
    jaccard_with_previous numeric, primary key (date, advertiser_id, model));
"""

# Summary marts of day %(day)s, derived from marts.recommendations and the active list.
COVERAGE_SQL = """
insert into marts.model_coverage
select %(day)s, %(version)s, m.model, count(*), count(r.advertiser_id),
       count(r.advertiser_id)::numeric / count(*), coalesce(avg(r.n), 0)
from active a cross join (values ('top_ctr'), ('top_product')) m(model)
left join (select advertiser_id, model, count(*) n from marts.recommendations
           where date = %(day)s group by 1, 2) r
       on r.advertiser_id = a.advertiser_id and r.model = m.model
group by m.model
"""
AGREEMENT_SQL = """
insert into marts.model_agreement
with ctr as (select advertiser_id, product_id from marts.recommendations
             where date = %(day)s and model = 'top_ctr'),
viewed as (select advertiser_id, product_id from marts.recommendations
           where date = %(day)s and model = 'top_product'),
both_lists as (
    select coalesce(ctr.advertiser_id, viewed.advertiser_id) as advertiser_id,
           ctr.product_id as in_ctr, viewed.product_id as in_viewed
    from ctr full join viewed using (advertiser_id, product_id)),
counted as (
    select advertiser_id, count(in_ctr) as c, count(in_viewed) as p,
           count(*) filter (where in_ctr is not null and in_viewed is not null) as o
    from both_lists group by advertiser_id)
select %(day)s, %(version)s, a.advertiser_id, coalesce(c, 0), coalesce(p, 0), coalesce(o, 0),
       o::numeric / nullif(c + p - o, 0)
from active a left join counted using (advertiser_id)
"""
CHANGES_SQL = """
insert into marts.recommendation_changes
with prev as (select max(date) as d from ops.published_days where date < %(day)s),
cur as (select advertiser_id, model, product_id from marts.recommendations
        where date = %(day)s),
old as (select r.advertiser_id, r.model, r.product_id from marts.recommendations r, prev
        where r.date = prev.d and r.advertiser_id in (select advertiser_id from active)),
pairs as (
    select coalesce(c.advertiser_id, o.advertiser_id) as advertiser_id,
           coalesce(c.model, o.model) as model, c.product_id as now, o.product_id as before
    from cur c full join old o using (advertiser_id, model, product_id))
select %(day)s, advertiser_id, model, (select d from prev),
       count(*) filter (where now is not null and before is not null),
       count(*) filter (where before is null), count(*) filter (where now is null),
       (count(*) filter (where now is not null and before is not null))::numeric / count(*)
from pairs group by advertiser_id, model
"""


def advertiser_ids(count: int, seed: int = 7) -> list[str]:
    """Ids shaped like the course's (20 upper-case letters and digits)."""
    rng = random.Random(seed)
    alphabet = string.ascii_uppercase + string.digits
    return sorted("".join(rng.choices(alphabet, k=20)) for _ in range(count))


def _products(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_lowercase + string.digits
    return sorted({"".join(rng.choices(alphabet, k=6)) for _ in range(count)})


def _rows(day: dt.date, advertiser: str, rng: random.Random, *, ads: bool) -> list[tuple]:
    """One advertiser's two lists, ranked by the models' rules (docs/ARCHITECTURE.md)."""
    products = _products(rng, rng.choice([8, 40, 60]))
    viewed = sorted(((rng.randint(1, 500), p) for p in products), key=lambda t: (-t[0], t[1]))
    rows = [
        (day, SAMPLE_VERSION, advertiser, "top_product", rank, p, float(v), v, None, None)
        for rank, (v, p) in enumerate(viewed[:TOP_N], 1)
    ]
    if ads:
        shown = []
        for p in products:
            impressions = rng.randint(1, 300)
            shown.append((rng.randint(0, impressions // 3), impressions, p))
        shown.sort(key=lambda t: (-t[0] / t[1], -t[0], -t[1], t[2]))
        rows += [
            (day, SAMPLE_VERSION, advertiser, "top_ctr", rank, p, c / i, None, i, c)
            for rank, (c, i, p) in enumerate(shown[:TOP_N], 1)
        ]
    return rows


def publish_day(url: str, day: dt.date, active: list[str], seed: int = 7) -> None:
    """Write and publish one day. The first active advertiser has no ad events (no TopCTR list);
    the last has no events at all (active, but no list in either model)."""
    rng = random.Random(f"{seed}-{day.isoformat()}")
    rows: list[tuple] = []
    for i, advertiser in enumerate(active[:-1]):
        rows += _rows(day, advertiser, rng, ads=i != 0)
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(MARTS_DDL)
            cur.execute("create temp table active (advertiser_id text primary key)")
            cur.execute("insert into active select unnest(%s::text[])", (list(active),))
            cur.copy_expert("copy marts.recommendations from stdin", io.StringIO(_tsv(rows)))
            for sql in (COVERAGE_SQL, AGREEMENT_SQL, CHANGES_SQL):
                cur.execute(sql, {"day": day, "version": SAMPLE_VERSION})
            cur.execute(
                "insert into ops.published_days (date, run_id, version) values (%s, %s, %s)",
                (day, f"sample-{day.isoformat()}", SAMPLE_VERSION),
            )
    finally:
        conn.close()


def _tsv(rows: list[tuple]) -> str:
    return "".join("\t".join(r"\N" if v is None else str(v) for v in row) + "\n" for row in rows)


@dataclass(frozen=True)
class Published:
    """What a filled database holds, as the tests need it (read back from the database)."""

    url: str  # owner's URL of the database
    days: tuple[dt.date, ...]  # published dates, oldest first
    run_ids: dict[dt.date, str]
    active: tuple[str, ...]  # every advertiser active on the latest date
    advertisers: tuple[str, ...]  # active on every date, with both lists on the latest
    no_ads: str  # active on the latest date, product views but no ad events
    silent: str  # active on the latest date, no events at all

    @property
    def latest(self) -> dt.date:
        return self.days[-1]


def describe_published(url: str, no_ads: str, silent: str) -> Published:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select date, run_id from ops.published_days order by date")
            run_ids = dict(cur.fetchall())
            days = tuple(run_ids)
            cur.execute(
                "select advertiser_id from marts.model_agreement where date = %s"
                " order by advertiser_id",
                (days[-1],),
            )
            active = tuple(r[0] for r in cur.fetchall())
            cur.execute(
                """
                select advertiser_id from marts.model_agreement
                where date = %s and top_ctr_count > 0 and top_product_count > 0
                  and advertiser_id in (select advertiser_id from marts.model_agreement
                                        group by 1 having count(*) = %s)
                order by advertiser_id""",
                (days[-1], len(days)),
            )
            advertisers = tuple(r[0] for r in cur.fetchall())
    finally:
        conn.close()
    return Published(url, days, run_ids, active, advertisers, no_ads, silent)


def fill_published_marts(
    url: str, days: list[dt.date], advertisers: int, seed: int = 7
) -> Published:
    """Bootstrap the database (ops, marts, the adtech_api role) and publish `days` in order."""
    from pipeline.steps.bootstrap import bootstrap

    bootstrap(url)
    active = advertiser_ids(advertisers, seed)
    for day in days:
        publish_day(url, day, active, seed)
    return describe_published(url, no_ads=active[0], silent=active[-1])
