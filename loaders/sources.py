"""The three sources: their header, and what each field must be."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    ID = "id"  # any non-empty text
    TYPE = "type"  # one of EVENT_TYPES
    DATE = "date"  # ISO YYYY-MM-DD, equal to the partition's day


EVENT_TYPES = ("impression", "click")


@dataclass(frozen=True)
class Source:
    name: str
    fields: tuple[tuple[str, Kind], ...]

    @property
    def header(self) -> str:
        return ",".join(self.columns)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    @property
    def date_field(self) -> int | None:
        """Position of the date field in a line, or None (advertiser_ids: the partition's day)."""
        kinds = [kind for _, kind in self.fields]
        return kinds.index(Kind.DATE) if Kind.DATE in kinds else None


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("advertiser_ids", (("advertiser_id", Kind.ID),)),
        Source(
            "product_views",
            (("advertiser_id", Kind.ID), ("product_id", Kind.ID), ("date", Kind.DATE)),
        ),
        Source(
            "ads_views",
            (
                ("advertiser_id", Kind.ID),
                ("product_id", Kind.ID),
                ("type", Kind.TYPE),
                ("date", Kind.DATE),
            ),
        ),
    )
}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}") from None
