"""OpenAPI examples taken from what is published now.

Path and query examples name real advertisers and the latest published date, so that readers of
/docs (and schemathesis's example phase) try requests that succeed.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI


def install_live_examples(app: FastAPI) -> None:
    static_openapi = app.openapi  # FastAPI builds the schema once and caches it

    def openapi() -> dict[str, Any]:
        schema = static_openapi()
        service = getattr(app.state, "service", None)
        if service is None:
            return schema
        snapshot = service.publications.snapshot
        return with_examples(schema, snapshot.sample_advertisers, snapshot.latest)

    app.openapi = openapi  # type: ignore[method-assign]


def with_examples(
    schema: dict[str, Any], advertisers: tuple[str, ...], latest: Any
) -> dict[str, Any]:
    values: dict[str, list[Any]] = {"model": ["top_ctr", "top_product"]}
    if advertisers:
        values["advertiser_id"] = list(advertisers)
    if latest is not None:
        values["date"] = [latest.isoformat()]
    schema = copy.deepcopy(schema)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                examples = values.get(parameter["name"])
                if examples:
                    parameter["examples"] = {
                        f"example{i}": {"value": v} for i, v in enumerate(examples, 1)
                    }
    return schema
