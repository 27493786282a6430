"""Day partitions of the raw tables, and the atomic swap that replaces one day.

Each raw table is partitioned by `date`, one partition per day. A load fills a new table (the
staging table) and, in the same transaction, swaps it in for the day's partition. Readers see
the old day or the new one, never a mix; other days' partitions are never touched.

Locks: nothing before the swap touches the parent table (not even `LIKE`: its lock would be
held to the end of the transaction and two loads of different days would deadlock when both
ask for the swap's lock). The swap takes the parent's ACCESS EXCLUSIVE lock first and holds
it only for the few catalog changes before commit, so loads of different days serialize only
there.
"""

from __future__ import annotations

from datetime import date

from psycopg2 import sql

RAW = "raw"


def partition_name(source: str, day: date) -> str:
    return f"{source}_{day:%Y%m%d}"


def create_staging(cur, source: str, day: date, load_id: str) -> sql.Identifier:
    """A table shaped like raw.<source> (read from the catalog, without locking it), with a
    CHECK that its rows are of `day` (ATTACH then skips its validation scan)."""
    name = f"{partition_name(source, day)}_load_{load_id[:8]}"
    cur.execute(
        "select attname, format_type(atttypid, atttypmod), attnotnull from pg_attribute "
        "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
        (f"{RAW}.{source}",),
    )
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(col), sql.SQL(typ), sql.SQL(" not null" if notnull else "")
        )
        for col, typ, notnull in cur.fetchall()
    ]
    cur.execute(
        sql.SQL("create table {}.{} ({}, constraint {} check (date = {}))").format(
            sql.Identifier(RAW),
            sql.Identifier(name),
            sql.SQL(", ").join(columns),
            sql.Identifier(f"{name}_day"),
            sql.Literal(day),
        )
    )
    return sql.Identifier(RAW, name)


def set_defaults(cur, staging: sql.Identifier, **defaults: str) -> None:
    """Column defaults fill what the files don't hold (s3_key, load_id) during COPY."""
    cur.execute(
        sql.SQL("alter table {} {}").format(
            staging,
            sql.SQL(", ").join(
                sql.SQL("alter column {} set default {}").format(
                    sql.Identifier(col), sql.Literal(value)
                )
                for col, value in defaults.items()
            ),
        )
    )


def swap_in(cur, source: str, day: date, staging: sql.Identifier) -> None:
    """Replace the day's partition of raw.<source> by `staging` (the caller commits)."""
    parent = sql.Identifier(RAW, source)
    partition = partition_name(source, day)
    cur.execute(sql.SQL("analyze {}").format(staging))  # planner statistics for dbt
    # ONLY: the parent alone (every reader locks it first), not every day's partition.
    cur.execute(sql.SQL("lock table only {} in access exclusive mode").format(parent))
    cur.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(RAW, partition)))
    cur.execute(sql.SQL("alter table {} rename to {}").format(staging, sql.Identifier(partition)))
    cur.execute(
        sql.SQL("alter table {} attach partition {} for values in ({})").format(
            parent, sql.Identifier(RAW, partition), sql.Literal(day)
        )
    )
