"""The answer cache is bounded, evicts the least recently used, and never serves a wrong answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.cache import LRUCache
from api.main import create_app
from tests.api.conftest import settings_for


def test_lru_keeps_at_most_max_entries_and_evicts_the_least_recently_used():
    cache: LRUCache[int] = LRUCache(3)
    for i in range(3):
        cache.put(i, i)
    assert cache.get(0) == 0  # 0 is now the most recently used
    cache.put(3, 3)
    assert len(cache) == 3
    assert 1 not in cache and cache.get(1) is None
    assert [k for k in (0, 2, 3) if k in cache] == [0, 2, 3]


def test_app_cache_stays_bounded_and_answers_stay_right(published):
    advertisers = published.advertisers[:6]
    with TestClient(create_app(settings_for(published.url, cache_max_entries=4))) as client:
        cache = client.app.state.service.cache
        first = {}
        for advertiser in advertisers:
            for model in ("top_ctr", "top_product"):
                response = client.get(f"/recommendations/{advertiser}/{model}")
                assert response.status_code == 200
                first[advertiser, model] = response.content
                assert len(cache) <= 4
        assert len(cache) == 4
        # Evicted answers come back from the database identical; cached ones from memory.
        for (advertiser, model), body in first.items():
            assert client.get(f"/recommendations/{advertiser}/{model}").content == body
            assert len(cache) <= 4
