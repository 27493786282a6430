"""The SQL behind the page's charts: per published date, coverage per model, mean agreement
between the models, how much each model's lists changed since the previous list, and the
next-day click hit rate of each model's lists against the random reference.

It reads only `marts.*` and `ops.published_days`. As in api/queries.py, the versioned marts are
joined to `ops.published_days` on (date, version), so only the served version of a published date
counts; `marts.recommendation_changes` is already a view over the served versions (no version
column) and is joined on the date. Runs on a cache miss only (once per state of
ops.published_days), in a worker thread, never on the /recommendations path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from api.core.db import Database
from api.evaluation import BUILT_SQL
from api.models import MODELS

COVERAGE_TREND_SQL = """
    select c.date, c.model, c.coverage::float8
    from marts.model_coverage as c
    inner join ops.published_days as p on c.date = p.date and c.version = p.version
    where c.date = any(%s)
"""
# The same mean as /stats/'s agreement.mean_jaccard for each date.
AGREEMENT_TREND_SQL = """
    select a.date, avg(a.jaccard)::float8
    from marts.model_agreement as a
    inner join ops.published_days as p on a.date = p.date and a.version = p.version
    where a.date = any(%s)
    group by a.date
"""
# Turnover = 1 - Jaccard(list, previous list), averaged over the advertisers that had a previous
# list; dates where nobody had one (the first day) get no row.
CHANGE_TREND_SQL = """
    select ch.date, ch.model, (1 - avg(ch.jaccard_with_previous))::float8, avg(ch.added)::float8
    from marts.recommendation_changes as ch
    inner join ops.published_days as p on ch.date = p.date
    where ch.date = any(%s) and ch.previous_date is not null
    group by ch.date, ch.model
"""

# Date D's lists are evaluated by D + 1's build (rows with list_date = D), read at D + 1's
# served version: a date whose next day is not published has no row.
EVALUATION_TREND_SQL = """
    select e.list_date, e.model, e.click_hit_rate::float8, e.random_click_hit_rate::float8
    from marts.evaluation_daily as e
    inner join ops.published_days as p on e.date = p.date and e.version = p.version
    where e.list_date = any(%s)
"""


@dataclass(frozen=True)
class TrendDay:
    date: dt.date
    coverage: dict[str, float] = field(default_factory=dict)
    mean_jaccard: float | None = None
    turnover: dict[str, float | None] = field(default_factory=dict)
    mean_added: dict[str, float | None] = field(default_factory=dict)
    hit_rate: dict[str, float | None] = field(default_factory=dict)
    random_hit_rate: dict[str, float | None] = field(default_factory=dict)


def trends(db: Database, dates: tuple[dt.date, ...]) -> list[TrendDay]:
    """One TrendDay per date that is still published, oldest first (the charts' x axis)."""
    days = list(dates)
    coverage: dict[dt.date, dict[str, float]] = {}
    for day, model, value in db.fetchall(COVERAGE_TREND_SQL, (days,)):
        coverage.setdefault(day, {})[model] = value
    agreement = dict(db.fetchall(AGREEMENT_TREND_SQL, (days,)))
    turnover: dict[dt.date, dict[str, float | None]] = {}
    added: dict[dt.date, dict[str, float | None]] = {}
    for day, model, churn, mean_added in db.fetchall(CHANGE_TREND_SQL, (days,)):
        turnover.setdefault(day, {})[model] = churn
        added.setdefault(day, {})[model] = mean_added
    hit: dict[dt.date, dict[str, float | None]] = {}
    random: dict[dt.date, dict[str, float | None]] = {}
    if db.fetchone(BUILT_SQL)[0]:
        for day, model, rate, random_rate in db.fetchall(EVALUATION_TREND_SQL, (days,)):
            hit.setdefault(day, {})[model] = rate
            random.setdefault(day, {})[model] = random_rate
    published = sorted(set(coverage) | set(agreement))
    return [
        TrendDay(
            date=day,
            coverage={m: coverage.get(day, {}).get(m, 0.0) for m in MODELS},
            mean_jaccard=agreement.get(day),
            turnover=turnover.get(day, {}),
            mean_added=added.get(day, {}),
            hit_rate=hit.get(day, {}),
            random_hit_rate=random.get(day, {}),
        )
        for day in published
    ]
