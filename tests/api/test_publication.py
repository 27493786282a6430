"""A newly published day replaces the old one in default answers within the poll interval."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import FAST_POLL, settings_for, wait_for
from tests.api.sample_marts import advertiser_ids, fill_published_marts, publish_day

D1, D2 = dt.date(2024, 11, 18), dt.date(2024, 11, 19)


def test_new_day_is_served_by_default_once_published(fresh_db):
    first = fill_published_marts(fresh_db, [D1], advertisers=6)
    advertiser = first.advertisers[2]
    path = f"/recommendations/{advertiser}/top_product"
    with TestClient(create_app(settings_for(fresh_db))) as client:
        old = client.get(path).json()
        assert old["date"] == D1.isoformat()
        assert client.get("/stats/").json()["date"] == D1.isoformat()
        assert [h["date"] for h in client.get(f"/history/{advertiser}/").json()["history"]] == [
            D1.isoformat()
        ]
        # The marts rows of D2 are written but D2 is not yet published: still D1.
        publish_day(fresh_db, D2, advertiser_ids(6))
        new = wait_for(
            lambda: (b := client.get(path).json())["date"] == D2.isoformat() and b,
            timeout=FAST_POLL * 10,
        )
        assert new, "the new day was not served within the poll interval"
        assert new["recommendations"] != old["recommendations"]
        # The old day stays available by date, unchanged; every default answer moved on.
        assert client.get(f"{path}?date={D1}").json() == old
        assert client.get("/stats/").json()["date"] == D2.isoformat()
        assert [h["date"] for h in client.get(f"/history/{advertiser}/").json()["history"]] == [
            D2.isoformat(),
            D1.isoformat(),
        ]
        assert client.get("/health/ready").json()["latest_date"] == D2.isoformat()


def test_nothing_published_yet_is_503_then_served(fresh_db):
    from pipeline.steps.bootstrap import bootstrap

    bootstrap(fresh_db)
    with TestClient(create_app(settings_for(fresh_db))) as client:
        for path in ("/recommendations/ANY/top_ctr", "/history/ANY/", "/stats/", "/health/ready"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.json()["code"] == "nothing_published"
        published = fill_published_marts(fresh_db, [D1], advertisers=3)
        path = f"/recommendations/{published.advertisers[0]}/top_ctr"
        assert wait_for(lambda: client.get(path).status_code == 200, timeout=FAST_POLL * 10)
