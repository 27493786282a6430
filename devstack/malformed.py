"""Deliberately malformed lines, one kind for each reason the loaders must reject a line."""

from __future__ import annotations

import random
from datetime import date, timedelta

# Each kind turns a good line into one that a loader must reject for that reason.
VIEW_KINDS = ("field_count", "bad_date", "empty_id", "other_day")
AD_KINDS = ("field_count", "bad_date", "bad_type", "empty_id", "other_day")
BAD_TYPE = "hover"


def corrupt(item: str, kind: str, day: date, eol: str) -> str:
    """A whole malformed line made from `item`, a good line without its date field
    (`adv,prod` or `adv,prod,type`)."""
    fields = item.split(",")
    line_date = day.isoformat()
    if kind == "field_count":
        fields = fields[:1] + fields[2:]  # the product id is missing
    elif kind == "bad_date":
        line_date = f"{day.year}-{day.month:02d}-32"  # looks like a date, is none
    elif kind == "bad_type":
        fields[2] = BAD_TYPE
    elif kind == "empty_id":
        fields[0] = ""
    elif kind == "other_day":
        line_date = (day + timedelta(days=1)).isoformat()  # valid, but not this partition's
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return ",".join([*fields, line_date]) + eol


class Injector:
    """Chooses which lines of a file to corrupt so that the file holds round(fraction * lines)
    malformed lines, cycling through the kinds so that every kind appears."""

    def __init__(self, fraction: float, kinds: tuple[str, ...], day: date, eol: str) -> None:
        self.fraction, self.kinds, self.day, self.eol = fraction, kinds, day, eol
        self.lines_seen = 0
        self.injected = 0

    def corrupt_some(self, rng: random.Random, items: list[str]) -> dict[int, str]:
        """Positions in `items` (one chunk) to replace, with their malformed lines."""
        self.lines_seen += len(items)
        count = round(self.fraction * self.lines_seen) - self.injected
        bad = {}
        for pos in sorted(rng.sample(range(len(items)), count)):
            kind = self.kinds[self.injected % len(self.kinds)]
            bad[pos] = corrupt(items[pos], kind, self.day, self.eol)
            self.injected += 1
        return bad
