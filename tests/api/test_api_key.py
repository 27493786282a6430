"""The optional API-key check (api/security.py) on a real uvicorn server: off by default; when on,
401 JSON without the right key (cached answers included), health probes exempt, /metrics guarded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.core.config import Settings
from api.fastlane import _cached
from api.main import create_app
from tests.api.conftest import api_role_url, live_server, settings_for

KEY = "k-" + "a" * 30
OTHER_KEY = "k-" + "b" * 30  # a second key, as during a rotation
WRONG_KEYS = ["k-" + "a" * 29 + "b", "short", KEY + "x", ""]


@pytest.fixture(scope="module")
def guarded(published):
    """A live server with two keys configured, and its app (to look into its cache)."""
    app = create_app(settings_for(published.url, api_keys=f"{KEY}, {OTHER_KEY}"))
    with live_server(app) as base:
        yield base, app


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    body = response.json()
    assert body["status"] == 401 and body["code"] == "unauthorized"
    assert KEY not in response.text


def test_without_or_with_a_wrong_key_every_route_is_401(guarded, published, http):
    base, _ = guarded
    advertiser = published.advertisers[0]
    paths = [
        f"/recommendations/{advertiser}/top_ctr",
        f"/history/{advertiser}/",
        "/stats/",
        "/metrics",
        "/metrics/",
        "/docs",
        "/openapi.json",
        "/no-such-route",
    ]
    for path in paths:
        assert_unauthorized(http.get(base + path))
        for wrong in WRONG_KEYS:
            assert_unauthorized(http.get(base + path, headers={"X-API-Key": wrong}))
    # The key goes in X-API-Key only, not as a bearer token or a query parameter.
    assert_unauthorized(http.get(base + paths[0], headers={"Authorization": f"Bearer {KEY}"}))
    assert_unauthorized(http.get(f"{base}{paths[0]}?api_key={KEY}"))


def test_the_right_key_is_served_and_a_cached_hit_still_needs_it(guarded, published, http):
    base, app = guarded
    advertiser = published.advertisers[3]
    path = f"/recommendations/{advertiser}/top_ctr"
    first = http.get(base + path, headers={"X-API-Key": KEY})
    assert first.status_code == 200 and first.json()["advertiser_id"] == advertiser
    # The answer is now cached: the fast lane answers this exact request from now on ...
    assert _cached(app.state.service, path, b"") is not None
    # ... but only to a caller with a key (either key of the rotation pair).
    for key in (KEY, OTHER_KEY):
        hit = http.get(base + path, headers={"X-API-Key": key})
        assert hit.status_code == 200 and hit.content == first.content
    assert_unauthorized(http.get(base + path))
    assert_unauthorized(http.get(base + path, headers={"X-API-Key": WRONG_KEYS[0]}))


def test_health_probes_need_no_key(guarded, http):
    base, _ = guarded
    for path in ("/health/live", "/health/live/", "/health/ready", "/health/ready/"):
        assert http.get(base + path).status_code == 200, path
    # Only those exact paths are exempt.
    assert_unauthorized(http.get(f"{base}/health/readyz"))


def test_metrics_need_the_key(guarded, http):
    base, _ = guarded
    assert_unauthorized(http.get(f"{base}/metrics"))
    metrics = http.get(f"{base}/metrics", headers={"X-API-Key": KEY})
    assert metrics.status_code == 200
    assert "adtech_api_cache_lookups" in metrics.text
    # Rejected requests are still counted by the instrumentator (it sits outside the check).
    assert 'status="4xx"' in metrics.text or 'status="401"' in metrics.text


def test_off_by_default(published, http, monkeypatch):
    monkeypatch.delenv("ADTECH_API_KEYS", raising=False)
    assert Settings(database_url="postgresql://x@h/db").api_keys == ()
    with live_server(create_app(settings_for(published.url))) as base:
        advertiser = published.advertisers[0]
        assert http.get(f"{base}/recommendations/{advertiser}/top_ctr").status_code == 200
        assert http.get(f"{base}/metrics").status_code == 200


def test_keys_come_from_the_environment_comma_separated(monkeypatch, published):
    monkeypatch.setenv("ADTECH_API_KEYS", f" {KEY},{OTHER_KEY} ,")
    settings = Settings(database_url=api_role_url(published.url))
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY, OTHER_KEY]
    assert KEY not in repr(settings)  # SecretStr: never printed
    monkeypatch.setenv("ADTECH_API_KEYS", "")  # empty = off (env_ignore_empty)
    assert Settings(database_url="postgresql://x@h/db").api_keys == ()


def test_short_keys_are_refused():
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(database_url="postgresql://x@h/db", api_keys="too-short")
