"""The checked path's SQL: every line of an object judged set-wise, valid lines into the staging
table and the others into ops.rejected_rows with their reason (two INSERT ... SELECT).

The fast path (loaders/load.py) accepts exactly the objects in which this judge would find no
reject, so a line's fate never depends on the path its object took.
"""

from __future__ import annotations

from psycopg2 import sql

from loaders.sources import EVENT_TYPES, Kind, Source

# Why a line is rejected, in the order they are checked (the first that applies is kept).
REASONS = (
    "invalid_encoding",  # not UTF-8 or holds a NUL byte (found while reading)
    "line_too_long",  # longer than streams.MAX_LINE (kept truncated)
    "quoted_field",  # holds a double quote: the format has no quoting (loaders/README.md)
    "wrong_field_count",
    "empty_id",
    "invalid_type",
    "unparsable_date",  # not an ISO YYYY-MM-DD calendar date
    "date_outside_partition",  # a real date, but not the partition's day
)

LANDING = sql.Identifier("loader_landing")

CREATE_LANDING = sql.SQL(
    "create temp table if not exists {} (line_number bigint not null, line text not null, "
    "issue text) on commit drop"
).format(LANDING)

# A calendar date in ISO form: the regex fixes the shape, the day-of-month is then compared to
# the month's length (no cast that could raise). Years below 1000 are not accepted.
_ISO_DATE = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _field(i: int) -> sql.Composable:
    return sql.SQL("f[{}]").format(sql.Literal(i + 1))


def _reason_case(source: Source) -> sql.Composable:
    whens = [
        sql.SQL("when issue is not null then issue"),
        sql.SQL("when strpos(line, '\"') > 0 then 'quoted_field'"),
        sql.SQL("when cardinality(f) <> {} then 'wrong_field_count'").format(
            sql.Literal(len(source.fields))
        ),
    ]
    ids = [_field(i) for i, (_, kind) in enumerate(source.fields) if kind == Kind.ID]
    whens.append(
        sql.SQL("when {} then 'empty_id'").format(
            sql.SQL(" or ").join(sql.SQL("{} = ''").format(f) for f in ids)
        )
    )
    for i, (_, kind) in enumerate(source.fields):
        f = _field(i)
        if kind == Kind.TYPE:
            whens.append(
                sql.SQL("when {} not in ({}) then 'invalid_type'").format(
                    f, sql.SQL(", ").join(map(sql.Literal, EVENT_TYPES))
                )
            )
        elif kind == Kind.DATE:  # the common case (the partition's day) costs one comparison
            whens.append(
                sql.SQL(
                    "when {f} <> %(day_iso)s then case "
                    "when {f} !~ {iso} then 'unparsable_date' "
                    "when substr({f}, 9, 2)::int > extract(day from "
                    "(substr({f}, 1, 7) || '-01')::date + interval '1 month' - interval '1 day') "
                    "then 'unparsable_date' "
                    "else 'date_outside_partition' end"
                ).format(f=f, iso=sql.Literal(_ISO_DATE))
            )
    return sql.SQL("case {} end").format(sql.SQL(" ").join(whens))


def _judged(source: Source, keep: str) -> sql.Composed:
    """The landing table's lines with their reject reason (null: valid), those where `keep`.
    OFFSET 0 keeps the inner query from being flattened into the outer one, which would split
    a line once per reference to `f` instead of once."""
    return sql.SQL(
        "select * from (select line_number, line, f, {reason} as reason from ("
        "select line_number, line, issue, string_to_array(line, ',') as f from {landing} "
        "offset 0) as lines) as judged where {keep}"
    ).format(reason=_reason_case(source), landing=LANDING, keep=sql.SQL(keep))


def judge_statements(source: Source, staging: sql.Composable) -> tuple[sql.Composed, ...]:
    """Two statements over the landing table: rejects into ops.rejected_rows, then valid lines
    into `staging` (two cheap scans cost less than materializing the split lines once).
    Parameters: day (date), day_iso (text), source, s3_key, load_id, object_id.

    Valid lines get the partition's day as `date`: equal to their own date field by the
    checks, and the day itself for advertiser_ids, whose lines have no date."""
    file_values = [
        sql.SQL("%(day)s") if kind == Kind.DATE else _field(i)
        for i, (_, kind) in enumerate(source.fields)
    ]
    columns = list(source.columns)
    if source.date_field is None:
        columns.append("date")
        file_values.append(sql.SQL("%(day)s"))
    rejects = sql.SQL(
        "insert into ops.rejected_rows (date, source, s3_key, line_number, line, reason, "
        "load_id, object_id) select %(day)s, %(source)s, %(s3_key)s, line_number, line, reason, "
        "%(load_id)s, %(object_id)s from ({}) as rejected"
    ).format(_judged(source, "reason is not null"))
    valid = sql.SQL(
        "insert into {staging} ({columns}, object_id, line_number) "
        "select {values}, %(object_id)s, line_number from ({judged}) as valid"
    ).format(
        staging=staging,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(file_values),
        judged=_judged(source, "reason is null"),
    )
    return rejects, valid


def plain_endings(source: Source, day_iso: str) -> tuple[bytes, ...]:
    """What a line the judge accepts ends with, as far as its fixed-vocabulary fields go:
    ads_views lines end with ",impression,<day>" or ",click,<day>", product_views lines with
    ",<day>"; advertiser_ids lines (ids only) with anything, hence (b"",).

    The fast path (streams.PlainLines) counts these endings per block with C-speed byte scans
    instead of asking COPY to filter rows, which would cost a WHERE clause on every row."""
    kinds = [kind for _, kind in source.fields]
    tail = len(kinds)
    while tail and kinds[tail - 1] != Kind.ID:
        tail -= 1
    assert Kind.ID not in kinds[tail:] and all(k == Kind.ID for k in kinds[:tail]), source
    endings = [b""]
    for kind in kinds[tail:]:
        values = EVENT_TYPES if kind == Kind.TYPE else (day_iso,)
        endings = [e + b"," + v.encode() for e in endings for v in values]
    return tuple(endings)
