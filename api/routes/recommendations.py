"""GET /recommendations/{advertiser_id}/{model}[?date=YYYY-MM-DD]"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.errors import documented
from api.models import IsoDate, ModelName, Recommendations
from api.routes.slash import get_both
from api.validation import AdvertiserId

router = APIRouter(prefix="/recommendations", tags=["recommendations"])


@get_both(
    router,
    "/{advertiser_id}/{model}",
    response_model=Recommendations,
    responses=documented(404, 422, 503),
)
async def get_recommendations(
    request: Request,
    advertiser_id: AdvertiserId,
    model: Annotated[
        ModelName,
        Path(description="top_ctr or top_product; TopCTR and TopProduct are accepted in any case"),
    ],
    date: Annotated[
        IsoDate | None,
        Query(description="a published date (YYYY-MM-DD); default: the latest published"),
    ] = None,
) -> Response:
    """The advertiser's list for one model and date, ordered by rank (served from memory)."""
    return await request.app.state.service.recommendations(advertiser_id, model, date)
