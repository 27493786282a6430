"""Finding a source-day's objects in S3 and opening one as a stream of (decompressed) bytes."""

from __future__ import annotations

import gzip
import logging
import os
import re
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from loaders.errors import MissingPartitionError, ObjectReadError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_DAY_FOLDER = re.compile(r"date=(\d{4}-\d{2}-\d{2})/$")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str
    size: int

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def make_client():
    """A boto3 S3 client; endpoint and credentials come from the standard AWS variables."""
    import boto3
    import botocore.config

    # Local endpoints (moto, MinIO) need path-style addressing; AWS itself picks its own.
    style = "path" if os.environ.get("AWS_ENDPOINT_URL_S3") else "auto"
    config = botocore.config.Config(
        s3={"addressing_style": style}, retries={"mode": "standard", "max_attempts": 5}
    )
    return boto3.client("s3", config=config)


def partition_prefix(prefix: str, source: str, day: date) -> str:
    return f"{prefix}{source}/date={day.isoformat()}/"


def list_objects(client, bucket: str, prefix: str) -> list[S3Object]:
    """Every object under `prefix`, by key; folder markers (keys ending in '/') are skipped."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found.append(S3Object(bucket, item["Key"], item["ETag"].strip('"'), item["Size"]))
    return sorted(found, key=lambda o: o.key)


def partition_days(client, bucket: str, prefix: str, source: str) -> list[date]:
    """The days that have a `date=YYYY-MM-DD/` folder for `source`, oldest first."""
    days = []
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}{source}/", Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            if match := _DAY_FOLDER.search(common["Prefix"]):
                days.append(date.fromisoformat(match.group(1)))
    return sorted(days)


def day_objects(client, bucket: str, prefix: str, source: str, day: date) -> list[S3Object]:
    """The objects of the source-day; MissingPartitionError when there are none."""
    where = partition_prefix(prefix, source, day)
    objects = list_objects(client, bucket, where)
    if not objects:
        raise MissingPartitionError(source, day, f"s3://{bucket}/{where}")
    return objects


def active_list_objects(client, bucket: str, prefix: str, day: date) -> tuple[list[S3Object], date]:
    """The advertiser list for `day`: its own partition, else the most recent earlier one
    (the S3 layout's rule), with a warning. Returns the objects and the day they come from."""
    where = partition_prefix(prefix, "advertiser_ids", day)
    if objects := list_objects(client, bucket, where):
        return objects, day
    for earlier in reversed(partition_days(client, bucket, prefix, "advertiser_ids")):
        if earlier < day and (
            objects := list_objects(
                client, bucket, partition_prefix(prefix, "advertiser_ids", earlier)
            )
        ):
            log.warning("advertiser_ids: no list for %s; applying the list of %s", day, earlier)
            return objects, earlier
    raise MissingPartitionError(
        "advertiser_ids", day, f"s3://{bucket}/{where}", "nor in any earlier date= partition"
    )


class ObjectStream:
    """An object's bytes, decompressed if they start with the gzip magic (names don't matter).

    Reading errors of any kind (connection lost, broken or truncated gzip) become one
    ObjectReadError naming the object."""

    def __init__(self, client, obj: S3Object) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors = (OSError, EOFError, zlib.error, BotoCoreError, ClientError)
        self.location = obj.url
        # IfMatch pins the version that was listed, so the manifest's ETag is what was loaded.
        self._body = self._guard(
            lambda: client.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')[
                "Body"
            ]
        )
        head = self._guard(lambda: self._body.read(len(GZIP_MAGIC)))
        self.gzip = head == GZIP_MAGIC
        raw = _Rewound(head, self._body)
        self._stream: Readable = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzip else raw

    def read(self, size: int = -1, /) -> bytes:
        return self._guard(lambda: self._stream.read(size))

    def close(self) -> None:
        self._body.close()

    def _guard(self, action):
        try:
            return action()
        except self._errors as exc:
            raise ObjectReadError(self.location, f"{type(exc).__name__}: {exc}") from exc


class _Rewound:
    """A stream with its first bytes put back in front (they were read to sniff gzip)."""

    def __init__(self, head: bytes, body: Readable) -> None:
        self._head, self._body = head, body

    def read(self, size: int = -1, /) -> bytes:
        head, self._head = self._head, b""
        if size is None or size < 0:
            return head + self._body.read()
        return head + self._body.read(size - len(head)) if size > len(head) else head
