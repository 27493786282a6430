"""A write-only file object that streams into an S3 multipart upload, in bounded memory."""

from __future__ import annotations

import io

import boto3
import botocore.config

PART_SIZE = 8 * 1024 * 1024  # S3 wants >= 5 MiB for every part but the last


def s3_client():
    """boto3 reads AWS_ENDPOINT_URL_S3 itself; path-style suits local endpoints and AWS alike."""
    return boto3.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))


class MultipartWriter(io.RawIOBase):
    """`write()` buffers up to PART_SIZE, then uploads a part. `close()` completes the upload;
    `abort()` (or an exception inside a `with` block) discards it, so no partial object appears."""

    def __init__(self, client, bucket: str, key: str, content_type: str = "application/gzip"):
        super().__init__()
        self._client, self.bucket, self.key = client, bucket, key
        self._buffer = bytearray()
        self._parts: list[dict] = []
        self._upload_id = client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type
        )["UploadId"]
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= PART_SIZE:
            self._upload(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]
        return len(data)

    def _upload(self, chunk: bytes) -> None:
        number = len(self._parts) + 1
        etag = self._client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=chunk,
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def close(self) -> None:
        if self.closed:
            return
        if self._buffer or not self._parts:
            self._upload(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        super().close()

    def abort(self) -> None:
        if not self.closed:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
            )
            super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
