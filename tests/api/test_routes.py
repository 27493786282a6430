"""Every route, alias and slash form against published marts; answers compared with the marts."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from fastapi.testclient import TestClient

from tests.api.sample_marts import Published

ERROR_KEYS = {"status", "code", "message", "details"}
ITEM_SQL = """
    select rank, product_id, score, views, impressions, clicks from marts.recommendations
    where date = %s and advertiser_id = %s and model = %s order by rank
"""


def query(published: Published, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(published.url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def items_in_marts(published: Published, day: dt.date, advertiser: str, model: str) -> list[dict]:
    keys = ("rank", "product_id", "score", "views", "impressions", "clicks")
    return [
        dict(zip(keys, row, strict=True))
        for row in query(published, ITEM_SQL, (day, advertiser, model))
    ]


def get(client: TestClient, path: str, status: int) -> dict:
    """GET without following redirects; checks the status and, for errors, the shape."""
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if status >= 400:
        assert set(body) == ERROR_KEYS and body["status"] == status
    return body


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize(
    ("alias", "model"),
    [
        ("top_ctr", "top_ctr"),
        ("TopCTR", "top_ctr"),
        ("topctr", "top_ctr"),
        ("TOP_CTR", "top_ctr"),
        ("top_product", "top_product"),
        ("TopProduct", "top_product"),
        ("TOPPRODUCT", "top_product"),
    ],
)
def test_recommendations_default_to_latest_published_date(client, published, alias, model, slash):
    advertiser = published.advertisers[3]
    body = get(client, f"/recommendations/{advertiser}/{alias}{slash}", 200)
    assert body["advertiser_id"] == advertiser
    assert body["model"] == model
    assert body["date"] == published.latest.isoformat()
    expected = items_in_marts(published, published.latest, advertiser, model)
    assert expected, "the sample should give this advertiser a list"
    assert body["recommendations"] == expected
    assert [r["rank"] for r in body["recommendations"]] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize("slash", ["", "/"])
def test_date_selects_an_older_published_day(client, published, slash):
    day = published.days[0]
    advertiser = published.advertisers[5]
    body = get(client, f"/recommendations/{advertiser}/TopProduct{slash}?date={day}", 200)
    assert body["date"] == day.isoformat()
    assert body["recommendations"] == items_in_marts(published, day, advertiser, "top_product")
    latest = get(client, f"/recommendations/{advertiser}/top_product", 200)
    assert latest["recommendations"] != body["recommendations"]


def test_active_advertiser_without_a_list_gets_an_empty_one(client, published):
    no_ads, silent = published.no_ads, published.silent
    assert get(client, f"/recommendations/{no_ads}/top_ctr", 200)["recommendations"] == []
    assert get(client, f"/recommendations/{no_ads}/top_product", 200)["recommendations"]
    for model in ("top_ctr", "top_product"):
        assert get(client, f"/recommendations/{silent}/{model}/", 200)["recommendations"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/recommendations/NOT-AN-ADVERTISER/top_ctr",
        "/recommendations/NOT-AN-ADVERTISER/TopProduct/",
        "/history/NOT-AN-ADVERTISER/",
        "/history/NOT-AN-ADVERTISER",
    ],
)
def test_unknown_advertiser_is_404(client, path):
    body = get(client, path, 404)
    assert body["code"] == "advertiser_not_found"
    assert "NOT-AN-ADVERTISER" in body["message"]


def test_injection_attempt_is_just_an_unknown_advertiser(client):
    body = get(client, "/recommendations/x' or '1'='1/top_ctr", 404)
    assert body["code"] == "advertiser_not_found"


@pytest.mark.parametrize("model", ["ctr", "top-ctr", "TopProducts", "1"])
def test_invalid_model_is_422_naming_the_allowed_values(client, published, model):
    body = get(client, f"/recommendations/{published.advertisers[1]}/{model}", 422)
    assert body["code"] == "invalid_request"
    for allowed in ("top_ctr", "top_product", "TopCTR", "TopProduct"):
        assert allowed in body["message"]
    assert body["details"][0]["location"] == ["path", "model"]


@pytest.mark.parametrize(
    "value", ["2024-13-01", "20241120", "2024-W47-3", "yesterday", "2024-11-20T00:00", "2024-02-30"]
)
def test_invalid_date_is_422_naming_the_format(client, published, value):
    body = get(client, f"/recommendations/{published.advertisers[1]}/top_ctr?date={value}", 422)
    assert "YYYY-MM-DD" in body["message"] and value in body["message"]
    assert get(client, f"/stats/?date={value}", 422)["details"][0]["location"] == ["query", "date"]


def test_unpublished_date_is_404(client, published):
    body = get(client, f"/recommendations/{published.advertisers[1]}/top_ctr?date=2024-11-21", 404)
    assert body["code"] == "date_not_published"
    assert "2024-11-21" in body["message"] and published.latest.isoformat() in body["message"]
    assert get(client, "/stats/?date=2023-01-01", 404)["code"] == "date_not_published"


@pytest.mark.parametrize("slash", ["", "/"])
def test_history_is_newest_first_with_both_models(client, published, slash):
    advertiser = published.advertisers[2]
    body = get(client, f"/history/{advertiser}{slash}", 200)
    assert body["advertiser_id"] == advertiser and body["days"] == 7
    published_dates = sorted(published.days, reverse=True)  # fewer than 7 exist
    assert [h["date"] for h in body["history"]] == [d.isoformat() for d in published_dates]
    for entry in body["history"]:
        day = dt.date.fromisoformat(entry["date"])
        for model in ("top_ctr", "top_product"):
            assert entry[model] == items_in_marts(published, day, advertiser, model)


def test_history_days_limits_to_the_latest_dates(client, published):
    advertiser = published.advertisers[2]
    body = get(client, f"/history/{advertiser}/?days=2", 200)
    assert [h["date"] for h in body["history"]] == [
        published.days[2].isoformat(),
        published.days[1].isoformat(),
    ]
    assert body["days"] == 2


@pytest.mark.parametrize("days", ["0", "-1", "91", "seven"])
def test_history_rejects_bad_days(client, published, days):
    body = get(client, f"/history/{published.advertisers[2]}/?days={days}", 422)
    assert body["details"][0]["location"] == ["query", "days"]


@pytest.mark.parametrize("path", ["/stats/", "/stats"])
def test_stats_summarise_the_latest_date(client, published, path):
    day = published.latest
    body = get(client, path, 200)
    assert body["date"] == day.isoformat()
    ((count,),) = query(
        published,
        "select count(distinct advertiser_id) from marts.recommendations where date = %s",
        (day,),
    )
    assert body["advertisers"] == count == len(published.active) - 1  # one is silent
    coverage = query(
        published,
        "select model, active_advertisers, advertisers_with_recommendations"
        " from marts.model_coverage where date = %s order by model",
        (day,),
    )
    assert [
        (c["model"], c["active_advertisers"], c["advertisers_with_recommendations"])
        for c in body["coverage"]
    ] == coverage
    assert body["agreement"]["advertisers"] == len(published.active)
    assert 0 <= body["agreement"]["mean_jaccard"] <= 1
    changed = body["most_changed"]
    assert 0 < len(changed) <= 10
    jaccards = [c["jaccard_with_previous"] for c in changed]
    assert jaccards == sorted(jaccards)
    ((lowest,),) = query(
        published,
        "select min(jaccard_with_previous)::float8 from"
        " marts.recommendation_changes where date = %s",
        (day,),
    )
    assert jaccards[0] == pytest.approx(lowest)
    assert all(c["previous_date"] == published.days[1].isoformat() for c in changed)
    freshness = body["freshness"]
    assert freshness["run_id"] == published.run_ids[day]
    assert 0 <= freshness["age_seconds"] < 3600


def test_stats_of_an_older_date(client, published):
    body = get(client, f"/stats/?date={published.days[1]}", 200)
    assert body["date"] == published.days[1].isoformat()
    assert body["freshness"]["run_id"] == published.run_ids[published.days[1]]


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_live(client, path):
    assert get(client, path, 200) == {"status": "ok"}


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_ready_names_the_latest_date(client, published, path):
    assert get(client, path, 200) == {"status": "ok", "latest_date": published.latest.isoformat()}


@pytest.mark.parametrize("path", ["/metrics", "/metrics/"])
def test_metrics(client, published, path):
    get(client, f"/recommendations/{published.advertisers[4]}/top_ctr", 200)
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 200
    assert 'adtech_api_cache_lookups_total{result="hit"}' in response.text
    assert 'handler="/recommendations/{advertiser_id}/{model}"' in response.text
    assert "adtech_api_latest_published_date_timestamp_seconds" in response.text


def test_unknown_route_is_a_json_404(client):
    assert get(client, "/nowhere", 404)["code"] == "not_found"


def test_openapi_documents_every_route_with_live_examples(client, published):
    schema = get(client, "/openapi.json", 200)
    assert set(schema["paths"]) == {
        "/recommendations/{advertiser_id}/{model}",
        "/history/{advertiser_id}/",
        "/stats/",
        "/health/live",
        "/health/ready",
    }
    for item in schema["paths"].values():
        ok = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].startswith("#/components/schemas/")
    parameters = {
        p["name"]: p
        for p in schema["paths"]["/recommendations/{advertiser_id}/{model}"]["get"]["parameters"]
    }
    examples = [e["value"] for e in parameters["advertiser_id"]["examples"].values()]
    assert examples and set(examples) <= set(published.active)
    assert [e["value"] for e in parameters["date"]["examples"].values()] == [
        published.latest.isoformat()
    ]
    assert schema["components"]["schemas"]["Recommendations"]["examples"]
