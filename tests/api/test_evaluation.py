"""The next-day evaluation in /stats/, /history/ and the root page, on the shared published
marts (three days: the first two dates' lists are evaluated, the latest's is not yet)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.api.sample_marts import Published
from tests.api.test_routes import get, query

DAILY_SQL = """
    select model, advertisers, clicks, clicks_on_list, click_hit_rate, random_click_hit_rate
    from marts.evaluation_daily e join ops.published_days p using (date, version)
    where list_date = %s order by model
"""
ADVERTISER_SQL = """
    select model, list_length, clicks, clicks_on_list, click_hit_rate, random_click_hit_rate
    from marts.evaluation_by_advertiser e join ops.published_days p using (date, version)
    where list_date = %s and advertiser_id = %s order by model
"""


def test_stats_evaluate_a_date_once_the_next_is_published(client: TestClient, published):
    day, following = published.days[1], published.days[2]
    evaluation = get(client, f"/stats/?date={day}", 200)["evaluation"]
    assert evaluation["available"] is True and evaluation["reason"] is None
    assert evaluation["evaluated_on"] == following.isoformat()
    keys = ("model", "advertisers", "clicks", "clicks_on_list")
    expected = query(published, DAILY_SQL, (day,))
    assert [tuple(m[k] for k in keys) for m in evaluation["models"]] == [e[:4] for e in expected]
    rates = [
        m[k] for m in evaluation["models"] for k in ("click_hit_rate", "random_click_hit_rate")
    ]
    assert rates == pytest.approx([rate for e in expected for rate in e[4:]])
    assert all(m["clicks"] > 0 and 0 <= m["click_hit_rate"] <= 1 for m in evaluation["models"])


def test_stats_of_the_latest_date_say_why_there_is_no_evaluation(client, published):
    evaluation = get(client, "/stats/", 200)["evaluation"]
    following = published.latest.toordinal() + 1
    assert evaluation["available"] is False and evaluation["models"] == []
    assert "not published yet" in evaluation["reason"]
    assert evaluation["evaluated_on"] == type(published.latest).fromordinal(following).isoformat()


def test_history_carries_the_advertisers_own_figures(client: TestClient, published: Published):
    advertiser = published.advertisers[0]
    history = get(client, f"/history/{advertiser}/", 200)["history"]
    latest, *earlier = history
    assert latest["evaluation"]["available"] is False
    assert "not published yet" in latest["evaluation"]["reason"]
    assert len(earlier) == 2
    for entry in earlier:
        evaluation = entry["evaluation"]
        assert evaluation["available"] is True
        rows = query(published, ADVERTISER_SQL, (entry["date"], advertiser))
        shown = [
            (m["model"], m["list_length"], m["clicks"], m["clicks_on_list"])
            for m in evaluation["models"]
        ]
        assert shown == [r[:4] for r in rows] and len(rows) == 2
        assert [m["list_length"] for m in evaluation["models"]] == [
            len(entry["top_ctr"]),
            len(entry["top_product"]),
        ]


def test_history_of_an_advertiser_without_lists_says_nothing_was_listed(client, published):
    history = get(client, f"/history/{published.silent}/", 200)["history"]
    evaluation = history[-1]["evaluation"]  # the oldest date: its next day is published
    assert evaluation["available"] is False and "nothing was listed" in evaluation["reason"]
    no_ads = get(client, f"/history/{published.no_ads}/", 200)["history"][-1]["evaluation"]
    assert [m["model"] for m in no_ads["models"]] == ["top_product"]  # no ads: no TopCTR list


def test_root_page_charts_the_hit_rate_against_random(client: TestClient, published: Published):
    html = client.get("/").text
    chart = html[html.index('id="chart-evaluation"') :].split("</svg>", 1)[0]
    evaluated = [d.isoformat() for d in published.days[:-1]]
    for series in ("top_ctr", "random_top_ctr", "top_product", "random_top_product"):
        dates = re.findall(rf'data-series="{series}" data-date="([\d-]+)"', chart)
        assert dates == evaluated, series
    stats = get(client, f"/stats/?date={evaluated[0]}", 200)["evaluation"]["models"]
    rate = next(m["click_hit_rate"] for m in stats if m["model"] == "top_product")
    drawn = re.search(
        rf'data-series="top_product" data-date="{evaluated[0]}" data-value="([^"]+)"', chart
    )
    assert drawn is not None and float(drawn.group(1)) == pytest.approx(rate)
