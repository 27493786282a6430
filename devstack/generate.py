"""Synthetic logs in the S3 day layout (docs/ARCHITECTURE.md), streamed chunk by chunk.

For each day D it writes `advertiser_ids/date=D/`, `product_views/date=D/` and
`ads_views/date=D/` files in the course's CSV format. Every random choice comes from generators
seeded with the seed and the file's identity, so the same options give the same bytes.

Speed without numpy: a line is `<item><,D\\n>`, where the item (`adv,prod` or `adv,prod,type`) is
drawn from a flat table (see sampling.py) and the date suffix is the same for the whole day, so a
chunk is one `suffix.join(items)`: no per-line formatting at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from devstack.catalog import SKEWS, Catalog, active_lists, build_catalog
from devstack.malformed import AD_KINDS, VIEW_KINDS, Injector
from devstack.sampling import binomial, flat_table
from devstack.storage import Location, gzip_writer

HEADERS = {
    "advertiser_ids": "advertiser_id",
    "product_views": "advertiser_id,product_id,date",
    "ads_views": "advertiser_id,product_id,type,date",
}
CHUNK_LINES = 100_000  # ~5 MB of text per chunk: memory stays flat whatever the day's size


@dataclass(frozen=True)
class Options:
    start: date
    days: int = 7
    advertisers: int = 25
    active: int = 20
    products: int = 100
    views_per_day: int = 20_000
    ad_events_per_day: int = 20_000
    click_rate: float = 0.01
    skew: str = "uniform"
    churn: float = 0.05
    gzip: bool = False
    crlf: bool = False
    malformed: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.days >= 1, "days must be at least 1"),
            (self.advertisers >= 1, "advertisers must be at least 1"),
            (0 <= self.active <= self.advertisers, "active must be between 0 and advertisers"),
            (self.products >= 1, "products must be at least 1"),
            (self.views_per_day >= 0, "views per day must not be negative"),
            (self.ad_events_per_day >= 0, "ad events per day must not be negative"),
            (0 <= self.click_rate <= 1, "click rate must be a fraction between 0 and 1"),
            (0 <= self.churn <= 1, "churn must be a fraction between 0 and 1"),
            (0 <= self.malformed <= 1, "malformed must be a fraction between 0 and 1"),
            (self.skew in SKEWS, f"skew must be one of: {', '.join(SKEWS)}"),
        ]
        errors = [message for ok, message in checks if not ok]
        if errors:
            raise ValueError("; ".join(errors))

    @property
    def eol(self) -> str:
        return "\r\n" if self.crlf else "\n"

    @property
    def file_name(self) -> str:
        return "generated.csv.gz" if self.gzip else "generated.csv"

    @property
    def total_events(self) -> int:
        return self.days * (self.views_per_day + self.ad_events_per_day)


@dataclass
class DayWritten:
    day: date
    active: int
    views: int
    ad_events: int
    clicks: int = 0
    malformed: int = 0
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tables:
    """Flat sampling tables of line items (a line without its date)."""

    views: list[str]
    impressions: list[str]
    clicks: list[str]

    @classmethod
    def of(cls, catalog: Catalog) -> Tables:
        pairs = [f"{adv},{prod}" for adv, prod in catalog.pairs]
        click_weights = [
            p * a for p, a in zip(catalog.popularity, catalog.click_affinity, strict=True)
        ]
        return cls(
            views=flat_table(pairs, catalog.popularity),
            impressions=flat_table([f"{p},impression" for p in pairs], catalog.popularity),
            clicks=flat_table([f"{p},click" for p in pairs], click_weights),
        )


def day_key(source: str, day: date, name: str) -> str:
    return f"{source}/date={day.isoformat()}/{name}"


def generate(
    opts: Options, location: Location, progress: Callable[[int], None] = lambda _: None
) -> list[DayWritten]:
    """Write every day's three files to `location`; `progress` gets the events written."""
    catalog = build_catalog(
        random.Random(f"{opts.seed}:catalog"), opts.advertisers, opts.products, opts.skew
    )
    lists = active_lists(
        random.Random(f"{opts.seed}:active"),
        catalog.advertisers,
        opts.active,
        opts.churn,
        opts.days,
    )
    tables = Tables.of(catalog)
    return [
        _write_day(opts, location, tables, opts.start + timedelta(days=i), active, progress)
        for i, active in enumerate(lists)
    ]


def _write_day(
    opts: Options,
    location: Location,
    tables: Tables,
    day: date,
    active: list[str],
    progress: Callable[[int], None],
) -> DayWritten:
    eol = opts.eol
    _write(opts, location, day, "advertiser_ids", [eol.join(active) + eol] if active else [])
    views = Injector(opts.malformed, VIEW_KINDS, day, eol)
    _write(
        opts,
        location,
        day,
        "product_views",
        _event_chunks(
            _rng(opts, "product_views", day), opts.views_per_day, ViewDraw(tables), views, progress
        ),
    )
    ads = Injector(opts.malformed, AD_KINDS, day, eol)
    ad_draw = AdDraw(tables, opts.click_rate)
    _write(
        opts,
        location,
        day,
        "ads_views",
        _event_chunks(_rng(opts, "ads_views", day), opts.ad_events_per_day, ad_draw, ads, progress),
    )
    return DayWritten(
        day,
        len(active),
        opts.views_per_day,
        opts.ad_events_per_day,
        clicks=ad_draw.clicks,
        malformed=views.injected + ads.injected,
        keys=[day_key(s, day, opts.file_name) for s in HEADERS],
    )


def _rng(opts: Options, source: str, day: date) -> random.Random:
    """One generator per file: a file's bytes depend only on the seed, the options and itself."""
    return random.Random(f"{opts.seed}:{source}:{day.isoformat()}")


def _write(
    opts: Options, location: Location, day: date, source: str, chunks: Iterable[str]
) -> None:
    key = day_key(source, day, opts.file_name)
    # A rerun with the other --gzip setting must not leave a second copy of the day behind.
    other = day_key(source, day, "generated.csv" if opts.gzip else "generated.csv.gz")
    location.remove(other)
    with location.writer(key) as raw:
        out = gzip_writer(raw) if opts.gzip else raw
        out.write((HEADERS[source] + opts.eol).encode())
        for chunk in chunks:
            out.write(chunk.encode())
        if opts.gzip:
            out.close()  # writes the gzip trailer; `raw` stays open for its owner


class ViewDraw:
    """Draws `adv,prod` items for product_views."""

    def __init__(self, tables: Tables) -> None:
        self.table = tables.views

    def __call__(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.table, k=n)


class AdDraw:
    """Draws `adv,prod,type` items for ads_views: a Binomial(n, click_rate) number of clicks at
    random positions, impressions elsewhere. Clicks are drawn independently of impressions, so
    (as in the course data) a product can get a click without an impression that day."""

    def __init__(self, tables: Tables, click_rate: float) -> None:
        self.impressions, self.click_table, self.click_rate = (
            tables.impressions,
            tables.clicks,
            click_rate,
        )
        self.clicks = 0

    def __call__(self, rng: random.Random, n: int) -> list[str]:
        items = rng.choices(self.impressions, k=n)
        clicks = binomial(rng, n, self.click_rate)
        for pos, item in zip(
            rng.sample(range(n), clicks), rng.choices(self.click_table, k=clicks), strict=True
        ):
            items[pos] = item
        self.clicks += clicks
        return items


def _event_chunks(
    rng: random.Random,
    lines: int,
    draw: Callable[[random.Random, int], list[str]],
    injector: Injector,
    progress: Callable[[int], None],
) -> Iterator[str]:
    """The day's event lines as text, CHUNK_LINES at a time."""
    suffix = f",{injector.day.isoformat()}{injector.eol}"
    for done in range(0, lines, CHUNK_LINES):
        n = min(CHUNK_LINES, lines - done)
        items = draw(rng, n)
        yield _assemble(items, suffix, injector.corrupt_some(rng, items))
        progress(n)


def _assemble(items: list[str], suffix: str, bad: dict[int, str]) -> str:
    """`item + suffix` for every item, except the positions in `bad`, taken whole from there."""
    if not bad:
        return suffix.join(items) + suffix
    pieces, start = [], 0
    for pos, line in bad.items():  # in position order
        if pos > start:
            pieces += [suffix.join(items[start:pos]), suffix]
        pieces.append(line)
        start = pos + 1
    if start < len(items):
        pieces += [suffix.join(items[start:]), suffix]
    return "".join(pieces)
