"""GET /history/{advertiser_id}/[?days=7]"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.errors import documented
from api.models import HISTORY_DEFAULT_DAYS, HISTORY_MAX_DAYS, History
from api.routes.slash import get_both
from api.validation import AdvertiserId

router = APIRouter(prefix="/history", tags=["history"])


@get_both(router, "/{advertiser_id}/", response_model=History, responses=documented(404, 422, 503))
async def get_history(
    request: Request,
    advertiser_id: AdvertiserId,
    days: Annotated[
        int, Query(ge=1, le=HISTORY_MAX_DAYS, description="how many of the latest published dates")
    ] = (HISTORY_DEFAULT_DAYS),
) -> Response:
    """Both models' lists for each of the last `days` published dates, newest first."""
    return await request.app.state.service.history(advertiser_id, days)
