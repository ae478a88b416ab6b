"""The ``s3://BUCKET/PREFIX`` backend: a local spool log whose closed segments are uploaded to S3.

How the spool and the shipping work is ``_shipper``'s (shared with Azure Blob and Google Cloud
Storage); this module is the S3 side: the URL and four calls through boto3.

URL: ``s3://BUCKET/PREFIX?region=R&endpoint_url=URL&spool=DIR&immutability=warn`` (all parameters
optional; the spool defaults to ``.gatekeeper/audit-spool/BUCKET/PREFIX`` under the base directory).
Credentials come from the usual boto3 chain; ``AWS_ENDPOINT_URL`` is honoured too. Immutability is
S3 Object Lock with a default retention on the bucket, checked at start-up (``require`` refuses a
bucket without it, ``warn`` (the default) logs it, ``off`` does not look).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.audit._objurl import BucketLocation, parse_bucket_url
from gatekeeper.audit._shipper import (
    ShippingAuditLog,
    download,
    object_store_opener,
    upload_keys,
    upload_segment,
)


@dataclass(frozen=True, kw_only=True)
class S3Location(BucketLocation):
    region: str | None = None


def parse_s3_url(url: str, base_dir: Path) -> S3Location:
    return parse_bucket_url(S3Location, url, base_dir, scheme="s3", shape="an s3://BUCKET/PREFIX", option="region")


class S3Sink:
    """Puts the files of a log directory to S3, and gets them back (an ``_shipper.ObjectSink``)."""

    def __init__(self, location: S3Location, client: Any | None = None) -> None:
        self.location = location
        if client is None:
            import boto3

            client = boto3.session.Session().client("s3", region_name=location.region,
                                                    endpoint_url=location.endpoint_url)
        self.client = client

    @property
    def where(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"

    def put(self, path: Path, name: str) -> None:
        with open(path, "rb") as body:
            self.client.put_object(Bucket=self.location.bucket, Key=self.location.key(name), Body=body,
                                   ContentType="application/x-ndjson" if name.endswith(".jsonl")
                                   else "application/json")

    def names(self) -> Iterator[str]:
        start = self.location.key("")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket, Prefix=start)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"][len(start):]

    def get(self, name: str, dest: Path) -> None:
        self.client.download_file(self.location.bucket, self.location.key(name), str(dest))

    def immutability(self) -> str | None:
        from botocore.exceptions import ClientError

        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.location.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return f"bucket {self.location.bucket} has no S3 Object Lock"
            raise
        lock = conf.get("ObjectLockConfiguration", {})
        if lock.get("ObjectLockEnabled") != "Enabled":
            return f"bucket {self.location.bucket} has no S3 Object Lock"
        if not lock.get("Rule", {}).get("DefaultRetention"):
            return f"bucket {self.location.bucket} has Object Lock but no default retention"
        return None

    # The shared operations, as methods (the CLI and the tests call them on the sink).
    def upload_segment(self, segment: Path, checkpoint: Path) -> None:
        upload_segment(self, segment, checkpoint)

    def upload_keys(self, directory: Path) -> None:
        upload_keys(self, directory)

    def download(self, dest: Path) -> int:
        return download(self, dest)


class S3AuditLog(ShippingAuditLog):
    """An audit log spooled locally (durable there) and shipped to S3 segment by segment."""

    def __init__(self, location: S3Location, sink: S3Sink) -> None:
        super().__init__(location.spool, sink, max_unshipped_seconds=location.max_unshipped_seconds)
        self.location = location


open_s3_log = object_store_opener(parse_s3_url, S3Sink, S3AuditLog)
