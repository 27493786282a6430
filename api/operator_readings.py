"""What operators watch, read with the publication poll (never per request, never per scrape).

Publications.refresh calls `read` when a publication changed (a new day, or a day published
again): the served day's coverage per model, and the next-day hit rates of the latest evaluated
list day with their random reference. api/metrics.py exposes them at scrape time from memory.

`marts.evaluation_daily` (one row per build date, version, list date and model) may not exist
yet on a database built before it; its gauges are then absent, not zero.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import psycopg2

from api.core.db import Database

log = logging.getLogger(__name__)

COVERAGE_SQL = """
    select model, coverage::float8
    from marts.model_coverage join ops.published_days using (date, version)
    where date = %s order by model
"""
EVALUATION_EXISTS_SQL = "select to_regclass('marts.evaluation_daily') is not null"
# The served rows only (published (date, version)); the latest list day that has any.
EVALUATION_SQL = """
    with served as (
        select list_date, model, click_hit_rate::float8 as hit, random_click_hit_rate::float8 as rnd
        from marts.evaluation_daily join ops.published_days using (date, version)
    )
    select list_date, model, hit, rnd from served
    where list_date = (select max(list_date) from served)
    order by model
"""


@dataclass(frozen=True)
class HitRates:
    list_date: dt.date
    # model -> (next-day click hit rate, its random reference); None where the day had no click.
    by_model: dict[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class OperatorReadings:
    served_date: dt.date | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    hit_rates: HitRates | None = None  # None: no evaluation relation, or no evaluated day yet


def read(db: Database, served_date: dt.date | None) -> OperatorReadings:
    """A few small queries (run by the poll's worker thread, after a publication changed)."""
    if served_date is None:
        return OperatorReadings()
    coverage = {model: value for model, value in db.fetchall(COVERAGE_SQL, (served_date,))}
    return OperatorReadings(served_date, coverage, _hit_rates(db))


def _hit_rates(db: Database) -> HitRates | None:
    if not db.fetchone(EVALUATION_EXISTS_SQL)[0]:
        return None
    try:
        rows = db.fetchall(EVALUATION_SQL)
    except psycopg2.Error as exc:  # e.g. the API's role not granted it yet: no gauge, no outage
        log.warning("marts.evaluation_daily unreadable: %s", str(exc).strip().splitlines()[0])
        return None
    if not rows:
        return None
    return HitRates(rows[0][0], {model: (hit, rnd) for _, model, hit, rnd in rows})
