"""Hostile input never gets a 5xx: every path and query parameter of every route (the JSON
routes, the root page's lookup, the docs and their assets, /metrics), fuzzed with control
characters (NUL first), invalid UTF-8 escapes, very long values, path traversal, SQL fragments
and unicode, against the real app on published marts, through a real uvicorn server (so the fast
lane and uvicorn's own URL decoding are in the path) and through TestClient.

Every answer is 200 or a 4xx with the API's JSON error body; an id that cannot be an advertiser
id is a 422 naming the rule, before any query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.main import create_app
from api.validation import ADVERTISER_ID_MAX_LENGTH
from tests.api.conftest import live_server, settings_for

# Values as they go on the wire (already percent-encoded where needed), so that bytes that are
# not UTF-8 reach the server as they are.
RAW_HOSTILE = [
    "%00",
    "a%00b",
    "%00%00%00",
    "%01",
    "%09",
    "%0A",
    "%0D%0A",
    "%1F",
    "%7F",
    "%C2%80",  # U+0080, a C1 control
    "%C2%9F",
    "%FF",
    "%C0%AF",  # overlong "/"
    "%ED%A0%80",  # an encoded surrogate
    "%E2%82",  # truncated sequence
    "a%FFb",
    "%",
    "%zz",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2F..%2F",
    "..",
    ".",
    "%2F",
    "a" * 129,
    "a" * 5_000,
    "%00" * 300,
]
TEXT_HOSTILE = [
    "' or 1=1 --",
    "'; drop table marts.recommendations; --",
    "1 union select * from pg_user",
    '" OR ""="',
    "\\",
    "$1",
    "%s",
    "{advertiser_id}",
    "ÄÖÜ",
    "广告主",
    "🙂" * 40,
    "\u200b",  # zero-width space
    "\ufeff",
    "\u202e",  # right-to-left override
    "\uff21\uff22\uff23",  # fullwidth ABC
    " ",
    "a b",
    "null",
    "-1",
    "9" * 40,
]
CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]


def wire(text: str) -> str:
    """Percent-encode a value for a path segment or a query value (every reserved byte)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


HOSTILE = RAW_HOSTILE + [wire(v) for v in TEXT_HOSTILE + CONTROL_CHARACTERS]

# Every route and every parameter in it ({} is the fuzzed value, in wire form).
TEMPLATES = [
    "/recommendations/{}/top_ctr",
    "/recommendations/{}/TopProduct/",
    "/recommendations/{adv}/{}",
    "/recommendations/{adv}/top_ctr?date={}",
    "/recommendations/{}/top_product?date={day}",
    "/recommendations/{adv}/top_ctr?date={day}&date={}",
    "/history/{}/",
    "/history/{}",
    "/history/{adv}/?days={}",
    "/history/{}/?days=2",
    "/stats/?date={}",
    "/stats?date={}",
    "/health/live?x={}",
    "/health/ready/?{}",
    "/recommendations/{adv}/top_ctr?{}",
    "/?advertiser={}",
    "/?advertiser={adv}&days={}",
    "/?days=3&advertiser={}",
    "/metrics?{}",
    "/openapi.json?{}",
    "/docs?{}",
    "/docs-assets/{}",
    "/docs-assets/{}/swagger-ui.css",
    "/{}",
    "/recommendations/{}",
    "/history/{}/{}",
]
# Routes that answer 200 with something other than JSON (HTML pages, Prometheus text, assets).
NOT_JSON = ("/", "/docs", "/redoc", "/metrics", "/docs-assets/")


def fill(template: str, value: str, adv: str, day: str) -> str:
    return template.replace("{adv}", adv).replace("{day}", day).replace("{}", value)


def check(response: httpx.Response, target: str) -> int:
    """The rules every answer follows; returns the status."""
    status = response.status_code
    assert status < 500, f"{target} -> {status}: {response.text[:300]}"
    if status >= 400:
        assert status < 500
        assert response.headers["content-type"] == "application/json", target
        body = response.json()
        assert set(body) == {"status", "code", "message", "details"}, (target, body)
        assert body["status"] == status and body["code"] and body["message"], (target, body)
    else:
        assert status == 200, (target, status)
        # Starlette's route regexes end in `$`, which also matches before a final newline:
        # "/%0A" is the root page.
        path = response.request.url.path.removesuffix("\n")
        if (path.rstrip("/") or "/") in NOT_JSON or path.startswith(NOT_JSON[-1]):
            assert response.headers["content-type"] != "application/json", target
        else:
            assert response.headers["content-type"] == "application/json", target
            response.json()
    return status


@pytest.fixture(scope="module")
def server(published) -> Iterator[httpx.Client]:
    with (
        live_server(create_app(settings_for(published.url))) as base,
        httpx.Client(base_url=base, timeout=20) as http,
    ):
        yield http


@pytest.fixture(scope="module", params=["uvicorn", "testclient"])
def call(request, published, client) -> Callable[[str], httpx.Response]:
    """GET through one of the two ways in, with the cache already holding valid answers (so
    that the fast lane answers what it can)."""
    transport = request.getfixturevalue("server") if request.param == "uvicorn" else client
    adv, day = published.advertisers[0], published.latest.isoformat()
    for warm in (f"/recommendations/{adv}/top_ctr", f"/recommendations/{adv}/top_ctr?date={day}"):
        assert transport.get(warm).status_code == 200
    return transport.get


def test_the_reported_requests_get_a_422_naming_the_rule(call):
    for target in (
        "/recommendations/%00/top_ctr",
        "/recommendations/a%00b/top_product",
        "/history/%00/",
        "/?advertiser=%00",
    ):
        response = call(target)
        assert check(response, target) == 422
        body = response.json()
        assert body["code"] == "invalid_request"
        assert "control character" in body["message"] and "U+0000" in body["message"]
        assert body["details"][0]["location"] in (
            ["path", "advertiser_id"],
            ["query", "advertiser"],
        )


def test_every_control_character_and_overlong_id_is_rejected_before_any_query(call, published):
    day = published.latest.isoformat()
    for char in CONTROL_CHARACTERS:
        for target in (
            f"/recommendations/{wire('ab' + char)}/top_ctr",
            f"/recommendations/{wire(char)}/top_ctr?date={day}",
            f"/history/{wire(char + 'ab')}/",
            f"/?advertiser={wire('a' + char + 'b')}",
        ):
            response = call(target)
            assert check(response, target) == 422, target
            assert f"U+{ord(char):04X}" in response.json()["message"], target
    for length in (ADVERTISER_ID_MAX_LENGTH + 1, 5_000):
        for target in (
            f"/recommendations/{'a' * length}/top_ctr",
            f"/history/{'a' * length}/",
            f"/?advertiser={'a' * length}",
        ):
            response = call(target)
            assert check(response, target) == 422
            assert f"got {length} characters" in response.json()["message"]


def test_every_route_and_parameter_with_hostile_values(call, published):
    adv, day = published.advertisers[0], published.latest.isoformat()
    seen: Counter = Counter()
    for template in TEMPLATES:
        for value in HOSTILE:
            target = fill(template, value, adv, day)
            seen[check(call(target), target)] += 1
    # The corpus reaches the validation (422), the routing (404) and, for ignored parameters, 200.
    assert {200, 404, 422} <= set(seen), seen


# Generated values: any unicode (surrogates and controls included) and arbitrary bytes.
_text = st.text(st.characters(exclude_categories=()), min_size=0, max_size=200)
_bytes = st.binary(min_size=1, max_size=200).map(lambda b: quote(b, safe=""))
_values = st.one_of(_text.map(wire), _bytes, st.sampled_from(HOSTILE))


def test_generated_values_in_every_parameter(call, published):
    adv, day = published.advertisers[0], published.latest.isoformat()
    seen: Counter = Counter()

    @given(template=st.sampled_from(TEMPLATES), value=_values)
    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def one(template: str, value: str) -> None:
        target = fill(template, value, adv, day)
        seen[check(call(target), target)] += 1

    one()
    assert sum(seen.values()) >= 300 and 422 in seen, seen
