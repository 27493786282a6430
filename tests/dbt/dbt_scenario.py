"""Crafted raw data for a few days and, independently of the SQL, the marts it should give.

Four consecutive days. Advertiser `adv_a` has more products than top_n and small random
counts, so ties on views and on CTR happen everywhere; `adv_b` is inactive on the last day
but still logs events; `adv_c` is active every day but has no events on the third;
`adv_x` is never active. The second day holds clicks without impressions (the warn test);
the last day adds hand-made ties. The expected marts follow docs/ARCHITECTURE.md's rules
literally, in plain Python (exact fractions for CTR).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from psycopg2.extras import execute_values

DAYS = [dt.date(2024, 11, 18) + dt.timedelta(days=i) for i in range(4)]
TOP_N = 20
MODELS = ("top_ctr", "top_product")


@dataclass
class Day:
    date: dt.date
    active: list[str]
    product_views: list[tuple[str, str]] = field(default_factory=list)  # (advertiser, product)
    ads_views: list[tuple[str, str, str]] = field(default_factory=list)  # (+ type)


def _random_events(rng: random.Random, day: Day, advertiser: str, n_products: int) -> None:
    for i in range(1, n_products + 1):
        product = f"{advertiser}_p{i:02d}"
        day.product_views += [(advertiser, product)] * rng.randint(0, 4)
        impressions = rng.randint(0, 6)
        clicks = rng.randint(0, impressions)
        day.ads_views += [(advertiser, product, "impression")] * impressions
        day.ads_views += [(advertiser, product, "click")] * clicks


def build_days(seed: int = 7) -> list[Day]:
    rng = random.Random(seed)
    days = []
    for i, date in enumerate(DAYS):
        day = Day(date, active=["adv_a", "adv_c"] if i == 3 else ["adv_a", "adv_b", "adv_c"])
        _random_events(rng, day, "adv_a", 30)
        _random_events(rng, day, "adv_b", 6)
        if i != 2:
            _random_events(rng, day, "adv_c", 4)
        _random_events(rng, day, "adv_x", 5)
        if i == 1:
            day.ads_views += [("adv_a", "clicked_unseen", "click")] * 2
        if i == 3:
            _add_ties(day)
        days.append(day)
    return days


def _add_ties(day: Day) -> None:
    """adv_c: three products with 9 views each; CTRs 1/2, 2/4, 2/4 and 0/3, 0/5."""
    for product in ("tie_3", "tie_1", "tie_2"):
        day.product_views += [("adv_c", product)] * 9
    for product, impressions, clicks in [
        ("half_small", 2, 1),
        ("half_b", 4, 2),
        ("half_a", 4, 2),
        ("zero_3", 3, 0),
        ("zero_5", 5, 0),
    ]:
        day.ads_views += [("adv_c", product, "impression")] * impressions
        day.ads_views += [("adv_c", product, "click")] * clicks


SOURCES = ("advertiser_ids", "product_views", "ads_views")


def create_partitions(cur, day: dt.date) -> None:
    """The raw tables are partitioned by date (one partition per day, loaders/sql/schema.sql)."""
    for source in SOURCES:
        cur.execute(
            f"create table if not exists raw.{source}_{day:%Y%m%d} "
            f"partition of raw.{source} for values in ('{day}')"
        )


def insert_day(conn, day: Day) -> None:
    """Write the day into the raw tables, as the loaders would: one file per source, each row
    pointing at its object (an id per source-day here) and its line (the header is line 1)."""

    def lines(object_id: int, rows) -> list[tuple]:
        return [(*row, object_id, number) for number, row in enumerate(rows, start=2)]

    base = day.date.toordinal() * 10
    with conn, conn.cursor() as cur:
        create_partitions(cur, day.date)
        execute_values(
            cur,
            "insert into raw.advertiser_ids values %s",
            lines(base + 1, [(day.date, a) for a in day.active]),
        )
        execute_values(
            cur,
            "insert into raw.product_views values %s",
            lines(base + 2, [(a, p, day.date) for a, p in day.product_views]),
        )
        execute_values(
            cur,
            "insert into raw.ads_views values %s",
            lines(base + 3, [(a, p, t, day.date) for a, p, t in day.ads_views]),
        )


# ---- expected marts --------------------------------------------------------------------------

Row = tuple  # (rank, product_id, score, views, impressions, clicks)


def expected_lists(day: Day, top_n: int = TOP_N) -> dict[tuple[str, str], list[Row]]:
    """{(advertiser, model): rows by rank} for the active advertisers with a non-empty list."""
    active = set(day.active)
    views = Counter(e for e in day.product_views if e[0] in active)
    impressions = Counter((a, p) for a, p, t in day.ads_views if a in active and t == "impression")
    clicks = Counter((a, p) for a, p, t in day.ads_views if a in active and t == "click")
    lists: dict[tuple[str, str], list[Row]] = {}
    for adv in sorted(active):
        viewed = sorted(
            ((p, n) for (a, p), n in views.items() if a == adv), key=lambda pn: (-pn[1], pn[0])
        )[:top_n]
        if viewed:
            lists[(adv, "top_product")] = [
                (r, p, float(n), n, None, None) for r, (p, n) in enumerate(viewed, 1)
            ]
        eligible = [
            (p, impressions[(a, p)], clicks[(a, p)])
            for (a, p) in set(impressions) | set(clicks)
            if a == adv and impressions[(a, p)] >= 1
        ]
        ranked = sorted(eligible, key=lambda e: (-Fraction(e[2], e[1]), -e[2], -e[1], e[0]))
        if ranked[:top_n]:
            lists[(adv, "top_ctr")] = [
                (r, p, c / i, None, i, c) for r, (p, i, c) in enumerate(ranked[:top_n], 1)
            ]
    return lists


def expected_coverage(day: Day, lists) -> dict[str, tuple]:
    """{model: (active_advertisers, advertisers_with_recommendations, coverage, avg_list_length)}"""
    out = {}
    for model in MODELS:
        lengths = [len(rows) for (_, m), rows in lists.items() if m == model]
        n_active = len(day.active)
        out[model] = (
            n_active,
            len(lengths),
            len(lengths) / n_active,
            sum(lengths) / len(lengths) if lengths else 0.0,
        )
    return out


def _products(lists, adv: str, model: str) -> set[str]:
    return {row[1] for row in lists.get((adv, model), [])}


def expected_agreement(day: Day, lists) -> dict[str, tuple]:
    """{advertiser: (top_ctr_count, top_product_count, overlap, jaccard)}"""
    out = {}
    for adv in day.active:
        ctr, prod = _products(lists, adv, "top_ctr"), _products(lists, adv, "top_product")
        union = ctr | prod
        out[adv] = (
            len(ctr),
            len(prod),
            len(ctr & prod),
            len(ctr & prod) / len(union) if union else None,
        )
    return out


def expected_changes(day: Day, history: dict[dt.date, dict]) -> dict[tuple[str, str], tuple]:
    """{(advertiser, model): (previous_date, kept, added, removed, jaccard_with_previous)};
    `history` maps each earlier built date to its expected lists."""
    out = {}
    for adv in day.active:
        for model in MODELS:
            current = _products(history[day.date], adv, model)
            earlier = [d for d in sorted(history) if d < day.date and (adv, model) in history[d]]
            if not earlier:
                out[(adv, model)] = (None, 0, len(current), 0, None)
                continue
            previous = _products(history[earlier[-1]], adv, model)
            kept = len(current & previous)
            out[(adv, model)] = (
                earlier[-1],
                kept,
                len(current - previous),
                len(previous - current),
                kept / len(current | previous),
            )
    return out
