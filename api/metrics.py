"""The service's own Prometheus metrics, beside the per-route ones of the instrumentator, and
the gauges operators alert on (deploy/monitoring/alerts.yml, docs/OPERATIONS.md)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import metrics

# Per-request metrics of the instrumentator: two (count, latency) instead of its default five,
# since each is a per-request cost on the hot path. Made once per process: the instrumentator
# returns None for a metric that is already registered, so every app must share these.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUESTS = metrics.requests()
LATENCY = metrics.latency(buckets=LATENCY_BUCKETS)

_CACHE_LOOKUPS = Counter("adtech_api_cache_lookups", "Answer cache lookups", ["result"])
CACHE_HITS = _CACHE_LOOKUPS.labels("hit")
CACHE_MISSES = _CACHE_LOOKUPS.labels("miss")
CACHE_ENTRIES = Gauge("adtech_api_cache_entries", "Answers held in the cache")
LATEST_PUBLISHED = Gauge(
    "adtech_api_latest_published_date_timestamp_seconds",
    "Latest published date served, as a Unix timestamp (midnight UTC)",
)
PUBLICATION_POLL_ERRORS = Counter(
    "adtech_api_publication_poll_errors", "Failed polls of ops.published_days"
)


class OperatorGauges(Collector):
    """What operators alert on, computed at scrape time from memory (no query per scrape).

    The readings come from the publication poll (api/operator_readings.py). A process usually
    holds one Service; while several are open (tests), the most recently opened one reports.
    A gauge without a reading (nothing published, no evaluation yet) is absent, not zero, so an
    alert on it does not fire on missing data as if it were a real 0.
    """

    def __init__(self) -> None:
        self._sources: list[Any] = []  # Publications objects, oldest first
        self._lock = threading.Lock()

    def watch(self, publications: Any) -> None:
        with self._lock:
            self._sources.append(publications)

    def forget(self, publications: Any) -> None:
        with self._lock:
            if publications in self._sources:
                self._sources.remove(publications)

    def describe(self) -> list:
        return []  # the families depend on the readings; never checked for duplicates

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            source = self._sources[-1] if self._sources else None
        if source is None:
            return
        last = source.snapshot.last_published_at
        if last is not None:
            yield GaugeMetricFamily(
                "adtech_seconds_since_last_publication",
                "Seconds since the latest publication of a day (ops.published_days.published_at)",
                value=max(0.0, (dt.datetime.now(dt.UTC) - last).total_seconds()),
            )
        readings = source.readings
        if readings.coverage:
            coverage = GaugeMetricFamily(
                "adtech_served_coverage_ratio",
                "Share of the served day's active advertisers with a list, per model",
                labels=["model"],
            )
            for model, value in sorted(readings.coverage.items()):
                coverage.add_metric([model], value)
            yield coverage
        if readings.hit_rates is not None:
            hit = GaugeMetricFamily(
                "adtech_next_day_click_hit_rate",
                "Latest evaluated list day: share of the next day's clicks on listed products",
                labels=["model"],
            )
            rnd = GaugeMetricFamily(
                "adtech_next_day_random_hit_rate",
                "Latest evaluated list day: the hit rate of 20 products drawn at random",
                labels=["model"],
            )
            for model, (hit_rate, random_rate) in sorted(readings.hit_rates.by_model.items()):
                if hit_rate is not None:
                    hit.add_metric([model], hit_rate)
                if random_rate is not None:
                    rnd.add_metric([model], random_rate)
            yield hit
            yield rnd


OPERATOR_GAUGES = OperatorGauges()
REGISTRY.register(OPERATOR_GAUGES)
