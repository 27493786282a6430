"""Where log files go and come from: a local folder or an S3 bucket/prefix, streamed both ways.

Keys are relative to the location (`product_views/date=2024-11-20/generated.csv`), so the same
code writes `s3://bucket/raw/...` or `DIR/...`. Nothing here holds a whole file in memory.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from pipeline.steps.s3_upload import MultipartWriter, s3_client

GZIP_MAGIC = b"\x1f\x8b"


class Location(Protocol):
    def describe(self, key: str = "") -> str: ...
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]: ...
    def remove(self, key: str) -> None: ...
    def list_keys(self) -> list[str]: ...
    def reader(self, key: str) -> AbstractContextManager[BinaryIO]: ...
    def put_file(self, path: Path, key: str) -> None: ...


class LocalFolder:
    """A folder standing for a bucket/prefix: `key` is a relative path under it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self, key: str = "") -> str:
        return str(self.root / key)

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """Write to a `.partial` file renamed into place only on success."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as f:
                yield f
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def list_keys(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    @contextmanager
    def reader(self, key: str) -> Iterator[BinaryIO]:
        with open(self.root / key, "rb") as f:
            yield f

    def put_file(self, path: Path, key: str) -> None:
        """Move a finished local file into place (a rename when on the same file system)."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)


class S3Prefix:
    """`s3://bucket/prefix`: keys are appended to the prefix."""

    def __init__(self, bucket: str, prefix: str, client=None) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.client = client or s3_client()

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with MultipartWriter(self.client, self.bucket, self.prefix + key) as w:
            yield w

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def list_keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        return sorted(
            obj["Key"][len(self.prefix) :] for page in pages for obj in page.get("Contents", [])
        )

    @contextmanager
    def reader(self, key: str) -> Iterator[BinaryIO]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        try:
            yield io.BufferedReader(body, buffer_size=1 << 20)
        finally:
            body.close()

    def put_file(self, path: Path, key: str) -> None:
        """A finished local file, with boto3's managed (multipart, threaded) transfer."""
        self.client.upload_file(str(path), self.bucket, self.prefix + key)


def from_env() -> S3Prefix:
    """The configured bucket/prefix (ADTECH_S3_BUCKET, ADTECH_S3_PREFIX default `raw/`)."""
    bucket = os.environ.get("ADTECH_S3_BUCKET")
    if not bucket:
        raise ValueError(
            "ADTECH_S3_BUCKET is not set: set it (see `adtech stack env`) "
            "or write to a local folder with --out DIR"
        )
    return S3Prefix(bucket, os.environ.get("ADTECH_S3_PREFIX", "raw/"))


def parse(location: str) -> LocalFolder | S3Prefix:
    """`s3://bucket/prefix` or a local folder path."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {location!r}: expected s3://bucket/prefix")
        return S3Prefix(bucket, prefix)
    path = Path(location)
    if not path.is_dir():
        raise ValueError(f"{location} is not a folder (or an s3://bucket/prefix)")
    return LocalFolder(path)


def neighbours(location: Location, keys: list[str]) -> list[str]:
    """Other files in the folders (day partitions) of `keys`: the loaders would load them too."""

    def folder(key: str) -> str:
        return key.rpartition("/")[0]

    mine, folders = set(keys), {folder(k) for k in keys}
    return [k for k in location.list_keys() if k not in mine and folder(k) in folders]


def open_maybe_gzip(raw: BinaryIO) -> BinaryIO:
    """`raw` itself, or a decompressing reader when it starts with the gzip magic bytes."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), 1 << 20)
    return buffered


def gzip_writer(raw: BinaryIO) -> gzip.GzipFile:
    """Deterministic gzip (no file name, mtime 0): same input, same bytes."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1)
