"""Serve a route with and without its trailing slash (the app never redirects).

The form registered (as docs/ARCHITECTURE.md writes it) goes into the OpenAPI schema; the other
is served, not documented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


def get_both(router: APIRouter, path: str, **options: Any) -> Callable:
    other = path.rstrip("/") if path.endswith("/") else path + "/"

    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=["GET"], **options)
        router.add_api_route(other, endpoint, methods=["GET"], include_in_schema=False, **options)
        return endpoint

    return register
