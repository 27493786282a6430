"""A bounded least-recently-used map of ready-to-send answers.

Published days never change, so an answer computed once can be served until it is evicted. Keys
name everything the answer depends on, including the publication it came from, so a newly
published day is never answered from an older entry. Only the event loop touches it: no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from api.metrics import CACHE_HITS, CACHE_MISSES

V = TypeVar("V")


class LRUCache(Generic[V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable, count_miss: bool = True) -> V | None:
        value = self._entries.get(key)
        if value is None:
            if count_miss:
                CACHE_MISSES.inc()
            return None
        self._entries.move_to_end(key)
        CACHE_HITS.inc()
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
