"""The HTML pages over HTTP (the browser tests in tests/browser render them): the root page and
the docs pages, on the shared published marts."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.sample_marts import Published


def page(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers
    return response.text


def test_root_page_names_the_latest_date_and_draws_one_point_per_date(
    client: TestClient, published: Published
) -> None:
    html = page(client, "/")
    latest = published.latest.isoformat()
    assert f'id="latest-date" datetime="{latest}"' in html
    published_dates = [d.isoformat() for d in published.days]
    coverage = html[html.index('id="chart-coverage"') :].split("</svg>", 1)[0]
    for model in ("top_ctr", "top_product"):
        dates = re.findall(
            rf'class="point"[^>]*data-series="{model}" data-date="([\d-]+)"', coverage
        )
        assert dates == published_dates
    assert "<script" not in html  # server-rendered, no script at all


def test_root_page_lookup_escapes_what_it_echoes(client: TestClient) -> None:
    html = page(client, "/?advertiser=<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="lookup-error"' in html


def test_root_page_lookup_of_a_known_advertiser(client: TestClient, published: Published) -> None:
    advertiser = published.advertisers[0]
    html = page(client, f"/?advertiser={advertiser}")
    assert f'id="lookup-result" data-advertiser="{advertiser}"' in html
    answer = client.get(f"/recommendations/{advertiser}/top_product").json()
    products = [r["product_id"] for r in answer["recommendations"]]
    table = html.split('<table class="list" data-model="top_product">', 1)[1]
    table = table.split("</table>", 1)[0]
    assert re.findall(r'<td class="product">([^<]*)</td>', table) == products


def test_root_page_validates_its_parameters(client: TestClient) -> None:
    assert client.get("/?days=0").status_code == 422
    assert client.get("/?advertiser=" + "x" * 129).status_code == 422


def test_docs_pages_use_local_assets_only(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = page(client, path)
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("/docs-assets/") for s in sources), sources
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 1000, source
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not an API route
