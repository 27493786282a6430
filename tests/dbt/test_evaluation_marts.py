"""The next-day evaluation marts (evaluation_by_advertiser, evaluation_daily) equal a computation
written here in plain Python from the raw days and the definitions (docs/ARCHITECTURE.md), not
from the SQL: the lists come from dbt_scenario's own ranking, the next day's counts from the raw
events of the advertisers active that day.

Five days: the scenario's four, then a day with views and impressions but no click. Days 1 and
2 are built night by night and published; days 3..5 in one range build (a backfill), so the
evaluation reads a published list (day 2's, for day 3) and lists of its own range (days 3 and
4). The scenario covers an advertiser with no events on the next day (adv_c on day 3, active
but silent; adv_b on day 4, inactive), products first seen on the next day (adv_c's on day 4)
and a day with no clicks (day 5: null click rates, not a division by zero)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import dbt_scenario as sc
import psycopg2
import pytest
from dbt_support import node_statuses

NIGHTLY = ("--exclude-resource-type", "unit_test", "--select", "+evaluation_daily")
NO_CLICKS = sc.Day(
    sc.DAYS[-1] + dt.timedelta(days=1),
    active=["adv_a", "adv_c"],
    product_views=[("adv_a", "adv_a_p01")] * 3 + [("adv_c", "tie_1"), ("adv_c", "fresh")],
    ads_views=[("adv_a", "adv_a_p02", "impression")] * 2 + [("adv_c", "tie_2", "impression")],
)
DAYS = [*sc.build_days(), NO_CLICKS]
VERSIONS = {DAYS[0].date: 101, DAYS[1].date: 102}  # nights; days 3..5: the range's 103
RANGE_VERSION = 103

BY_ADVERTISER = (
    "list_date, list_version, list_length, products, views, impressions, clicks, views_on_list,"
    " impressions_on_list, clicks_on_list, click_hit_rate, view_hit_rate, impression_hit_rate,"
    " listed_ctr, all_ctr, random_hit_rate, random_click_hit_rate"
)
DAILY = (
    "list_date, list_version, advertisers, advertisers_with_events, advertisers_with_clicks,"
    " advertisers_with_views, advertisers_with_impressions, advertisers_with_listed_impressions,"
    " clicks, clicks_on_list, views, views_on_list, impressions, impressions_on_list,"
    " click_hit_rate, random_click_hit_rate, click_hit_rate_macro, random_click_hit_rate_macro,"
    " view_hit_rate, random_view_hit_rate, view_hit_rate_macro, random_view_hit_rate_macro,"
    " impression_hit_rate, random_impression_hit_rate, impression_hit_rate_macro,"
    " random_impression_hit_rate_macro, listed_ctr, all_ctr, listed_ctr_macro, all_ctr_macro"
)


def _publish(url: str, day: dt.date, version: int) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into ops.published_days (date, run_id, version) values (%s, 'eval', %s)"
            " on conflict (date) do update set version = excluded.version",
            (day, version),
        )


@pytest.fixture(scope="module")
def evaluated(project_db: str, dbt) -> str:
    conn = psycopg2.connect(project_db)
    for day in DAYS:
        sc.insert_day(conn, day)
    conn.close()
    for day in DAYS[:2]:
        result = dbt(
            "build", *NIGHTLY, run_date=day.date.isoformat(), build_version=VERSIONS[day.date]
        )
        assert result.success, node_statuses(result)
        _publish(project_db, day.date, VERSIONS[day.date])
    result = dbt(
        "build", *NIGHTLY, run_date=DAYS[2].date.isoformat(),
        run_date_end=DAYS[-1].date.isoformat(), build_version=RANGE_VERSION,
    )  # fmt: skip
    assert result.success, node_statuses(result)
    for day in DAYS[2:]:
        _publish(project_db, day.date, RANGE_VERSION)
    return project_db


# ---- the independent computation ---------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def expected_by_advertiser(list_day: sc.Day, day: sc.Day, list_version: int) -> dict:
    """{(advertiser, model): row in BY_ADVERTISER's order} for the evaluation of list_day's lists
    by the events of `day` (the next day)."""
    active = set(day.active)
    views = Counter((a, p) for a, p in day.product_views if a in active)
    impressions = Counter((a, p) for a, p, t in day.ads_views if a in active and t == "impression")
    clicks = Counter((a, p) for a, p, t in day.ads_views if a in active and t == "click")
    out = {}
    for (adv, model), rows in sc.expected_lists(list_day).items():
        listed = {row[1] for row in rows}
        products = {p for a, p in set(views) | set(impressions) | set(clicks) if a == adv}
        v, i, c = (
            sum(n for (a, _), n in k.items() if a == adv) for k in (views, impressions, clicks)
        )
        vl, il, cl = (sum(k[(adv, p)] for p in listed) for k in (views, impressions, clicks))
        random_rate = _ratio(min(sc.TOP_N, len(products)), len(products))
        out[(adv, model)] = (
            list_day.date, list_version, len(rows), len(products), v, i, c, vl, il, cl,
            _ratio(cl, c), _ratio(vl, v), _ratio(il, i), _ratio(cl, il), _ratio(c, i),
            random_rate, random_rate if c else None,
        )  # fmt: skip
    return out


def expected_daily(by_advertiser: dict) -> dict:
    """{model: row in DAILY's order}, aggregated from the advertisers' rows."""
    out = {}
    for model in sc.MODELS:
        rows = [r for (_, m), r in by_advertiser.items() if m == model]
        list_date, list_version = rows[0][:2]
        v, i, c, vl, il, cl = (sum(r[k] for r in rows) for k in range(4, 10))
        rand = {  # expected events on random lists, per kind
            kind: sum((r[15] or 0) * r[k] for r in rows)
            for kind, k in (("v", 4), ("i", 5), ("c", 6))
        }
        out[model] = (
            list_date, list_version, len(rows),
            sum(r[3] > 0 for r in rows), sum(r[6] > 0 for r in rows), sum(r[4] > 0 for r in rows),
            sum(r[5] > 0 for r in rows), sum(r[8] > 0 for r in rows),
            c, cl, v, vl, i, il,
            _ratio(cl, c), _ratio(rand["c"], c),
            _mean([r[10] for r in rows]), _mean([r[16] for r in rows]),
            _ratio(vl, v), _ratio(rand["v"], v),
            _mean([r[11] for r in rows]), _mean([r[15] if r[4] else None for r in rows]),
            _ratio(il, i), _ratio(rand["i"], i),
            _mean([r[12] for r in rows]), _mean([r[15] if r[5] else None for r in rows]),
            _ratio(cl, il), _ratio(c, i),
            _mean([r[13] for r in rows]), _mean([r[14] for r in rows]),
        )  # fmt: skip
    return out


def _expected() -> tuple[dict, dict]:
    """{(date, advertiser, model): row} and {(date, model): row} for every evaluated date."""
    by_advertiser, daily = {}, {}
    for list_day, day in itertools.pairwise(DAYS):
        list_version = VERSIONS.get(list_day.date, RANGE_VERSION)
        rows = expected_by_advertiser(list_day, day, list_version)
        by_advertiser |= {(day.date, *key): row for key, row in rows.items()}
        daily |= {(day.date, model): row for model, row in expected_daily(rows).items()}
    return by_advertiser, daily


def _served(url: str, table: str, key: str, columns: str) -> dict:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select m.date, {key}, {columns} from marts.{table} m"
            " join ops.published_days p on p.date = m.date and p.version = m.version"
        )
        width = key.count(",") + 2
        return {tuple(row[:width]): tuple(row[width:]) for row in cur.fetchall()}


def _approx(rows: dict) -> dict:
    return {
        k: tuple(pytest.approx(v) if isinstance(v, float) else v for v in r)
        for k, r in rows.items()
    }


# ---- tests -------------------------------------------------------------------------------------


def test_the_marts_equal_the_independent_computation(evaluated: str) -> None:
    by_advertiser, daily = _expected()
    actual = _served(evaluated, "evaluation_by_advertiser", "advertiser_id, model", BY_ADVERTISER)
    assert actual.keys() == by_advertiser.keys()
    assert actual == _approx(by_advertiser)
    actual_daily = _served(evaluated, "evaluation_daily", "model", DAILY)
    assert actual_daily == _approx(daily)
    # The first day has no list before it: nothing to evaluate, no row.
    assert {day for day, *_ in actual_daily} == {d.date for d in DAYS[1:]}


def test_the_scenario_has_the_cases_it_claims(evaluated: str) -> None:
    """Guards the data: a listed advertiser silent on the next day, products first seen on the
    next day, and a day without clicks, each visible in the mart."""
    rows = _served(evaluated, "evaluation_by_advertiser", "advertiser_id, model", BY_ADVERTISER)
    silent = [k for k, r in rows.items() if r[3] == 0]
    assert {(d, a) for d, a, _ in silent} >= {(DAYS[2].date, "adv_c"), (DAYS[3].date, "adv_b")}
    assert all(r[10] is None and r[15] is None for k, r in rows.items() if k in silent)
    fresh = {p for a, p in DAYS[3].product_views if a == "adv_c"} - {
        p for d in DAYS[:3] for a, p in d.product_views if a == "adv_c"
    }
    assert {"tie_1", "tie_2", "tie_3"} <= fresh
    daily = _served(evaluated, "evaluation_daily", "model", DAILY)
    for model in sc.MODELS:
        no_clicks = daily[(NO_CLICKS.date, model)]
        assert no_clicks[8] == 0 and no_clicks[14] is None and no_clicks[15] is None
        assert no_clicks[18] is not None  # views were there: the view rate is a number
        assert daily[(DAYS[1].date, model)][14] is not None


def test_list_versions_come_from_publication_or_the_range(evaluated: str) -> None:
    daily = _served(evaluated, "evaluation_daily", "model", "list_version")
    assert {day: v for (day, _), (v,) in daily.items()} == {
        DAYS[1].date: VERSIONS[DAYS[0].date],
        DAYS[2].date: VERSIONS[DAYS[1].date],  # published before the range
        DAYS[3].date: RANGE_VERSION,  # built by the range itself
        DAYS[4].date: RANGE_VERSION,
    }


def test_the_api_role_reads_the_daily_contract(evaluated: str) -> None:
    with psycopg2.connect(evaluated) as conn, conn.cursor() as cur:
        cur.execute("set role adtech_api")
        cur.execute(
            "select date, version, list_date, model, click_hit_rate, random_click_hit_rate"
            " from marts.evaluation_daily"
        )
        rows = cur.fetchall()
        cur.execute("select count(*) from marts.evaluation_by_advertiser")
        assert cur.fetchone()[0] > 0
    assert len(rows) == len({(r[0], r[1], r[3]) for r in rows}) == 2 * (len(DAYS) - 1)
