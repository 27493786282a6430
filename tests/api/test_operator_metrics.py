"""The operator gauges at /metrics (api/metrics.py, api/operator_readings.py), against the real
PostgreSQL: absent until there is something to report, equal to the database once there is,
refreshed by the publication poll, and read from memory at scrape time."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from tests.api.conftest import FAST_POLL, api_role_url, settings_for, wait_for
from tests.api.sample_marts import SAMPLE_VERSION, advertiser_ids, publish_day

D1, D2 = dt.date(2024, 11, 18), dt.date(2024, 11, 19)
OPERATOR = (
    "adtech_seconds_since_last_publication",
    "adtech_served_coverage_ratio",
    "adtech_next_day_click_hit_rate",
    "adtech_next_day_random_hit_rate",
)
# A stand-in with the columns the API reads from the evaluation mart, for a database of the
# test's own (the real mart is dbt's; the shared `published` database is checked below).
EVALUATION_DDL = """
    create table marts.evaluation_daily (
        date date not null, version bigint not null, list_date date not null, model text not null,
        click_hit_rate numeric, random_click_hit_rate numeric,
        primary key (date, version, list_date, model));
    grant select on marts.evaluation_daily to adtech_api;
"""


def scrape(client: TestClient) -> dict[str, dict[tuple, float]]:
    """{metric name: {sorted label items: value}} of one /metrics answer."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def by_model(samples: dict, name: str) -> dict[str, float]:
    return {dict(labels)["model"]: value for labels, value in samples.get(name, {}).items()}


def sql(url: str, query: str, *params) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else []


def served_coverage(url: str, day: dt.date) -> dict[str, float]:
    return dict(
        sql(
            url,
            "select model, coverage::float8 from marts.model_coverage"
            " join ops.published_days using (date, version) where date = %s",
            day,
        )
    )


def test_operator_gauges_follow_publications_and_scrapes_read_memory(fresh_db) -> None:
    from pipeline.steps.bootstrap import bootstrap

    bootstrap(fresh_db)
    with TestClient(create_app(settings_for(fresh_db))) as client:
        # Nothing published: no gauge at all (an alert must not read a missing day as 0).
        samples = scrape(client)
        assert not [name for name in OPERATOR if name in samples]

        publish_day(fresh_db, D1, advertiser_ids(6))
        samples = wait_for(
            lambda: (s := scrape(client)).get("adtech_served_coverage_ratio") and s,
            timeout=FAST_POLL * 20,
        )
        assert samples, "the coverage gauge did not appear after a publication"
        coverage = served_coverage(fresh_db, D1)
        assert set(coverage) == {"top_ctr", "top_product"}
        assert by_model(samples, "adtech_served_coverage_ratio") == pytest.approx(coverage)
        # Published a moment ago, by the database's clock.
        (age,) = sql(fresh_db, "select extract(epoch from now() - max(published_at))::float8"
                     " from ops.published_days")[0]  # fmt: skip
        since = samples["adtech_seconds_since_last_publication"][()]
        assert since == pytest.approx(age, abs=3.0)
        # No evaluation relation on this database: the hit-rate gauges are absent, not zero.
        assert "adtech_next_day_click_hit_rate" not in samples
        assert "adtech_next_day_random_hit_rate" not in samples
        # Computed at scrape time: it grows between two scrapes with no publication.
        time.sleep(1.1)
        later = scrape(client)["adtech_seconds_since_last_publication"][()]
        assert later >= since + 1.0

        # The evaluation appears; D2's publication brings D1's evaluation (the served version)
        # and D2's coverage. Rows of a version that is not served never count.
        sql(fresh_db, EVALUATION_DDL)
        unserved = SAMPLE_VERSION + 1
        sql(
            fresh_db,
            "insert into marts.evaluation_daily values"
            " (%s, %s, %s, 'top_ctr', 0.31, 0.12), (%s, %s, %s, 'top_product', 0.27, 0.12),"
            " (%s, %s, %s, 'top_ctr', 0.99, 0.01)",
            *(D2, SAMPLE_VERSION, D1) * 2,
            *(D2, unserved, D2),
        )
        publish_day(fresh_db, D2, advertiser_ids(9))
        samples = wait_for(
            lambda: (s := scrape(client)).get("adtech_next_day_click_hit_rate") and s,
            timeout=FAST_POLL * 20,
        )
        assert samples, "the hit-rate gauges did not appear with the next publication"
        assert by_model(samples, "adtech_next_day_click_hit_rate") == pytest.approx(
            {"top_ctr": 0.31, "top_product": 0.27}
        )
        assert by_model(samples, "adtech_next_day_random_hit_rate") == pytest.approx(
            {"top_ctr": 0.12, "top_product": 0.12}
        )
        coverage = served_coverage(fresh_db, D2)
        assert by_model(samples, "adtech_served_coverage_ratio") == pytest.approx(coverage)

        # Scrapes read memory: with the API's role denied the marts they come from, a burst of
        # scrapes still answers every gauge, unchanged.
        sql(fresh_db, "revoke select on marts.model_coverage, marts.evaluation_daily"
                      " from adtech_api")  # fmt: skip
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            sql(api_role_url(fresh_db), "select 1 from marts.model_coverage limit 1")
        for _ in range(20):
            again = scrape(client)
            for name in OPERATOR[1:]:
                assert again[name] == samples[name], name


def test_the_served_marts_of_a_real_run(published) -> None:
    """On the days the real pipeline published: coverage, age and hit rates as the database has
    them (marts.evaluation_daily, built by the nightly), and the request metrics the alert rules
    read, under the names and labels they use."""
    # An app of this test's own: the newest open app is the one whose readings /metrics shows.
    with TestClient(create_app(settings_for(published.url))) as client:
        advertiser = published.advertisers[0]
        for path in (f"/recommendations/{advertiser}/top_ctr", "/recommendations/NOPE/top_ctr"):
            client.get(path)
        samples = scrape(client)
    # The request metrics the alert rules read, with the labels they select on.
    handlers = {dict(k)["handler"] for k in samples["http_requests_total"]}
    assert "/recommendations/{advertiser_id}/{model}" in handlers
    statuses = {dict(k)["status"] for k in samples["http_requests_total"]}
    assert {"2xx", "4xx"} <= statuses
    assert any(
        dict(k)["handler"].startswith("/recommendations/")
        for k in samples["http_request_duration_seconds_bucket"]
    )
    rules = (Path(__file__).resolve().parents[2] / "deploy/monitoring/alerts.yml").read_text()
    # Sample names as the rules use them (`_bucket`, `_total`); the annotations' prose aside.
    used = set(re.findall(r"\b(?:adtech|http)_[a-z_]+", rules)) - {"http_request_duration_seconds"}
    missing = used - set(samples)
    assert not missing, f"the alert rules read metrics the API does not export: {missing}"
    assert by_model(samples, "adtech_served_coverage_ratio") == pytest.approx(
        served_coverage(published.url, published.latest)
    )
    (age,) = sql(published.url, "select extract(epoch from now() - max(published_at))::float8"
                 " from ops.published_days")[0]  # fmt: skip
    assert samples["adtech_seconds_since_last_publication"][()] == pytest.approx(age, abs=3.0)
    # The nightly builds the evaluation of D's lists with D + 1: the latest evaluated list day
    # is the day before the latest published one.
    rows = sql(
        published.url,
        "select list_date, model, click_hit_rate::float8, random_click_hit_rate::float8"
        " from marts.evaluation_daily join ops.published_days using (date, version)"
        " where list_date = (select max(list_date) from marts.evaluation_daily"
        "   join ops.published_days using (date, version))",
    )
    assert {day for day, *_ in rows} == {published.days[-2]}
    expected = {model: hit for _, model, hit, _ in rows}
    randoms = {model: rnd for _, model, _, rnd in rows}
    assert set(expected) == {"top_ctr", "top_product"} and None not in expected.values()
    assert by_model(samples, "adtech_next_day_random_hit_rate") == pytest.approx(randoms)
    assert by_model(samples, "adtech_next_day_click_hit_rate") == pytest.approx(expected)
