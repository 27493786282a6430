"""The database stops and restarts under a running server: fast 503s, then recovery on its own.

A dedicated PostgreSQL (not the session stack's) so that stopping it disturbs no other test.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from devstack.postgres import LocalPostgres
from tests.api.conftest import FAST_POLL, free_port, live_server, settings_for, wait_for
from tests.api.sample_marts import advertiser_ids, fill_published_marts, publish_day

DAYS = [dt.date(2024, 11, 18), dt.date(2024, 11, 19)]
NEXT_DAY = dt.date(2024, 11, 20)


@pytest.fixture
def own_postgres():
    root = Path(tempfile.mkdtemp(prefix="adtech-api-outage-"))
    root.chmod(0o755)
    pg = LocalPostgres(root / "pg", free_port())
    pg.start()
    yield pg
    pg.destroy()
    shutil.rmtree(root, ignore_errors=True)


def test_database_outage_gives_fast_503_then_recovers(own_postgres, http):
    url = own_postgres.url()
    published = fill_published_marts(url, DAYS, advertisers=8)
    cached, uncached = published.advertisers[1], published.advertisers[2]
    app = create_app(settings_for(url, connect_timeout_seconds=2))
    with live_server(app) as base:
        assert http.get(f"{base}/recommendations/{cached}/top_ctr").status_code == 200
        assert http.get(f"{base}/health/ready").status_code == 200

        own_postgres.stop()
        started = time.monotonic()
        down = http.get(f"{base}/recommendations/{uncached}/top_ctr")
        assert time.monotonic() - started < 3, "a dead database must not hang requests"
        assert down.status_code == 503
        assert down.headers["retry-after"]
        body = down.json()
        assert body["code"] == "database_unavailable" and "Traceback" not in down.text
        ready = http.get(f"{base}/health/ready")
        assert ready.status_code == 503 and ready.json()["code"] == "database_unavailable"
        # Published days never change: what is cached is still served while the database is down.
        assert http.get(f"{base}/recommendations/{cached}/top_ctr").status_code == 200
        assert http.get(f"{base}/recommendations/{cached}/top_product").status_code == 200

        own_postgres.start()
        recovered = wait_for(
            lambda: http.get(f"{base}/recommendations/{uncached}/top_ctr").status_code == 200,
            timeout=10,
        )
        assert recovered, "the service did not recover after the database came back"
        assert http.get(f"{base}/health/ready").status_code == 200
        # The publication watcher recovered too: a day published now is served by default.
        publish_day(url, NEXT_DAY, advertiser_ids(8))
        moved = wait_for(
            lambda: (
                http.get(f"{base}/recommendations/{uncached}/top_ctr").json()["date"]
                == NEXT_DAY.isoformat()
            ),
            timeout=FAST_POLL * 10,
        )
        assert moved, "the new day was not picked up after the outage"


def test_service_starts_while_the_database_is_down_and_serves_once_it_is_up(own_postgres):
    url = own_postgres.url()
    published = fill_published_marts(url, DAYS, advertisers=4)
    path = f"/recommendations/{published.advertisers[0]}/top_ctr"
    own_postgres.stop()
    with TestClient(create_app(settings_for(url))) as client:
        assert client.get("/health/live").status_code == 200
        for probe in (path, "/health/ready", "/stats/"):
            response = client.get(probe)
            assert response.status_code == 503, probe
            assert response.json()["code"] == "database_unavailable"
        own_postgres.start()
        served = wait_for(lambda: client.get(path).status_code == 200, timeout=FAST_POLL * 20)
        assert served, "the service did not start serving once the database was up"
        assert client.get(path).json()["date"] == published.latest.isoformat()
