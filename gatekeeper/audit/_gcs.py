"""The ``gs://BUCKET/PREFIX`` backend: a local spool log shipped to Google Cloud Storage.

How the spool and the shipping work is ``_shipper``'s (shared with S3 and Azure Blob); this module
is the Google Cloud side: the URL and four calls through google-cloud-storage.

URL: ``gs://BUCKET/PREFIX?project=P&endpoint_url=URL&spool=DIR&immutability=warn`` (parameters
optional). Credentials are Application Default Credentials (a service account attached to the VM,
Cloud Run or GKE workload identity, ``GOOGLE_APPLICATION_CREDENTIALS``), which need
``roles/storage.objectCreator`` and ``roles/storage.objectViewer`` on the bucket. ``endpoint_url``
(or ``STORAGE_EMULATOR_HOST``) points at an emulator, reached without credentials.

Immutability is the bucket's retention policy, locked (Bucket Lock): checked at start-up
(``require`` refuses a bucket without a locked policy, ``warn`` (the default) logs it, ``off`` does
not look). Objects are written once (``if_generation_match=0``): a retried upload that finds the
object compares the content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.audit._objurl import BucketLocation, parse_bucket_url
from gatekeeper.audit._shipper import object_store_opener
from gatekeeper.errors import AuditError

TIMEOUT = 30.0  # seconds per request
RETRY_FOR = 20.0  # seconds of retries per call (the shipper retries on top)


@dataclass(frozen=True, kw_only=True)
class GCSLocation(BucketLocation):
    project: str | None = None


def parse_gcs_url(url: str, base_dir: Path) -> GCSLocation:
    return parse_bucket_url(GCSLocation, url, base_dir, scheme="gs", shape="a gs://BUCKET/PREFIX", option="project")


def _client(location: GCSLocation) -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    if location.endpoint_url:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=location.project or "gatekeeper", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                              client_options={"api_endpoint": location.endpoint_url})
    return storage.Client(project=location.project)


class GCSSink:
    """Puts the files of a log directory to a bucket, and gets them back (an ``ObjectSink``)."""

    def __init__(self, location: GCSLocation, client: Any | None = None) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.location = location
        self.client = client if client is not None else _client(location)
        self.bucket = self.client.bucket(location.bucket)
        self.retry = DEFAULT_RETRY.with_timeout(RETRY_FOR)

    @property
    def where(self) -> str:
        return f"gs://{self.location.bucket}/{self.location.prefix}"

    def put(self, path: Path, name: str) -> None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self.bucket.blob(self.location.key(name))
        kind = "application/x-ndjson" if name.endswith(".jsonl") else "application/json"
        data = path.read_bytes()
        try:
            # Looked for first as well: ``if_generation_match=0`` alone guards the race on GCS
            # itself, but not every emulator honours it.
            existing = blob.download_as_bytes(timeout=TIMEOUT, retry=self.retry)
        except NotFound:
            try:
                blob.upload_from_string(data, content_type=kind, if_generation_match=0, timeout=TIMEOUT,
                                        retry=self.retry)
                return
            except PreconditionFailed:
                existing = blob.download_as_bytes(timeout=TIMEOUT, retry=self.retry)
        # A retry after a partial upload: fine when it is the same bytes; never overwritten.
        if existing != data:
            raise AuditError(f"{self.where}/{name} exists with other content; not overwritten")

    def names(self) -> Iterator[str]:
        start = self.location.key("")
        for blob in self.client.list_blobs(self.location.bucket, prefix=start, timeout=TIMEOUT, retry=self.retry):
            yield str(blob.name)[len(start):]

    def get(self, name: str, dest: Path) -> None:
        self.bucket.blob(self.location.key(name)).download_to_filename(str(dest), timeout=TIMEOUT, retry=self.retry)

    def immutability(self) -> str | None:
        bucket = self.client.get_bucket(self.location.bucket, timeout=TIMEOUT, retry=self.retry)
        if not bucket.retention_period:
            return f"bucket {self.location.bucket} has no retention policy"
        if not bucket.retention_policy_locked:
            return f"bucket {self.location.bucket} has a retention policy that is not locked (Bucket Lock)"
        return None


open_gcs_log = object_store_opener(parse_gcs_url, GCSSink)
