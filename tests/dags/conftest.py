from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dbt_manifest(stack) -> str:
    """target/manifest.json, which the DAG renders its dbt task groups from (no database needed)."""
    from pipeline.transform import dbt_parse

    return str(dbt_parse())
