"""The hot path: answer cached /recommendations requests before FastAPI's routing.

Ad servers ask for the same few thousand answers all day, and they never change once published.
Measured on this project's machine, FastAPI's per-request parameter solving costs more than the
lookup itself, so a cache hit is answered here, as a plain ASGI middleware, with the bytes the
FastAPI route cached earlier. Everything else (misses, other routes, anything unusual in the
URL) goes on to the FastAPI route, which stays the one place that validates, documents (OpenAPI,
response model) and fills the cache. A hit here is the same answer that route would give, since
the key is made by the same parsing functions from the same snapshot of published dates.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic_core import PydanticCustomError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.models import iso_date, model_name
from api.validation import ADVERTISER_ID_MAX_LENGTH, FORBIDDEN_CHARACTERS

if TYPE_CHECKING:
    from api.service import Answer, Service

# Only ids that api.validation accepts can match: anything else goes to FastAPI's 422.
_PATH = re.compile(
    f"/recommendations/([^/{FORBIDDEN_CHARACTERS}]{{1,{ADVERTISER_ID_MAX_LENGTH}}})/([^/]+)/?"
)
_DATE_QUERY = re.compile(rb"date=(\d{4}-\d{2}-\d{2})")


class CachedRecommendations:
    """Pure ASGI middleware; finds the running Service on the app's state (set by the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            service: Service | None = getattr(scope["app"].state, "service", None)
            answer = service and _cached(service, scope["path"], scope["query_string"])
            if answer:
                await send(
                    {
                        "type": "http.response.start",
                        "status": answer.status,
                        "headers": answer.headers,
                    }
                )
                await send({"type": "http.response.body", "body": answer.body})
                return
        await self.app(scope, receive, send)


def _cached(service: Service, path: str, query: bytes) -> Answer | None:
    """The cached answer for this exact request, or None to let FastAPI handle it."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    try:
        model = model_name(match[2])
        if not query:
            day = None
        elif date := _DATE_QUERY.fullmatch(query):
            day = iso_date(date[1].decode())
        else:
            return None
    except PydanticCustomError:
        return None  # FastAPI answers the 422
    return service.cached_recommendations(match[1], model, day)
