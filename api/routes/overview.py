"""GET / : the latest published date at a glance (HTML), with an advertiser lookup form.

The page is built from the Service's own answers (/stats/ for the numbers, /history/ for the
lookup), so it shows exactly what the JSON routes return; only the charts' series have their own
SQL, cached per state of ops.published_days. Not in the OpenAPI schema (it is not JSON).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.core.db import DatabaseUnavailable
from api.errors import RETRY_AFTER_SECONDS, ApiError
from api.models import HISTORY_DEFAULT_DAYS, HISTORY_MAX_DAYS, History, Stats
from api.overview import page
from api.overview.queries import TrendDay, trends
from api.validation import AdvertiserLookup

if TYPE_CHECKING:
    from api.publications import Snapshot
    from api.service import Service

router = APIRouter(tags=["overview"])
# The page is self-contained: inline CSS and SVG, no script, nothing from another origin.
CSP = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}
CHART_DEFAULT_DAYS = 14


class TrendCache:
    """The chart series per number of days, valid for one head of ops.published_days."""

    def __init__(self) -> None:
        self.head: tuple | None = None
        self.entries: dict[int, list[TrendDay]] = {}

    async def get(self, service: Service, snapshot: Snapshot, days: int) -> list[TrendDay]:
        if snapshot.head != self.head:
            self.head, self.entries = snapshot.head, {}
        if days not in self.entries:
            dates = snapshot.dates[:days]
            self.entries[days] = await run_in_threadpool(trends, service.db, dates)
        return self.entries[days]


async def _lookup(service: Service, advertiser_id: str) -> page.Lookup:
    try:
        answer = await service.history(advertiser_id, HISTORY_DEFAULT_DAYS)
    except (ApiError, DatabaseUnavailable) as exc:
        return page.Lookup(advertiser_id, error=str(exc))
    if answer.status_code != 200:
        return page.Lookup(advertiser_id, error=orjson.loads(answer.body)["message"])
    return page.Lookup(advertiser_id, history=History.model_validate_json(answer.body))


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
async def overview(
    request: Request,
    advertiser: Annotated[AdvertiserLookup, Query()] = None,  # a bad id is a 422, before any query
    days: Annotated[int, Query(ge=1, le=HISTORY_MAX_DAYS)] = CHART_DEFAULT_DAYS,
) -> HTMLResponse:
    service: Service = request.app.state.service
    snapshot = service.publications.snapshot  # one snapshot for the whole page
    state = request.app.state
    if getattr(state, "overview_trends", None) is None:
        state.overview_trends = TrendCache()
    try:
        stats = Stats.model_validate_json((await service.stats(snapshot.latest)).body)
        trend = await state.overview_trends.get(service, snapshot, days)
    except (ApiError, DatabaseUnavailable) as exc:
        status = exc.status if isinstance(exc, ApiError) else 503
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
        return HTMLResponse(page.render_unavailable(str(exc)), status, headers)
    advertiser = (advertiser or "").strip()
    lookup = await _lookup(service, advertiser) if advertiser else None
    suggestions = list(
        dict.fromkeys(
            [*snapshot.sample_advertisers, *(c.advertiser_id for c in stats.most_changed)]
        )
    )
    html = page.render(stats, trend, lookup, suggestions, published_dates=len(snapshot.dates))
    return HTMLResponse(html, headers={"Cache-Control": "no-store", **CSP})
