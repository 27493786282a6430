"""The day's objects as Spark must see them: compressed or not by their bytes, not their names.

The PostgreSQL loaders gunzip an object when its first bytes are the gzip magic, whatever its
name (loaders/s3objects.py). Spark's text reader decides by the name alone (Hadoop's codec for
the `.gz` suffix), so a gzip object named `part-0` would be read as binary lines, and a plain
object named `part-0.gz` would fail to decompress. Before the Spark load, the pipeline reads the
first two bytes of each of the day's objects. When one's name says the wrong thing (rare: the
usual day stages nothing), every object Spark would read is placed, under a name that says what
its bytes are, in a staging folder of the load's own (`<root>/_adtech_spark_staging/<token>/`):
a server-side copy on S3, a hard link on a local root. All of them, because Spark reads a
folder, and reading the original folder would still open the misnamed ones. load_raw_day then
reads the staging folder in place of the day's, under the originals' keys, and the folder is
removed after the load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from loaders.s3objects import GZIP_MAGIC, make_client

STAGING = "_adtech_spark_staging"
_DATE_FOLDER = re.compile(r"date=(\d{4}-\d{2}-\d{2})$")


@dataclass
class Staged:
    """The source-day's objects, named for their bytes, for load_raw_day's arguments."""

    list_date: dt.date | None = None  # the date= folder the names belong to
    location: str | None = None  # the staging folder, as a URI Spark reads
    names: dict[str, str] = field(default_factory=dict)  # copy's name -> original name

    def macro_args(self) -> dict:
        if not self.names:
            return {}
        return {
            "staged_location": self.location,
            "staged_names": self.names,
            "staged_date": self.list_date.isoformat() if self.list_date else None,
        }


def raw_root() -> str:
    """What load_raw_day reads: ADTECH_SPARK_RAW_ROOT, else s3a://$ADTECH_S3_BUCKET."""
    root = os.environ.get("ADTECH_SPARK_RAW_ROOT", "")
    if not root and os.environ.get("ADTECH_S3_BUCKET"):
        root = "s3a://" + os.environ["ADTECH_S3_BUCKET"]
    return root.rstrip("/")


def raw_prefix() -> str:
    prefix = os.environ.get("ADTECH_S3_PREFIX", "raw/").strip().lstrip("/")
    return prefix if prefix == "" or prefix.endswith("/") else prefix + "/"


class _Local:
    """A file:// root."""

    def __init__(self, root: str) -> None:
        self.base = Path(unquote(urlparse(root).path))

    def folders(self, prefix: str) -> list[str]:
        path = self.base / prefix
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []

    def files(self, prefix: str) -> list[tuple[str, int]]:
        path = self.base / prefix
        if not path.is_dir():
            return []
        return sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())

    def head(self, key: str) -> bytes:
        with open(self.base / key, "rb") as f:
            return f.read(len(GZIP_MAGIC))

    def copy(self, key: str, to: str) -> None:
        target = self.base / to
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.base / key, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(self.base / key, target)

    def remove(self, prefix: str) -> None:
        shutil.rmtree(self.base / prefix, ignore_errors=True)


class _S3:
    """An s3a:// (or s3://) root: the bucket, through boto3."""

    def __init__(self, root: str) -> None:
        parsed = urlparse(root)
        self.bucket, self.key_base = parsed.netloc, parsed.path.strip("/")
        self.key_base += "/" if self.key_base else ""
        self.client = make_client()

    def _pages(self, prefix: str, **kwargs) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=self.key_base + prefix, **kwargs)

    def folders(self, prefix: str) -> list[str]:
        return sorted(
            p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
            for page in self._pages(prefix, Delimiter="/")
            for p in page.get("CommonPrefixes", [])
        )

    def files(self, prefix: str) -> list[tuple[str, int]]:
        return sorted(
            (o["Key"].rsplit("/", 1)[-1], o["Size"])
            for page in self._pages(prefix, Delimiter="/")
            for o in page.get("Contents", [])
        )

    def head(self, key: str) -> bytes:
        body = self.client.get_object(
            Bucket=self.bucket, Key=self.key_base + key, Range=f"bytes=0-{len(GZIP_MAGIC) - 1}"
        )["Body"]
        return body.read()

    def copy(self, key: str, to: str) -> None:
        # Managed copy: server-side, multipart beyond 5 GB; no byte passes through this host.
        source = {"Bucket": self.bucket, "Key": self.key_base + key}
        self.client.copy(source, self.bucket, self.key_base + to)

    def remove(self, prefix: str) -> None:
        for page in self._pages(prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})


def store_for(root: str) -> _Local | _S3:
    scheme = urlparse(root).scheme
    if scheme == "file":
        return _Local(root)
    if scheme in ("s3a", "s3"):
        return _S3(root)
    raise ValueError(f"the Spark raw root must be file:// or s3a://, got {root!r}")


def _read_by_spark(name: str, size: int) -> bool:
    """What Spark's file listing keeps (hidden names and empty files are skipped)."""
    return size > 0 and not name.startswith(("_", "."))


def _list_date(store, prefix: str, source: str, day: dt.date) -> dt.date | None:
    """The date= folder load_raw_day reads: the day's own, else (advertiser_ids only) the most
    recent earlier one holding a file Spark reads."""
    if source != "advertiser_ids":
        return day
    days = sorted(
        (dt.date.fromisoformat(m.group(1)) for f in store.folders(prefix + source + "/")
         if (m := _DATE_FOLDER.fullmatch(f))),
        reverse=True,
    )  # fmt: skip
    for found in days:
        if found <= day and any(
            _read_by_spark(n, s) for n, s in store.files(f"{prefix}{source}/date={found}/")
        ):
            return found
    return None


@contextlib.contextmanager
def staged_by_content(source: str, day: dt.date) -> Iterator[Staged]:
    """Copies, named for what their bytes are, of the source-day's objects when one of them is
    misnamed (none when every name is right, the usual case: two bytes read per object)."""
    root = raw_root()
    if not root:  # load_raw_day reports the missing root itself
        yield Staged()
        return
    store, prefix = store_for(root), raw_prefix()
    list_date = _list_date(store, prefix, source, day)
    staged = Staged(list_date)
    if list_date is None:
        yield staged
        return
    folder = f"{prefix}{source}/date={list_date}/"
    token = f"{STAGING}/{source}-{day}-{uuid.uuid4().hex[:12]}/"
    try:
        names = [name for name, size in store.files(folder) if _read_by_spark(name, size)]
        gzip = {name: store.head(folder + name) == GZIP_MAGIC for name in names}
        if any(gzip[name] != name.endswith(".gz") for name in names):
            for i, name in enumerate(names):
                copy = f"c{i}.gz" if gzip[name] else f"c{i}.csv"
                store.copy(folder + name, token + copy)
                staged.names[copy] = name
            staged.location = f"{root}/{token}"
        yield staged
    finally:
        if staged.names:
            store.remove(token)


def mirror_from_s3(source: str, day: dt.date) -> int:
    """With ADTECH_SPARK_RAW_FROM_S3 set and a file:// raw root: the source-day's objects copied
    from s3://$ADTECH_S3_BUCKET into that root, in the same layout, before Spark reads them
    (every earlier date= folder too for advertiser_ids, whose load falls back to the latest
    earlier list). It stands in for `s3a://` on a machine without hadoop-aws (the local stack's
    Spark, `adtech stack up --spark`): a folder is made equal to its S3 prefix, an object whose
    size changed copied again, one gone from S3 removed. Returns the number of objects copied."""
    root = raw_root()
    if os.environ.get("ADTECH_SPARK_RAW_FROM_S3", "").lower() not in ("1", "true", "yes"):
        return 0
    if urlparse(root).scheme != "file":
        raise ValueError(
            f"ADTECH_SPARK_RAW_FROM_S3 needs a file:// ADTECH_SPARK_RAW_ROOT, got {root!r}"
        )
    bucket = os.environ.get("ADTECH_S3_BUCKET", "")
    if not bucket:
        raise ValueError("ADTECH_SPARK_RAW_FROM_S3 needs ADTECH_S3_BUCKET")
    remote, local, prefix = _S3(f"s3://{bucket}"), _Local(root), raw_prefix()
    if source == "advertiser_ids":
        folders = [
            f for f in remote.folders(f"{prefix}{source}/")
            if (m := _DATE_FOLDER.fullmatch(f)) and dt.date.fromisoformat(m.group(1)) <= day
        ]  # fmt: skip
    else:
        folders = [f"date={day}"]
    copied = 0
    for folder in folders:
        key = f"{prefix}{source}/{folder}/"
        # What Spark would read: hidden and empty objects are skipped, and with them the names
        # `.` and `..`, which would lead out of the folder.
        objects = {n: size for n, size in remote.files(key) if _read_by_spark(n, size)}
        target = local.base / key
        target.mkdir(parents=True, exist_ok=True)
        for path in target.iterdir():
            if path.is_file() and path.name not in objects and not path.name.startswith("."):
                path.unlink()
        for name, size in objects.items():
            path = target / name
            if path.is_file() and path.stat().st_size == size:
                continue
            partial = target / f".{name}.part"  # hidden from Spark until complete
            remote.client.download_file(bucket, key + name, str(partial))
            partial.replace(path)
            copied += 1
    return copied
