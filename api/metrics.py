"""The service's own Prometheus metrics, beside the per-route ones of the instrumentator."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
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
