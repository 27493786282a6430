"""The SQL the API runs (all parameterised) and the response models built from it.

These run on cache misses only, in a worker thread. Numeric columns are cast to float8/bigint so
that rows hold plain Python numbers (no Decimal) whatever types the marts use.

The versioned marts hold every build of a day; each query joins ops.published_days on
(date, version), so it reads only the served version, and in one statement: a publish that
lands between two requests switches whole answers, never half of one.
"""

from __future__ import annotations

import datetime as dt

from api.core.db import Database
from api.evaluation import history_evaluations
from api.models import (
    MODELS,
    Agreement,
    Change,
    HistoryDay,
    ModelCoverage,
    Recommendation,
)

_ITEM = "rank::int, product_id, score::float8, views::bigint, impressions::bigint, clicks::bigint"

RECOMMENDATIONS_SQL = f"""
    select model, {_ITEM} from marts.recommendations join ops.published_days using (date, version)
    where date = %s and advertiser_id = %s
    order by model, rank
"""
# An active advertiser may have no list for either model (e.g. no impressions at all that day).
ADVERTISER_KNOWN_SQL = """
    select exists (
        select 1 from marts.model_agreement join ops.published_days using (date, version)
        where date = %s and advertiser_id = %s
    )
"""
ADVERTISER_EVER_KNOWN_SQL = """
    select exists (
        select 1 from marts.model_agreement join ops.published_days using (date, version)
        where date = any(%s) and advertiser_id = %s
    )
"""
HISTORY_SQL = f"""
    select date, model, {_ITEM}
    from marts.recommendations join ops.published_days using (date, version)
    where advertiser_id = %s and date = any(%s)
    order by date desc, model, rank
"""
ADVERTISER_COUNT_SQL = """
    select count(distinct advertiser_id)
    from marts.recommendations join ops.published_days using (date, version)
    where date = %s
"""
COVERAGE_SQL = """
    select model, active_advertisers::bigint, advertisers_with_recommendations::bigint,
           coverage::float8, avg_list_length::float8
    from marts.model_coverage join ops.published_days using (date, version)
    where date = %s order by model
"""
AGREEMENT_SQL = """
    select count(*), avg(jaccard)::float8,
           (percentile_cont(0.5) within group (order by jaccard))::float8, avg(overlap)::float8
    from marts.model_agreement join ops.published_days using (date, version)
    where date = %s
"""
MOST_CHANGED_SQL = """
    select advertiser_id, model, previous_date, kept::bigint, added::bigint, removed::bigint,
           jaccard_with_previous::float8
    from marts.recommendation_changes
    where date = %s and previous_date is not null
    order by jaccard_with_previous asc nulls last, added + removed desc, advertiser_id, model
    limit %s
"""


def _item(row: tuple) -> Recommendation:
    rank, product_id, score, views, impressions, clicks = row
    return Recommendation(
        rank=rank,
        product_id=product_id,
        score=score,
        views=views,
        impressions=impressions,
        clicks=clicks,
    )


def recommendations(
    db: Database, advertiser_id: str, day: dt.date
) -> dict[str, list[Recommendation]] | None:
    """Both models' lists in one query (ad servers ask for both); None for an unknown advertiser."""
    rows = db.fetchall(RECOMMENDATIONS_SQL, (day, advertiser_id))
    if not rows and not db.fetchone(ADVERTISER_KNOWN_SQL, (day, advertiser_id))[0]:
        return None
    lists: dict[str, list[Recommendation]] = {m: [] for m in MODELS}
    for model, *item in rows:
        lists[model].append(_item(tuple(item)))
    return lists


def history(
    db: Database,
    advertiser_id: str,
    dates: tuple[dt.date, ...],
    published: frozenset[dt.date] = frozenset(),
) -> list[HistoryDay] | None:
    """One entry per date (newest first), empty lists where the advertiser had none, each with
    the advertiser's next-day evaluation (`published`: every published date, to tell which
    dates' next day is); None when the advertiser is unknown on all of these dates."""
    by_date: dict[dt.date, dict[str, list[Recommendation]]] = {
        d: {m: [] for m in MODELS} for d in dates
    }
    rows = db.fetchall(HISTORY_SQL, (advertiser_id, list(dates)))
    if not rows and not db.fetchone(ADVERTISER_EVER_KNOWN_SQL, (list(dates), advertiser_id))[0]:
        return None
    for day, model, *item in rows:
        by_date[day][model].append(_item(tuple(item)))
    evaluations = history_evaluations(db, advertiser_id, dates, published)
    return [HistoryDay(date=d, evaluation=evaluations[d], **lists) for d, lists in by_date.items()]


def advertiser_count(db: Database, day: dt.date) -> int:
    return db.fetchone(ADVERTISER_COUNT_SQL, (day,))[0]


def coverage(db: Database, day: dt.date) -> list[ModelCoverage]:
    return [
        ModelCoverage(
            model=m,
            active_advertisers=a,
            advertisers_with_recommendations=w,
            coverage=c,
            avg_list_length=avg,
        )
        for m, a, w, c, avg in db.fetchall(COVERAGE_SQL, (day,))
    ]


def agreement(db: Database, day: dt.date) -> Agreement:
    count, mean_jaccard, median_jaccard, mean_overlap = db.fetchone(AGREEMENT_SQL, (day,))
    return Agreement(
        advertisers=count,
        mean_jaccard=mean_jaccard,
        median_jaccard=median_jaccard,
        mean_overlap=mean_overlap,
    )


def most_changed(db: Database, day: dt.date, limit: int = 10) -> list[Change]:
    return [
        Change(
            advertiser_id=a,
            model=m,
            previous_date=p,
            kept=k,
            added=ad,
            removed=r,
            jaccard_with_previous=j,
        )
        for a, m, p, k, ad, r, j in db.fetchall(MOST_CHANGED_SQL, (day, limit))
    ]
