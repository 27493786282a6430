"""A write-only file object that streams into one S3 object, in bounded memory (the pipeline's
exports; the local stack's generator writes its logs with it too)."""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor

import boto3
import botocore.config

PART_SIZE = 8 * 1024 * 1024  # S3 wants >= 5 MiB for every part but the last


def s3_client():
    """boto3 reads AWS_ENDPOINT_URL_S3 and the credentials itself; path-style addressing suits
    local endpoints (moto does not resolve bucket subdomains) and AWS alike."""
    return boto3.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))


class MultipartWriter(io.RawIOBase):
    """A writable stream that becomes one S3 object. Parts are uploaded as they fill, in a
    background thread, so writing and uploading overlap; memory stays at about three parts. An
    object smaller than one part is sent whole, in ONE request, when the block ends (a day's
    exports mostly are: a multipart upload costs three). On an exception the upload is aborted
    and no object appears."""

    def __init__(
        self,
        client,
        bucket: str,
        key: str,
        part_size: int = PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> None:
        super().__init__()
        self.client, self.bucket, self.key, self.part_size = client, bucket, key, part_size
        self.content_type = content_type
        self.buffer = bytearray()
        self.upload_id: str | None = None  # started by the first full part
        self.parts: list[Future] = []
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        self.bytes_written += len(data)
        while len(self.buffer) >= self.part_size:
            self._send(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]
        return len(data)

    def _send(self, body: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )["UploadId"]
        if len(self.parts) >= 2:  # bound the memory held by queued parts
            self.parts[-2].result()
        number = len(self.parts) + 1
        self.parts.append(
            self.pool.submit(
                self.client.upload_part,
                Bucket=self.bucket,
                Key=self.key,
                PartNumber=number,
                UploadId=self.upload_id,
                Body=body,
            )
        )

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
            elif self.upload_id is not None:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
        finally:
            self.pool.shutdown(wait=True)
            super().__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        if self.upload_id is None:  # small object: one request
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self.buffer),
                ContentType=self.content_type,
            )
            return
        try:
            if self.buffer:
                self._send(bytes(self.buffer))
            parts = [
                {"PartNumber": i, "ETag": f.result()["ETag"]}
                for i, f in enumerate(self.parts, start=1)
            ]
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            raise
