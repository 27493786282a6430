"""Split the course's flat files into the S3 day layout (docs/ARCHITECTURE.md).

The course ships `advertiser_ids`, `product_views` and `ads_views` (optionally `.csv`, optionally
gzip, LF or CRLF), each event file holding many days. One streaming pass routes every event line to
`<source>/date=D/course.csv` by its own `date` column; lines are copied byte for byte.

- `advertiser_ids` has no date: it goes to the partition of the first event day. The loaders'
  fallback rule (the most recent earlier list) then applies it to every following day.
- A line whose date parses goes to that day even if it is otherwise malformed (wrong field count,
  empty id, unknown type): the loaders reject it there and keep it in `ops.rejected_rows`, so
  nothing is lost. Such lines are counted in the report.
- A line whose date cannot be read belongs to no day. Any such line fails the import, with
  their count and examples, and nothing is written, unless `allow_bad` is set: then they are
  left out and reported.

Day files are staged on local disk (memory stays flat) and published only when the whole import
succeeded, so a failed import leaves the destination as it was.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

from devstack.storage import LocalFolder, Location, open_maybe_gzip

HEADERS = {
    "advertiser_ids": ("advertiser_id",),
    "product_views": ("advertiser_id", "product_id", "date"),
    "ads_views": ("advertiser_id", "product_id", "type", "date"),
}
EVENT_SOURCES = ("product_views", "ads_views")
NAME_SUFFIXES = ("", ".csv", ".gz", ".csv.gz")
OUTPUT_NAME = "course.csv"
AD_TYPES = (b"impression", b"click")
MAX_EXAMPLES = 5
MAX_OPEN_FILES = 64
BATCH_LINES = 10_000
ISO_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}")


class CourseImportError(Exception):
    """The source cannot be imported as it is; the message says why and where."""


@dataclass(frozen=True)
class BadLine:
    source: str
    line_number: int
    line: str


@dataclass
class ImportReport:
    files: dict[str, str] = field(default_factory=dict)  # source -> key in the source location
    rows: dict[str, Counter[str]] = field(default_factory=dict)  # source -> day -> rows
    advertiser_ids_day: str = ""
    to_be_rejected: Counter[str] = field(default_factory=Counter)  # source -> lines
    blank_lines: int = 0
    unroutable: int = 0
    examples: list[BadLine] = field(default_factory=list)
    published: list[str] = field(default_factory=list)

    def days(self) -> list[str]:
        return sorted({d for per_day in self.rows.values() for d in per_day})

    def unroutable_message(self) -> str:
        shown = "\n".join(f"  {b.source} line {b.line_number}: {b.line!r}" for b in self.examples)
        return (
            f"{self.unroutable} line(s) have no readable date (YYYY-MM-DD) and belong to no "
            f"day partition; examples:\n{shown}"
        )


def find_files(src: Location) -> dict[str, str]:
    """The key of each course file at the top of `src`; clear errors for missing or ambiguous."""
    top = {k for k in src.list_keys() if "/" not in k}
    found, problems = {}, []
    for source in HEADERS:
        names = [source + s for s in NAME_SUFFIXES if source + s in top]
        if len(names) == 1:
            found[source] = names[0]
        else:
            what = "more than one candidate: " + ", ".join(names) if names else "not found"
            problems.append(
                f"{source}: {what} (looked for {', '.join(NAME_SUFFIXES[1:])} or no extension)"
            )
    if problems:
        raise CourseImportError(f"in {src.describe()}: " + "; ".join(problems))
    return found


def import_course(src: Location, dest: Location, allow_bad: bool = False) -> ImportReport:
    """Split `src`'s course files into day partitions under `dest`."""
    report = ImportReport(files=find_files(src))
    staging = _staging_dir(dest)
    try:
        for source in EVENT_SOURCES:
            with src.reader(report.files[source]) as raw:
                _split_events(open_maybe_gzip(raw), source, staging, report)
        days = report.days()
        if not days:
            raise CourseImportError(
                f"no dated event lines in {src.describe()}: nothing to "
                "import, and no day for advertiser_ids"
            )
        report.advertiser_ids_day = days[0]
        with src.reader(report.files["advertiser_ids"]) as raw:
            _copy_advertiser_ids(open_maybe_gzip(raw), days[0], staging, report)
        if report.unroutable and not allow_bad:
            raise CourseImportError(
                report.unroutable_message() + "\nNothing was written. "
                "Fix the source, or pass --allow-bad to leave them out."
            )
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            key = path.relative_to(staging).as_posix()
            dest.put_file(path, key)
            report.published.append(key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _staging_dir(dest: Location) -> Path:
    """Beside the destination when it is a folder (publishing is then a rename), else in the
    system's temporary folder (publishing is an upload)."""
    if isinstance(dest, LocalFolder):
        dest.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".import-", dir=dest.root))
    return Path(tempfile.mkdtemp(prefix="adtech-import-"))


def _read_header(stream: BinaryIO, source: str, report: ImportReport) -> bytes:
    """Check the header row; return the file's line ending (used for the written headers)."""
    first = stream.readline()
    columns = tuple(
        c.strip()
        for c in first.removeprefix(b"\xef\xbb\xbf")
        .rstrip(b"\r\n")
        .decode("utf-8", "replace")
        .split(",")
    )
    if columns != HEADERS[source]:
        raise CourseImportError(
            f"{report.files[source]}: header is {','.join(columns)!r}, "
            f"expected {','.join(HEADERS[source])!r}"
        )
    return b"\r\n" if first.endswith(b"\r\n") else b"\n"


class _DayFiles:
    """Append-only staged day files of one source, each starting with the header. Only a
    bounded number stay open (a many-year file would otherwise exhaust file descriptors)."""

    def __init__(self, staging: Path, source: str, header: bytes) -> None:
        self.staging, self.source, self.header = staging, source, header
        self.open: dict[str, BinaryIO] = {}
        self.rows: Counter[str] = Counter()

    def write(self, day: str, lines: list[bytes]) -> None:
        f = self.open.get(day)
        if f is None:
            f = self._open(day)
        f.writelines(lines)
        self.rows[day] += len(lines)

    def _open(self, day: str) -> BinaryIO:
        if len(self.open) >= MAX_OPEN_FILES:  # input is mostly in date order: drop the oldest
            self.open.pop(next(iter(self.open))).close()
        path = self.staging / self.source / f"date={day}" / OUTPUT_NAME
        new = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        f = self.open[day] = open(path, "ab", buffering=1 << 16)  # noqa: SIM115 (closed in close())
        if new:
            f.write(self.header)
        return f

    def close(self) -> None:
        for f in self.open.values():
            f.close()
        self.open.clear()


def _iso_day(raw: bytes) -> str | None:
    if not ISO_DATE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw.decode()).isoformat()
    except ValueError:
        return None


def _split_events(stream: BinaryIO, source: str, staging: Path, report: ImportReport) -> None:
    eol = _read_header(stream, source, report)
    columns = HEADERS[source]
    width, date_at = len(columns), columns.index("date")
    type_at = columns.index("type") if "type" in columns else None
    files = _DayFiles(staging, source, ",".join(columns).encode() + eol)
    days: dict[bytes, str] = {}  # cache of valid date fields only: bounded by the days
    batch: list[bytes] = []  # consecutive lines of one day (the course's files are in date order)
    batch_day = ""
    try:
        for number, line in enumerate(stream, start=2):
            body = line.rstrip(b"\r\n")
            if not body:
                report.blank_lines += 1
                continue
            fields = body.split(b",")
            # Wrong field count: the date is still the last field in the course's format.
            raw_date = fields[date_at] if len(fields) == width else fields[-1]
            day = days.get(raw_date)
            if day is None:
                day = _iso_day(raw_date)
                if day is None:
                    _unroutable(report, source, number, body)
                    continue
                days[raw_date] = day
            if (
                len(fields) != width
                or b"" in fields
                or (type_at is not None and fields[type_at] not in AD_TYPES)
            ):
                report.to_be_rejected[source] += 1
            if day != batch_day or len(batch) >= BATCH_LINES:
                if batch:
                    files.write(batch_day, batch)
                batch, batch_day = [], day
            batch.append(line)
        if batch:
            if not batch[-1].endswith(b"\n"):  # only the file's last line can lack one
                batch[-1] += eol
            files.write(batch_day, batch)
    finally:
        files.close()
    report.rows[source] = files.rows


def _unroutable(report: ImportReport, source: str, number: int, body: bytes) -> None:
    report.unroutable += 1
    if len(report.examples) < MAX_EXAMPLES:
        report.examples.append(BadLine(source, number, body[:200].decode("utf-8", "replace")))


def _copy_advertiser_ids(stream: BinaryIO, day: str, staging: Path, report: ImportReport) -> None:
    eol = _read_header(stream, "advertiser_ids", report)
    files = _DayFiles(staging, "advertiser_ids", b"advertiser_id" + eol)
    try:
        for line in stream:
            body = line.rstrip(b"\r\n")
            if not body:
                report.blank_lines += 1
                continue
            if b"," in body:
                report.to_be_rejected["advertiser_ids"] += 1
            files.write(day, [line if line.endswith(b"\n") else line + eol])
    finally:
        files.close()
    report.rows["advertiser_ids"] = files.rows
