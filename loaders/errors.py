"""What can go wrong in a load, one class per cause, each with a message an operator can act on.

Every one of them means the same for the data: the source-day was left exactly as it was.
"""

from __future__ import annotations

from datetime import date


class LoadError(Exception):
    """Base class: the load of one source-day failed and changed nothing."""


class ConfigError(LoadError):
    """A required setting is missing or invalid."""


class MissingPartitionError(LoadError):
    """The day has no objects for the source (the logs are not there yet: retry later)."""

    def __init__(self, source: str, day: date, location: str, detail: str = "") -> None:
        self.source, self.day, self.location = source, day, location
        super().__init__(
            f"{source} {day}: no objects under {location}" + (f" ({detail})" if detail else "")
        )


class HeaderMismatchError(LoadError):
    """An object's first line is not the source's header."""

    def __init__(self, location: str, found: str, expected: str) -> None:
        self.location, self.found, self.expected = location, found, expected
        shown = repr(found[:200]) if found else "nothing (empty object)"
        super().__init__(f"{location}: header is {shown}, expected {expected!r}")


class ObjectReadError(LoadError):
    """An object could not be read to its end (broken gzip, connection lost, changed meanwhile)."""

    def __init__(self, location: str, detail: str) -> None:
        self.location = location
        super().__init__(f"{location}: could not be read to the end: {detail}")


class RejectThresholdError(LoadError):
    """Too many lines of the source-day were rejected."""

    def __init__(
        self,
        source: str,
        day: date,
        rejected: int,
        lines: int,
        max_fraction: float,
        top_reasons: list[tuple[str, int]],
    ) -> None:
        self.source, self.day = source, day
        self.rejected, self.lines, self.max_fraction = rejected, lines, max_fraction
        self.top_reasons = top_reasons
        reasons = ", ".join(f"{reason} ({count})" for reason, count in top_reasons)
        super().__init__(
            f"{source} {day}: {rejected} of {lines} lines rejected "
            f"({rejected / lines:.2%} > ADTECH_MAX_REJECT_FRACTION {max_fraction:.2%}); "
            f"most common reasons: {reasons}; nothing was changed"
        )


class SchemaError(LoadError):
    """The database holds raw tables of an older, incompatible layout."""
