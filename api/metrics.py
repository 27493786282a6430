"""The service's own Prometheus metrics, beside the per-route ones of the instrumentator."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

_CACHE_LOOKUPS = Counter("adtech_api_cache_lookups", "Answer cache lookups", ["result"])
CACHE_HITS = _CACHE_LOOKUPS.labels("hit")
CACHE_MISSES = _CACHE_LOOKUPS.labels("miss")
CACHE_ENTRIES = Gauge("adtech_api_cache_entries", "Answers held in the cache")
LATEST_PUBLISHED = Gauge("adtech_api_latest_published_date_timestamp_seconds",
                         "Latest published date served, as a Unix timestamp (midnight UTC)")
PUBLICATION_POLL_ERRORS = Counter("adtech_api_publication_poll_errors",
                                  "Failed polls of ops.published_days")
