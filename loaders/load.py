"""Load one source-day (or a whole day) from S3 into its raw table: the loaders' entry points.

One transaction per source-day: the day's objects are streamed into a staging table, rejects
are recorded, the reject ceiling is checked, then the staging table replaces the day's
partition (loaders/partitions.py). Any failure rolls the whole transaction back, so a failed
load changes nothing.

Each object first tries the fast path: its bytes go straight to `COPY` (text format, one pass,
no per-line Python); COPY checks the field count and the date's syntax, and C-speed byte scans
of each block (streams.PlainLines) check the rest, so the object is taken only if the SQL
judge would accept every line. If it is not plain (a line to reject, a quote, a stray CR...),
that attempt is rolled back to a savepoint and the object goes through the checked path: its
plain lines are copied the same way, the others land numbered in a temp table where SQL judges
them set-wise (streams.CheckedLines, loaders/checks.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from loaders import checks, partitions, s3objects
from loaders.errors import RejectThresholdError
from loaders.s3objects import ObjectStream, S3Object
from loaders.schema import ensure_schema
from loaders.settings import LoaderSettings, get_settings
from loaders.sources import SOURCES, Source, get_source
from loaders.streams import (
    CHUNK,
    FIRST_DATA_LINE,
    CheckedLines,
    NotPlain,
    PlainLines,
    read_header,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectLoad:
    """One object's line in ops.load_manifest."""

    object_id: int  # what its raw rows and rejects point at
    key: str
    etag: str
    size_bytes: int
    rows_loaded: int
    rows_rejected: int
    checked: bool  # went through the checked path (it had lines to reject, or odd bytes)
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class SourceLoadResult:
    source: str
    day: date
    load_id: str
    objects: tuple[ObjectLoad, ...]
    list_day: date  # the partition the objects came from (earlier than `day` on fallback)
    seconds: float

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.objects)

    @property
    def rows_rejected(self) -> int:
        return sum(o.rows_rejected for o in self.objects)

    @property
    def fell_back(self) -> bool:
        return self.list_day != self.day


@dataclass(frozen=True)
class LoadContext:
    """One source-day's load: what each of its steps works with, made once per source-day when
    its transaction starts (the day locked, its old manifest and rejects cleared, the staging
    table created)."""

    cur: Any  # the load's transaction's cursor
    spec: Source
    day: date
    load_id: str
    staging: sql.Identifier  # the table that becomes the day's partition
    s3_client: Any
    settings: LoaderSettings

    @property
    def day_iso(self) -> str:
        return self.day.isoformat()


def load_day(
    day: date, *, settings: LoaderSettings | None = None, s3_client=None
) -> list[SourceLoadResult]:
    """Load the three sources of `day`, one transaction each; stops at the first failure
    (sources loaded before it stay loaded: each load is idempotent, run it again)."""
    settings = settings or get_settings()
    s3_client = s3_client or s3objects.make_client()
    return [load_source(name, day, settings=settings, s3_client=s3_client) for name in SOURCES]


def load_source(
    source: str, day: date, *, settings: LoaderSettings | None = None, s3_client=None
) -> SourceLoadResult:
    """Replace raw.<source>'s rows of `day` with the day's S3 objects. Raises a LoadError
    subclass (and changes nothing) on a missing day, bad header, unreadable object or too many
    rejects."""
    spec = get_source(source)
    settings = settings or get_settings()
    s3_client = s3_client or s3objects.make_client()
    started = time.perf_counter()
    if spec.name == "advertiser_ids":
        objects, list_day = s3objects.active_list_objects(
            s3_client, settings.s3_bucket, settings.s3_prefix, day
        )
    else:
        objects = s3objects.day_objects(
            s3_client, settings.s3_bucket, settings.s3_prefix, spec.name, day
        )
        list_day = day
    load_id = uuid.uuid4().hex[:16]
    conn = psycopg2.connect(settings.database_url, application_name=f"adtech-load {source} {day}")
    try:
        ensure_schema(conn)
        with conn, conn.cursor() as cur:
            load = _start(cur, spec, day, load_id, s3_client, settings)
            loads = [_load_object(load, obj) for obj in objects]
            _check_rejects(load, loads)
            partitions.swap_in(cur, spec.name, day, load.staging)
    finally:
        conn.close()
    result = SourceLoadResult(
        spec.name, day, load_id, tuple(loads), list_day, time.perf_counter() - started
    )
    log.info(
        "%s %s: %d rows loaded, %d rejected from %d object(s) in %.1f s",
        source,
        day,
        result.rows_loaded,
        result.rows_rejected,
        len(loads),
        result.seconds,
    )
    return result


def _start(
    cur, spec: Source, day: date, load_id: str, s3_client, settings: LoaderSettings
) -> LoadContext:
    """The source-day's transaction begins: its lock, its old manifest and rejects cleared, its
    staging table; the context every later step takes."""
    # Same source-day loads wait for each other; different days do not; the retention
    # cleanup skips a day whose lock is held.
    partitions.day_lock(cur, spec.name, day)
    for table in ("ops.rejected_rows", "ops.load_manifest"):
        cur.execute(
            sql.SQL("delete from {} where date = %s and source = %s").format(sql.SQL(table)),
            (day, spec.name),
        )
    staging = partitions.create_staging(cur, spec.name, day, load_id)
    if spec.date_field is None:
        partitions.set_defaults(cur, staging, date=day.isoformat())
    return LoadContext(cur, spec, day, load_id, staging, s3_client, settings)


def _load_object(load: LoadContext, obj: S3Object) -> ObjectLoad:
    cur = load.cur
    started = datetime.now(UTC)
    # The manifest row's id first: every row of the object points at it.
    cur.execute("select nextval(pg_get_serial_sequence('ops.load_manifest', 'object_id'))")
    object_id = cur.fetchone()[0]
    partitions.start_object(cur, load.staging, object_id, FIRST_DATA_LINE)
    cur.execute("savepoint object_load")
    loaded, rejected = _fast_copy(load, obj), 0
    checked = loaded is None
    if checked:
        cur.execute("rollback to savepoint object_load")
        loaded, rejected = _checked_copy(load, obj, object_id)
    cur.execute("release savepoint object_load")
    done = ObjectLoad(
        object_id,
        obj.key,
        obj.etag,
        obj.size,
        loaded,
        rejected,
        checked,
        started,
        datetime.now(UTC),
    )
    cur.execute(
        "insert into ops.load_manifest (object_id, date, source, s3_key, etag, size_bytes, "
        "rows_loaded, rows_rejected, load_id, started_at, finished_at) values (%s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s)",
        (
            object_id,
            load.day,
            load.spec.name,
            obj.key,
            obj.etag,
            obj.size,
            done.rows_loaded,
            done.rows_rejected,
            load.load_id,
            done.started_at,
            done.finished_at,
        ),
    )
    return done


def _fast_copy(load: LoadContext, obj: S3Object) -> int | None:
    """Rows loaded by the fast path, or None when the object must take the checked path (the
    caller then rolls back what this attempt inserted)."""
    cur, spec = load.cur, load.spec
    with closing(ObjectStream(load.s3_client, obj)) as stream:
        header = read_header(stream, obj.url, spec.header)
        lines = PlainLines(stream, header, checks.plain_endings(spec, load.day_iso))
        try:
            cur.copy_expert(_copy_into(load.staging, spec), lines, size=CHUNK)
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            log.info("%s: checked path (%s)", obj.url, str(exc).splitlines()[0])
            return None
        except psycopg2.errors.QueryCanceled:
            if isinstance(lines.failure, NotPlain):
                log.info("%s: checked path (%s)", obj.url, lines.failure)
                return None
            _raise_read_failure(lines.failure)
            raise
        if cur.rowcount != lines.lines:  # not expected: COPY and the byte scans disagree
            log.warning(
                "%s: COPY read %d rows from %d lines; checked path",
                obj.url,
                cur.rowcount,
                lines.lines,
            )
            return None
        return cur.rowcount


def _checked_copy(load: LoadContext, obj: S3Object, object_id: int) -> tuple[int, int]:
    """(rows loaded, lines rejected) of the object: its plain lines copied as on the fast path
    (each with its line number in front, since lines set aside leave gaps), the others landed
    numbered and judged set-wise in SQL."""
    cur, spec = load.cur, load.spec
    endings = checks.plain_endings(spec, load.day_iso)
    with closing(ObjectStream(load.s3_client, obj)) as stream:
        header = read_header(stream, obj.url, spec.header)
        with closing(CheckedLines(stream, header, endings, len(spec.fields))) as lines:
            try:
                cur.copy_expert(_copy_into(load.staging, spec, numbered=True), lines, size=CHUNK)
            except psycopg2.errors.QueryCanceled:
                _raise_read_failure(lines.failure)
                raise
            if cur.rowcount != lines.plain:  # a bug if so: fail rather than lose lines
                raise RuntimeError(f"{obj.url}: COPY took {cur.rowcount} of {lines.plain} lines")
            loaded = lines.plain
            if lines.suspect:
                loaded += _judge(load, obj, object_id, lines)
            return loaded, lines.suspect - (loaded - lines.plain)


def _judge(load: LoadContext, obj: S3Object, object_id: int, lines: CheckedLines) -> int:
    """Land the suspect lines and judge them; returns how many were valid after all."""
    cur = load.cur
    cur.execute(checks.CREATE_LANDING)
    cur.execute(sql.SQL("truncate {}").format(checks.LANDING))
    lines.suspects.seek(0)
    cur.copy_expert(
        sql.SQL("copy {} from stdin").format(checks.LANDING), lines.suspects, size=CHUNK
    )
    params = {
        "day": load.day,
        "day_iso": load.day_iso,
        "source": load.spec.name,
        "s3_key": obj.key,
        "load_id": load.load_id,
        "object_id": object_id,
    }
    for statement in checks.judge_statements(load.spec, load.staging):  # the valid rows' last
        cur.execute(statement, params)
    return cur.rowcount


def _copy_into(staging: sql.Identifier, spec: Source, *, numbered: bool = False) -> sql.Composed:
    """COPY of a source's lines, as they are, into the staging table (defaults fill the rest:
    object id, line number unless `numbered` lines start with theirs, advertiser_ids' date)."""
    columns = ((partitions.LINE,) if numbered else ()) + spec.columns
    return sql.SQL("copy {} ({}) from stdin with (format text, delimiter ',')").format(
        staging, sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _raise_read_failure(failure: BaseException | None) -> None:
    """Re-raise what failed inside read() (psycopg2 only reports that COPY was cancelled)."""
    if failure is not None:
        raise failure


def _check_rejects(load: LoadContext, loads: list[ObjectLoad]) -> None:
    rejected = sum(o.rows_rejected for o in loads)
    lines = rejected + sum(o.rows_loaded for o in loads)
    if not rejected:
        return
    max_fraction = load.settings.max_reject_fraction
    if rejected / lines > max_fraction:
        load.cur.execute(
            "select reason, count(*) from ops.rejected_rows where load_id = %s "
            "group by reason order by count(*) desc, reason limit 3",
            (load.load_id,),
        )
        raise RejectThresholdError(
            load.spec.name, load.day, rejected, lines, max_fraction, load.cur.fetchall()
        )
    log.warning(
        "%s %s: %d of %d lines rejected (kept in ops.rejected_rows)",
        load.spec.name,
        load.day,
        rejected,
        lines,
    )
