"""Where the database's bytes are: per day and per table (raw partitions, ops tables, marts).

Raw partitions are measured exactly (pg_total_relation_size of the day's partition). Rows of the
ops tables and marts share one table across days, so their bytes per day are the stored size of
the day's rows (sum of pg_column_size), and each table's total is its size on disk (indexes and
free space included).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from psycopg2 import sql


@dataclass
class SizeReport:
    database_bytes: int
    tables: dict[str, int]  # schema.table -> bytes on disk (partitioned: all partitions)
    by_day: dict[dt.date, dict[str, int]] = field(default_factory=dict)  # day -> table -> bytes

    def day_total(self, day: dt.date) -> int:
        return sum(self.by_day[day].values())

    @property
    def latest_day(self) -> dt.date | None:
        return max(self.by_day, default=None)


def size_report(conn) -> SizeReport:
    with conn, conn.cursor() as cur:
        cur.execute("select pg_database_size(current_database())")
        database = cur.fetchone()[0]
        cur.execute(
            """
            select n.nspname || '.' || c.relname,
                   coalesce(
                       (select sum(pg_total_relation_size(i.inhrelid)) from pg_inherits i
                        where i.inhparent = c.oid), 0
                   )::bigint + pg_total_relation_size(c.oid)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname in ('raw', 'ops', 'marts') and c.relkind in ('r', 'p')
              and not c.relispartition
            order by 1
            """
        )
        tables = dict(cur.fetchall())
        by_day: dict[dt.date, dict[str, int]] = defaultdict(dict)
        cur.execute(
            """
            select p.relname, pg_get_expr(c.relpartbound, c.oid), pg_total_relation_size(c.oid)
            from pg_inherits i join pg_class c on c.oid = i.inhrelid
            join pg_class p on p.oid = i.inhparent
            join pg_namespace n on n.oid = p.relnamespace
            where n.nspname = 'raw'
            """
        )
        for parent, bound, size in cur.fetchall():
            if "'" in (bound or ""):  # FOR VALUES IN ('2024-11-20')
                by_day[dt.date.fromisoformat(bound.split("'")[1])][f"raw.{parent}"] = size
        for table in tables:
            schema, name = table.split(".")
            if schema == "raw" or not _has_date(cur, schema, name):
                continue
            cur.execute(
                sql.SQL("select date, sum(pg_column_size(t.*)) from {} t group by date").format(
                    sql.Identifier(schema, name)
                )
            )
            for day, size in cur.fetchall():
                if day is not None:
                    by_day[day][table] = int(size)
    return SizeReport(database, tables, dict(sorted(by_day.items())))


def _has_date(cur, schema: str, table: str) -> bool:
    cur.execute(
        "select 1 from information_schema.columns where table_schema = %s and table_name = %s "
        "and column_name = 'date' and data_type = 'date'",
        (schema, table),
    )
    return cur.fetchone() is not None
