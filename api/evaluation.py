"""The next-day evaluation the API serves: the SQL (parameterised, marts.* and
ops.published_days only) and the response models built from it.

The lists of date D are measured by the build of D + 1 (marts.evaluation_daily and
marts.evaluation_by_advertiser hold them under date = D + 1, list_date = D). So an evaluation is
read from D + 1's served version, joined on (date, version) like every other query, and exists
only once D + 1 is published; until then the answer says so instead.
"""

from __future__ import annotations

import datetime as dt

from api.core.db import Database
from api.models import AdvertiserEvaluation, HistoryEvaluation, ModelEvaluation, StatsEvaluation

# A database whose nightly has not built the evaluation yet (upgraded before its next build)
# answers without it rather than with an error.
BUILT_SQL = "select to_regclass('marts.evaluation_daily') is not null"

_DAILY_COLUMNS = (
    "model, advertisers::bigint, advertisers_with_clicks::bigint, clicks::bigint,"
    " clicks_on_list::bigint, click_hit_rate::float8, random_click_hit_rate::float8,"
    " click_hit_rate_macro::float8, random_click_hit_rate_macro::float8, views::bigint,"
    " view_hit_rate::float8, random_view_hit_rate::float8, impressions::bigint,"
    " impression_hit_rate::float8, random_impression_hit_rate::float8, listed_ctr::float8,"
    " all_ctr::float8"
)
DAILY_SQL = f"""
    select {_DAILY_COLUMNS}, e.list_version = l.version as of_served_lists
    from marts.evaluation_daily e
    join ops.published_days p on p.date = e.date and p.version = e.version
    left join ops.published_days l on l.date = e.list_date
    where e.date = %s and e.list_date = %s
    order by model
"""
_ADVERTISER_COLUMNS = (
    "model, list_length::bigint, products::bigint, clicks::bigint, clicks_on_list::bigint,"
    " click_hit_rate::float8, random_click_hit_rate::float8, views::bigint,"
    " views_on_list::bigint, view_hit_rate::float8, impressions::bigint,"
    " impressions_on_list::bigint, impression_hit_rate::float8, listed_ctr::float8,"
    " all_ctr::float8"
)
ADVERTISER_SQL = f"""
    select e.list_date, {_ADVERTISER_COLUMNS}, e.list_version = l.version as of_served_lists
    from marts.evaluation_by_advertiser e
    join ops.published_days p on p.date = e.date and p.version = e.version
    left join ops.published_days l on l.date = e.list_date
    where e.advertiser_id = %s and e.list_date = any(%s)
    order by e.list_date desc, model
"""


def _next(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def _absent_reason(day: dt.date, next_published: bool, built: bool) -> str:
    following = _next(day).isoformat()
    if not next_published:
        return (
            f"{following} is not published yet: {day.isoformat()}'s lists are measured"
            " against its events once it is"
        )
    if not built:
        return "the evaluation marts are not built in this database yet"
    return (
        f"{following}'s published build holds no evaluation of {day.isoformat()}'s lists"
        f" ({day.isoformat()} was published after it, or nothing was listed): rebuild"
        f" {following} to evaluate them"
    )


def _stale_note(day: dt.date, served: bool) -> str | None:
    if served:
        return None
    return (
        f"measures an earlier version of {day.isoformat()}'s lists ({day.isoformat()} was"
        f" published again since): rebuild {_next(day).isoformat()} to measure the served one"
    )


def stats_evaluation(db: Database, day: dt.date, next_published: bool) -> StatsEvaluation:
    """The day's lists, both models, against the next day; absent with a reason until then."""
    built = bool(db.fetchone(BUILT_SQL)[0])
    rows = db.fetchall(DAILY_SQL, (_next(day), day)) if next_published and built else []
    if not rows:
        return StatsEvaluation(
            evaluated_on=_next(day),
            available=False,
            reason=_absent_reason(day, next_published, built),
        )
    fields = [name.strip().split("::")[0] for name in _DAILY_COLUMNS.split(",")]
    return StatsEvaluation(
        evaluated_on=_next(day),
        available=True,
        reason=_stale_note(day, all(row[-1] for row in rows)),
        models=[ModelEvaluation(**dict(zip(fields, row[:-1], strict=True))) for row in rows],
    )


def history_evaluations(
    db: Database, advertiser_id: str, dates: tuple[dt.date, ...], published: frozenset[dt.date]
) -> dict[dt.date, HistoryEvaluation]:
    """The advertiser's own figures for each date's lists (absent with a reason per date)."""
    built = bool(db.fetchone(BUILT_SQL)[0])
    evaluated = [d for d in dates if _next(d) in published]
    rows = db.fetchall(ADVERTISER_SQL, (advertiser_id, evaluated)) if built and evaluated else []
    fields = [name.strip().split("::")[0] for name in _ADVERTISER_COLUMNS.split(",")]
    by_date: dict[dt.date, list[tuple]] = {}
    for list_date, *row in rows:
        by_date.setdefault(list_date, []).append(tuple(row))
    out = {}
    for day in dates:
        found = by_date.get(day, [])
        if not found:
            reason = _absent_reason(day, _next(day) in published, built)
            out[day] = HistoryEvaluation(evaluated_on=_next(day), available=False, reason=reason)
            continue
        out[day] = HistoryEvaluation(
            evaluated_on=_next(day),
            available=True,
            reason=_stale_note(day, all(row[-1] for row in found)),
            models=[
                AdvertiserEvaluation(**dict(zip(fields, row[:-1], strict=True))) for row in found
            ],
        )
    return out
