"""The fast lane (api/fastlane.py) answers only cache hits, byte for byte what the route cached,
and hands everything unusual to FastAPI."""

from __future__ import annotations

import pytest

from api.fastlane import _cached


@pytest.fixture
def cached(client, published):
    """An advertiser whose answers the FastAPI route has just cached (both models, one query)."""
    advertiser = published.advertisers[6]
    first = client.get(f"/recommendations/{advertiser}/TopCTR")
    assert first.status_code == 200
    return advertiser, first


def test_hits_are_what_the_route_cached(client, published, cached):
    advertiser, first = cached
    service = client.app.state.service
    day = published.latest.isoformat()
    for path, query in [
        (f"/recommendations/{advertiser}/top_ctr", b""),
        (f"/recommendations/{advertiser}/TOPCTR/", b""),
        (f"/recommendations/{advertiser}/top_ctr", f"date={day}".encode()),
    ]:
        answer = _cached(service, path, query)
        assert answer is not None and answer.status == 200 and answer.body == first.content
    second = client.get(f"/recommendations/{advertiser}/top_ctr/")
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert int(second.headers["content-length"]) == len(first.content)
    product = _cached(service, f"/recommendations/{advertiser}/top_product", b"")
    assert product is not None and b'"model":"top_product"' in product.body


def test_anything_else_goes_to_fastapi(client, published, cached):
    advertiser, _ = cached
    service = client.app.state.service
    base = f"/recommendations/{advertiser}"
    for path, query in [
        (f"{base}/top_ctr", f"date={published.latest}&extra=1".encode()),
        (f"{base}/top_ctr", b"date=2024-13-01"),
        (f"{base}/top_ctr", b"date=2024-11-21"),  # not published
        (f"{base}/ctr", b""),
        (f"/history/{advertiser}/", b""),
        ("/recommendations/NEVER-ASKED-FOR/top_ctr", b""),
    ]:
        assert _cached(service, path, query) is None, (path, query)
    # ... and FastAPI gives them their proper answers.
    assert client.get(f"{base}/top_ctr?date={published.latest}&extra=1").status_code == 200
    assert client.get(f"{base}/top_ctr?date=2024-13-01").status_code == 422
    assert client.get(f"{base}/top_ctr?date=2024-11-21").status_code == 404
