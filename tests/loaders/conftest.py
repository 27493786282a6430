"""Helpers for the loaders' tests, as fixtures: `lake` writes day partitions into the test's
bucket, `db` reads the test's database back. Both sit on the shared fixtures (`fresh_db`,
`bucket`, `s3`): a real PostgreSQL and a real S3 endpoint over HTTP."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import date

import psycopg2
import pytest

HEADERS = {
    "advertiser_ids": "advertiser_id",
    "product_views": "advertiser_id,product_id,date",
    "ads_views": "advertiser_id,product_id,type,date",
}


def ad_lines(n: int, day: date, advertiser: str = "ADV1", start: int = 0) -> list[str]:
    """`n` valid ads_views lines of `day`, a click every fifth."""
    return [
        f"{advertiser},p{i},{'click' if i % 5 == 0 else 'impression'},{day}"
        for i in range(start, start + n)
    ]


def view_lines(n: int, day: date, advertiser: str = "ADV1", start: int = 0) -> list[str]:
    return [f"{advertiser},p{i},{day}" for i in range(start, start + n)]


@dataclass
class Lake:
    """The test's bucket, written in the S3 day layout."""

    s3: object
    bucket: str

    ad_lines = staticmethod(ad_lines)
    view_lines = staticmethod(view_lines)

    def put(
        self,
        source: str,
        day: date,
        lines: list[str],
        *,
        name: str = "part-0",
        header: str | None = None,
        eol: str = "\n",
        compress: bool = False,
    ) -> str:
        """One object of the source-day, with the source's header unless `header` is given
        ("" for none at all). Returns its key."""
        key = f"raw/{source}/date={day.isoformat()}/{name}"
        head = HEADERS[source] if header is None else header
        text = "".join(f"{line}{eol}" for line in ([head] if head != "" else []) + lines)
        self.put_bytes(key, text.encode("utf-8", "surrogateescape"), compress=compress)
        return key

    def put_bytes(self, key: str, body: bytes, *, compress: bool = False) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=gzip.compress(body) if compress else body
        )


@dataclass
class Db:
    """The test's database."""

    url: str

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall()
        finally:
            conn.close()

    def rows(self, source: str, day: date) -> list[tuple]:
        """raw.<source>'s rows of `day` as (file columns..., s3_key), sorted; the key comes
        from the manifest row each raw row points at (its object)."""
        columns = {"advertiser_ids": "advertiser_id"}.get(source, HEADERS[source])
        qualified = ", ".join(f"r.{c}" for c in columns.split(","))
        return self.query(
            f"select {qualified}, m.s3_key from raw.{source} r "
            "join ops.load_manifest m using (object_id) "
            f"where r.date = %s order by {qualified}, m.s3_key",
            (day,),
        )

    def lineage(self, source: str, day: date) -> list[tuple]:
        """(s3_key, line_number, the line rebuilt from the row's file columns) per raw row of
        the day, sorted by key and line."""
        columns = {"advertiser_ids": "advertiser_id"}.get(source, HEADERS[source])
        line = " || ',' || ".join(f"r.{c}::text" for c in columns.split(","))
        return self.query(
            f"select m.s3_key, r.line_number, {line} from raw.{source} r "
            "join ops.load_manifest m using (object_id) "
            "where r.date = %s order by 1, 2",
            (day,),
        )

    def count(self, source: str, day: date) -> int:
        return self.query(f"select count(*) from raw.{source} where date = %s", (day,))[0][0]

    def rejects(self, source: str, day: date) -> list[tuple]:
        """(s3_key, line_number, line, reason) of the source-day's rejected lines."""
        return self.query(
            "select s3_key, line_number, line, reason from ops.rejected_rows "
            "where source = %s and date = %s order by s3_key, line_number",
            (source, day),
        )

    def manifest(self, source: str, day: date) -> list[tuple]:
        """(s3_key, etag, size_bytes, rows_loaded, rows_rejected, load_id) per object."""
        return self.query(
            "select s3_key, etag, size_bytes, rows_loaded, rows_rejected, load_id "
            "from ops.load_manifest where source = %s and date = %s order by s3_key",
            (source, day),
        )


@pytest.fixture
def lake(s3, bucket: str) -> Lake:
    return Lake(s3, bucket)


@pytest.fixture
def db(fresh_db: str) -> Db:
    return Db(fresh_db)
