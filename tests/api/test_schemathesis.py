"""Property-based runs of the app's own OpenAPI schema against a live server on published marts:
no server error, no response that breaks the schema, invalid input rejected with a 4xx.

Driven through schemathesis's Python API with Hypothesis (its pytest loader does not work with
pytest 9 here).
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from api.main import create_app
from tests.api.conftest import live_server, settings_for

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
PATHS = {
    "/recommendations/{advertiser_id}/{model}",
    "/history/{advertiser_id}/",
    "/stats/",
    "/health/live",
    "/health/ready",
}


@pytest.fixture(scope="module")
def operations(published):
    with live_server(create_app(settings_for(published.url))) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        ops = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in ops} == PATHS
        yield ops


def run(strategy: st.SearchStrategy, max_examples: int) -> Counter:
    """Call and validate every generated case; returns how often each status was seen."""
    statuses: Counter = Counter()

    @given(case=strategy)
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call_and_validate(checks=CHECKS)
        statuses[response.status_code] += 1

    check()
    return statuses


def test_schema_examples_name_real_data(operations):
    """The examples (live: real advertisers, the latest date) all succeed."""
    seen: Counter = Counter()
    for op in operations:
        for strategy in op.get_strategies_from_examples():
            seen += run(strategy, 10)
    assert seen and set(seen) == {200}, seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_conform(operations, mode):
    seen: Counter = Counter()
    for op in operations:
        if mode is GenerationMode.NEGATIVE and not list(op.iter_parameters()):
            continue  # nothing to make invalid
        seen += run(op.as_strategy(generation_mode=mode), 30)
    assert not any(status >= 500 for status in seen), seen
    if mode is GenerationMode.NEGATIVE:
        assert 422 in seen
