"""Which dates are published, kept in memory and refreshed by a cheap poll.

Requests never ask the database which date is the latest: a background task (see main.lifespan)
polls `ops.published_days` every few seconds and swaps in a new immutable Snapshot when it changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from api import operator_readings
from api.core.db import Database
from api.errors import ApiError
from api.metrics import LATEST_PUBLISHED
from api.operator_readings import OperatorReadings

# One row; changes whenever a day is published or re-published.
HEAD_SQL = "select max(date), max(published_at), count(*) from ops.published_days"
DAYS_SQL = "select date, run_id, published_at from ops.published_days order by date desc"
# A few real advertisers of the latest date, shown as examples in the OpenAPI schema.
SAMPLE_SQL = """
    select distinct advertiser_id
    from marts.recommendations join ops.published_days using (date, version)
    where date = %s order by advertiser_id limit 3
"""


@dataclass(frozen=True)
class Publication:
    run_id: str
    published_at: dt.datetime


@dataclass(frozen=True)
class Snapshot:
    head: tuple | None = None
    days: dict[dt.date, Publication] = field(default_factory=dict)
    dates: tuple[dt.date, ...] = ()  # newest first
    sample_advertisers: tuple[str, ...] = ()

    @property
    def latest(self) -> dt.date | None:
        return self.dates[0] if self.dates else None

    @property
    def last_published_at(self) -> dt.datetime | None:
        """When a day was last published (any day: a rerun publishes too)."""
        return self.head[1] if self.head else None

    def resolve(self, requested: dt.date | None) -> tuple[dt.date, Publication]:
        """The date to serve (default: the latest published) and its publication, or an ApiError."""
        if self.head is None:  # never read: the database has been unreachable since startup
            raise ApiError(
                503,
                "database_unavailable",
                "the published dates could not be read yet (database unreachable)",
            )
        if not self.dates:
            raise ApiError(
                503,
                "nothing_published",
                "no date has been published yet (ops.published_days is empty)",
            )
        day = requested or self.dates[0]
        publication = self.days.get(day)
        if publication is None:
            raise ApiError(
                404,
                "date_not_published",
                f"{day.isoformat()} is not a published date; published dates run from "
                f"{self.dates[-1].isoformat()} to {self.dates[0].isoformat()} "
                f"({len(self.dates)} dates)",
            )
        return day, publication


class Publications:
    """Holds the current Snapshot; `refresh` runs in a worker thread."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()
        self.readings = OperatorReadings()  # for api/metrics.py's operator gauges

    def refresh(self, db: Database) -> bool:
        """Poll once; load the full list only when the head row changed. True if it changed."""
        head = db.fetchone(HEAD_SQL)
        if head == self.snapshot.head:
            return False
        rows = db.fetchall(DAYS_SQL)
        days = {day: Publication(run_id, published_at) for day, run_id, published_at in rows}
        dates = tuple(day for day, _, _ in rows)
        sample = tuple(r[0] for r in db.fetchall(SAMPLE_SQL, (dates[0],))) if dates else ()
        # Read before anything is swapped in: if it fails, the next poll tries the change again.
        readings = operator_readings.read(db, dates[0] if dates else None)
        # One assignment: readers on the event loop see the old or the new snapshot, never a mix.
        self.snapshot = Snapshot(head, days, dates, sample)
        self.readings = readings
        if dates:
            midnight = dt.datetime.combine(dates[0], dt.time(), dt.UTC)
            LATEST_PUBLISHED.set(midnight.timestamp())
        return True
