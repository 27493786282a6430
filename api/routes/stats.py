"""GET /stats/[?date=YYYY-MM-DD]"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.errors import documented
from api.models import IsoDate, Stats
from api.routes.slash import get_both

router = APIRouter(prefix="/stats", tags=["stats"])


@get_both(router, "/", response_model=Stats, responses=documented(404, 422, 503))
async def get_stats(
    request: Request,
    date: Annotated[
        IsoDate | None,
        Query(description="a published date (YYYY-MM-DD); default: the latest published"),
    ] = None,
) -> Response:
    """The day's summary: advertisers, per-model coverage, agreement between the models,
    the advertisers whose lists changed most since the previous date, and freshness."""
    return await request.app.state.service.stats(date)
