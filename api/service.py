"""What the routes call: answer from the cache, go to the database only on a miss.

Answers are cached already serialised (orjson bytes), so a hit costs a dict lookup and no
validation or JSON encoding, and never leaves the event loop. A miss runs its queries in the
threadpool, validates them through the response models once, and stores the bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import orjson
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import queries
from api.cache import LRUCache
from api.core.config import Settings
from api.core.db import Database, DatabaseUnavailable
from api.errors import JSON, ApiError, error_bytes
from api.evaluation import stats_evaluation
from api.metrics import CACHE_ENTRIES, OPERATOR_GAUGES, PUBLICATION_POLL_ERRORS
from api.models import MODELS, Freshness, History, Ready, Recommendations, Stats
from api.publications import Publication, Publications

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished HTTP answer: status, JSON bytes and the raw ASGI headers (for the fast lane)."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "headers",
            [(b"content-type", JSON.encode()), (b"content-length", str(len(self.body)).encode())],
        )

    def response(self) -> Response:
        return Response(self.body, self.status, media_type=JSON)


def _ok(model: BaseModel) -> Answer:
    return Answer(200, orjson.dumps(model.model_dump()))


class Service:
    """One per app (made by the lifespan): the pool, the answer cache and the published dates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.cache: LRUCache[Answer] = LRUCache(settings.cache_max_entries)
        self.publications = Publications()
        CACHE_ENTRIES.set_function(lambda: len(self.cache))
        OPERATOR_GAUGES.watch(self.publications)

    # -- publication watcher --------------------------------------------------------------------

    async def refresh_publications(self) -> None:
        """One poll; failures are logged and counted, the last known snapshot stays in use."""
        try:
            if await run_in_threadpool(self.publications.refresh, self.db):
                log.info("published dates: latest %s", self.publications.snapshot.latest)
        except DatabaseUnavailable as exc:
            PUBLICATION_POLL_ERRORS.inc()
            log.warning("publication poll failed: %s", exc)
        except Exception:
            PUBLICATION_POLL_ERRORS.inc()
            log.exception("publication poll failed")

    async def watch_publications(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_seconds)
            await self.refresh_publications()

    # -- routes ---------------------------------------------------------------------------------

    async def recommendations(
        self, advertiser_id: str, model: str, requested: dt.date | None
    ) -> Response:
        day, publication = self.publications.snapshot.resolve(requested)
        answer = self.cache.get(_recommendations_key(advertiser_id, model, day, publication))
        if answer is None:
            answers = await run_in_threadpool(self._load_recommendations, advertiser_id, day)
            for name, each in answers.items():  # both models came from one query: keep both
                self.cache.put(_recommendations_key(advertiser_id, name, day, publication), each)
            answer = answers[model]
        return answer.response()

    def cached_recommendations(
        self, advertiser_id: str, model: str, requested: dt.date | None
    ) -> Answer | None:
        """The fast lane's lookup: the cached answer, or None (FastAPI's route then answers)."""
        snapshot = self.publications.snapshot
        day = requested or snapshot.latest
        publication = snapshot.days.get(day) if day else None
        if publication is None:
            return None
        return self.cache.get(
            _recommendations_key(advertiser_id, model, day, publication), count_miss=False
        )

    async def history(self, advertiser_id: str, days: int) -> Response:
        snapshot = self.publications.snapshot
        if not snapshot.dates:
            snapshot.resolve(None)  # raises the "nothing published" error
        key = ("history", advertiser_id, days, snapshot.head)
        answer = self.cache.get(key)
        if answer is None:
            dates = snapshot.dates[:days]
            answer = await run_in_threadpool(
                self._load_history, advertiser_id, days, dates, frozenset(snapshot.days)
            )
            self.cache.put(key, answer)
        return answer.response()

    async def stats(self, requested: dt.date | None) -> Response:
        snapshot = self.publications.snapshot
        day, publication = snapshot.resolve(requested)
        # The day's evaluation comes from the next day's build: its publication is in the key.
        following = snapshot.days.get(day + dt.timedelta(days=1))
        key = ("stats", day, publication.published_at, following and following.published_at)
        answer = self.cache.get(key)
        if answer is None:
            answer = await run_in_threadpool(self._load_stats, day, following is not None)
            self.cache.put(key, answer)
        # Freshness changes every second: added to the cached part at answer time.
        body = orjson.loads(answer.body)
        body["freshness"] = _freshness(publication).model_dump()
        return Response(orjson.dumps(body), media_type=JSON)

    async def ready(self) -> Ready:
        """A real round trip: the database answers and a date is published."""
        row = await run_in_threadpool(self.db.fetchone, "select max(date) from ops.published_days")
        if row is None or row[0] is None:
            raise ApiError(
                503, "nothing_published", "the database answers but no date has been published yet"
            )
        return Ready(latest_date=row[0])

    def close(self) -> None:
        OPERATOR_GAUGES.forget(self.publications)
        self.db.close()

    # -- cache misses (worker threads) ----------------------------------------------------------

    def _load_recommendations(self, advertiser_id: str, day: dt.date) -> dict[str, Answer]:
        lists = queries.recommendations(self.db, advertiser_id, day)
        if lists is None:
            missing = Answer(
                404,
                error_bytes(
                    404,
                    "advertiser_not_found",
                    f"advertiser '{advertiser_id}' has no recommendations on {day.isoformat()}",
                ),
            )
            return dict.fromkeys(MODELS, missing)
        return {
            model: _ok(
                Recommendations(
                    advertiser_id=advertiser_id, model=model, date=day, recommendations=items
                )
            )
            for model, items in lists.items()
        }

    def _load_history(
        self,
        advertiser_id: str,
        days: int,
        dates: tuple[dt.date, ...],
        published: frozenset[dt.date],
    ) -> Answer:
        entries = queries.history(self.db, advertiser_id, dates, published)
        if entries is None:
            return Answer(
                404,
                error_bytes(
                    404,
                    "advertiser_not_found",
                    f"advertiser '{advertiser_id}' has no recommendations on the last {len(dates)} "
                    f"published dates ({dates[-1].isoformat()} to {dates[0].isoformat()})",
                ),
            )
        return _ok(History(advertiser_id=advertiser_id, days=days, history=entries))

    def _load_stats(self, day: dt.date, next_published: bool) -> Answer:
        """Everything but freshness (validated with a placeholder, replaced per request)."""
        stats = Stats(
            date=day,
            advertisers=queries.advertiser_count(self.db, day),
            coverage=queries.coverage(self.db, day),
            agreement=queries.agreement(self.db, day),
            most_changed=queries.most_changed(self.db, day),
            evaluation=stats_evaluation(self.db, day, next_published),
            freshness=Freshness(run_id="", published_at=dt.datetime.now(dt.UTC), age_seconds=0.0),
        )
        return _ok(stats)


def _recommendations_key(
    advertiser_id: str, model: str, day: dt.date, publication: Publication
) -> tuple:
    # published_at is part of the key: a re-published date never gets the old answers.
    return ("recommendations", advertiser_id, model, day, publication.published_at)


def _freshness(publication: Publication) -> Freshness:
    age = (dt.datetime.now(dt.UTC) - publication.published_at).total_seconds()
    return Freshness(
        run_id=publication.run_id, published_at=publication.published_at, age_seconds=round(age, 3)
    )
