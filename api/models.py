"""Request parameter types and response models (they are the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

MODELS = ("top_ctr", "top_product")
ModelId = Literal["top_ctr", "top_product"]
HISTORY_DEFAULT_DAYS = 7
HISTORY_MAX_DAYS = 90
_ALIASES = {
    "top_ctr": "top_ctr",
    "topctr": "top_ctr",
    "top_product": "top_product",
    "topproduct": "top_product",
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def model_name(value: object) -> str:
    """top_ctr / top_product, or the statement's TopCTR / TopProduct, in any case."""
    if isinstance(value, str) and (name := _ALIASES.get(value.lower())):
        return name
    raise PydanticCustomError(
        "model_name",
        "must be one of top_ctr, top_product (or TopCTR, TopProduct, in any case); got '{value}'",
        {"value": str(value)},
    )


def iso_date(value: object) -> dt.date:
    """Only YYYY-MM-DD (date.fromisoformat alone would also take 20240101 or 2024-W01-1)."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "date_format",
        "must be a calendar date written YYYY-MM-DD; got '{value}'",
        {"value": str(value)},
    )


ModelName = Annotated[ModelId, BeforeValidator(model_name)]
IsoDate = Annotated[dt.date, BeforeValidator(iso_date)]


class Recommendation(BaseModel):
    """One recommended product. TopCTR rows carry impressions and clicks (score = CTR);
    TopProduct rows carry views (score = views)."""

    rank: int = Field(ge=1)
    product_id: str
    score: float
    views: int | None = None
    impressions: int | None = None
    clicks: int | None = None


_EXAMPLE_ITEMS = [
    {
        "rank": 1,
        "product_id": "kczdli",
        "score": 0.25,
        "views": None,
        "impressions": 8,
        "clicks": 2,
    },
    {"rank": 2, "product_id": "bnb7hm", "score": 0.2, "views": None, "impressions": 5, "clicks": 1},
]


class Recommendations(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "advertiser_id": "8C88YB6E8YCGWU07HA7A",
                    "model": "top_ctr",
                    "date": "2024-11-20",
                    "recommendations": _EXAMPLE_ITEMS,
                }
            ]
        }
    )

    advertiser_id: str
    model: ModelId
    date: dt.date
    recommendations: list[Recommendation] = Field(description="ordered by rank")


class AdvertiserEvaluation(BaseModel):
    """One advertiser's list of one model measured against the next day's events
    (docs/ARCHITECTURE.md, "Next-day evaluation"). Rates are null where their denominator is 0."""

    model: ModelId
    list_length: int
    products: int = Field(description="the advertiser's products with events on the next day")
    clicks: int
    clicks_on_list: int
    click_hit_rate: float | None = Field(description="clicks_on_list / clicks")
    random_click_hit_rate: float | None = Field(
        description="expected click hit rate of top_n products drawn at random from `products`"
    )
    views: int
    views_on_list: int
    view_hit_rate: float | None
    impressions: int
    impressions_on_list: int
    impression_hit_rate: float | None
    listed_ctr: float | None = Field(description="next-day CTR of the listed products")
    all_ctr: float | None = Field(description="next-day CTR of all the advertiser's products")


class DayEvaluation(BaseModel):
    """The evaluation of one date's lists by the next day's events, or why there is none."""

    evaluated_on: dt.date = Field(description="the next day, whose events measure the lists")
    available: bool
    reason: str | None = Field(
        default=None, description="why the evaluation is absent, or what to know about it"
    )


class HistoryEvaluation(DayEvaluation):
    models: list[AdvertiserEvaluation] = Field(default_factory=list)


class HistoryDay(BaseModel):
    date: dt.date
    top_ctr: list[Recommendation]
    top_product: list[Recommendation]
    evaluation: HistoryEvaluation = Field(
        description="the advertiser's own next-day figures for this date's lists"
    )


class History(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "advertiser_id": "8C88YB6E8YCGWU07HA7A",
                    "days": 7,
                    "history": [
                        {
                            "date": "2024-11-20",
                            "top_ctr": _EXAMPLE_ITEMS,
                            "top_product": [],
                            "evaluation": {
                                "evaluated_on": "2024-11-21",
                                "available": False,
                                "reason": "2024-11-21 is not published yet",
                                "models": [],
                            },
                        }
                    ],
                }
            ]
        }
    )

    advertiser_id: str
    days: int = Field(description="how many published dates were asked for")
    history: list[HistoryDay] = Field(description="one entry per published date, newest first")


class ModelCoverage(BaseModel):
    model: ModelId
    active_advertisers: int
    advertisers_with_recommendations: int
    coverage: float = Field(description="advertisers_with_recommendations / active_advertisers")
    avg_list_length: float


class Agreement(BaseModel):
    """How alike the two models' lists are, over the day's advertisers."""

    advertisers: int
    mean_jaccard: float | None
    median_jaccard: float | None
    mean_overlap: float | None


class Change(BaseModel):
    advertiser_id: str
    model: ModelId
    previous_date: dt.date
    kept: int
    added: int
    removed: int
    jaccard_with_previous: float | None


class ModelEvaluation(BaseModel):
    """One model's lists of the date, over all advertisers, against the next day's events.
    Micro averages pool the events; `_macro` ones average the advertisers' own rates; `random_`
    ones are a list of top_n products drawn at random. Null where the denominator is 0."""

    model: ModelId
    advertisers: int = Field(description="advertisers with a list of this model")
    advertisers_with_clicks: int = Field(description="of those, with clicks on the next day")
    clicks: int
    clicks_on_list: int
    click_hit_rate: float | None = Field(description="clicks_on_list / clicks (micro)")
    random_click_hit_rate: float | None
    click_hit_rate_macro: float | None
    random_click_hit_rate_macro: float | None
    views: int
    view_hit_rate: float | None
    random_view_hit_rate: float | None
    impressions: int
    impression_hit_rate: float | None
    random_impression_hit_rate: float | None
    listed_ctr: float | None = Field(description="next-day CTR of the listed products")
    all_ctr: float | None = Field(description="next-day CTR of all the advertisers' products")


class StatsEvaluation(DayEvaluation):
    models: list[ModelEvaluation] = Field(default_factory=list)


class Freshness(BaseModel):
    run_id: str
    published_at: dt.datetime
    age_seconds: float = Field(description="seconds since the date was published")


class Stats(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2024-11-20",
                    "advertisers": 200,
                    "coverage": [
                        {
                            "model": "top_ctr",
                            "active_advertisers": 200,
                            "advertisers_with_recommendations": 198,
                            "coverage": 0.99,
                            "avg_list_length": 19.6,
                        }
                    ],
                    "agreement": {
                        "advertisers": 200,
                        "mean_jaccard": 0.12,
                        "median_jaccard": 0.1,
                        "mean_overlap": 3.4,
                    },
                    "most_changed": [
                        {
                            "advertiser_id": "8C88YB6E8YCGWU07HA7A",
                            "model": "top_ctr",
                            "previous_date": "2024-11-19",
                            "kept": 2,
                            "added": 18,
                            "removed": 18,
                            "jaccard_with_previous": 0.05,
                        }
                    ],
                    "evaluation": {
                        "evaluated_on": "2024-11-21",
                        "available": False,
                        "reason": "2024-11-21 is not published yet",
                        "models": [],
                    },
                    "freshness": {
                        "run_id": "run-2024-11-20",
                        "published_at": "2024-11-21T02:10:00Z",
                        "age_seconds": 3600.0,
                    },
                }
            ]
        }
    )

    date: dt.date
    advertisers: int = Field(description="advertisers with recommendations on this date")
    coverage: list[ModelCoverage]
    agreement: Agreement
    most_changed: list[Change] = Field(
        description="the advertisers whose lists changed most since the previous published date"
    )
    evaluation: StatsEvaluation = Field(
        description="this date's lists against the next day's events, once that day is published"
    )
    freshness: Freshness


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ok"] = "ok"
    latest_date: dt.date


class ErrorDetail(BaseModel):
    location: list[str | int]
    message: str


class ErrorBody(BaseModel):
    """Every error has this shape, whatever its status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": 404,
                    "code": "advertiser_not_found",
                    "message": "advertiser 'NOPE' has no recommendations on 2024-11-20",
                    "details": [],
                }
            ]
        }
    )

    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []
