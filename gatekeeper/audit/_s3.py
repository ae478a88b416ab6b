"""The ``s3://BUCKET/PREFIX`` backend: a local spool log whose closed segments are uploaded to S3.

Records are made durable in the local spool exactly as with ``file://`` (fsync before ``append``
returns); S3 receives each segment and then its checkpoint as soon as the segment is closed
(rotation or ``close()``), from a background thread so that appends never wait on the network. A
segment is marked uploaded in the spool (``segment-N.uploaded``) once both objects are in S3;
segments left unuploaded by a crash or an outage are uploaded the next time the log is opened.

URL: ``s3://BUCKET/PREFIX?region=R&endpoint_url=URL&spool=DIR`` (all parameters optional; the spool
defaults to ``.gatekeeper/audit-spool/BUCKET/PREFIX`` under the base directory). Credentials come
from the usual boto3 chain; ``AWS_ENDPOINT_URL`` is honoured too.

Object layout under PREFIX mirrors the local directory, so ``gatekeeper audit verify --remote``
(or any copy of the prefix) verifies what is in S3::

    PREFIX/segment-00000001.jsonl
    PREFIX/segment-00000001.checkpoint.json
    PREFIX/keys/<key id>.pem
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gatekeeper._log import get_logger
from gatekeeper.audit._format import CHECKPOINT_RE, SEGMENT_RE, list_segments
from gatekeeper.audit._keys import KEYS_DIR, Signer, publish_public_key
from gatekeeper.audit._writer import FileAuditLog, SegmentClosed
from gatekeeper.errors import AuditError

log = get_logger("gatekeeper.audit")

_PARAMS = {"region", "endpoint_url", "spool"}
RETRIES = 3


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    spool: Path
    region: str | None = None
    endpoint_url: str | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def parse_s3_url(url: str, base_dir: Path) -> S3Location:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise AuditError(f"not an s3://BUCKET/PREFIX URL: {url!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - _PARAMS
    if unknown:
        raise AuditError(f"unknown parameter(s) {', '.join(sorted(unknown))} in audit URL {url!r}; "
                         f"expected {', '.join(sorted(_PARAMS))}")
    one = {k: v[-1] for k, v in query.items()}
    bucket = parts.netloc
    prefix = unquote(parts.path).strip("/")
    spool = Path(one["spool"]) if one.get("spool") else Path(".gatekeeper/audit-spool") / bucket / prefix
    if not spool.is_absolute():
        spool = Path(base_dir) / spool
    return S3Location(bucket, prefix, spool, one.get("region") or None, one.get("endpoint_url") or None)


class S3Sink:
    """Puts the files of a log directory to S3, and gets them back."""

    def __init__(self, location: S3Location, client: Any | None = None) -> None:
        self.location = location
        if client is None:
            import boto3

            client = boto3.session.Session().client("s3", region_name=location.region,
                                                    endpoint_url=location.endpoint_url)
        self.client = client

    def put(self, path: Path, name: str) -> None:
        with open(path, "rb") as body:
            self.client.put_object(Bucket=self.location.bucket, Key=self.location.key(name), Body=body,
                                   ContentType="application/x-ndjson" if name.endswith(".jsonl")
                                   else "application/json")

    def upload_segment(self, segment: Path, checkpoint: Path) -> None:
        # Segment first: a checkpoint in S3 implies its segment is there.
        self.put(segment, segment.name)
        self.put(checkpoint, checkpoint.name)
        segment.with_suffix(".uploaded").touch()

    def upload_keys(self, directory: Path) -> None:
        for p in sorted((directory / KEYS_DIR).glob("*.pem")):
            self.put(p, f"{KEYS_DIR}/{p.name}")

    def download(self, dest: Path) -> int:
        """Copy the log under the prefix into ``dest``; the number of files."""
        dest.mkdir(parents=True, exist_ok=True)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.key(""))
        n = 0
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.location.key("")):]
                name = Path(rel).name
                if rel == name and (SEGMENT_RE.match(name) or CHECKPOINT_RE.match(name)):
                    target = dest / name
                elif rel == f"{KEYS_DIR}/{name}" and name.endswith(".pem"):
                    (dest / KEYS_DIR).mkdir(exist_ok=True)
                    target = dest / KEYS_DIR / name
                else:
                    continue
                self.client.download_file(self.location.bucket, obj["Key"], str(target))
                n += 1
        return n


class S3AuditLog:
    """An audit log spooled locally (durable there) and shipped to S3 segment by segment."""

    def __init__(self, location: S3Location, log_: FileAuditLog | None, sink: S3Sink) -> None:
        self.location = location
        self.directory = location.spool
        self._sink = sink
        self._queue: queue.Queue[tuple[Path, Path] | None] = queue.Queue()
        self._failed: list[tuple[Path, Path, str]] = []
        self._failed_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gatekeeper-audit-s3", daemon=True)
        self._thread.start()
        self._log = log_

    def attach(self, log_: FileAuditLog) -> None:
        self._log = log_

    @property
    def durable_head(self) -> tuple[int, str, str]:
        assert self._log is not None
        return self._log.durable_head

    def enqueue(self, segment: Path, checkpoint: Path) -> None:
        self._queue.put((segment, checkpoint))

    def enqueue_leftovers(self) -> int:
        """Closed segments of earlier runs that never reached S3."""
        segments, checkpoints = list_segments(self.directory)
        n = 0
        for index in sorted(checkpoints):
            seg = segments.get(index)
            if seg is not None and not seg.with_suffix(".uploaded").exists():
                self.enqueue(seg, checkpoints[index])
                n += 1
        return n

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        assert self._log is not None
        return self._log.append(record)

    def close(self) -> None:
        """Close the spool log (checkpointing its segment), then wait for every upload to finish."""
        try:
            if self._log is not None:
                self._log.close()
        finally:
            self._queue.put(None)
            self._thread.join()
        with self._failed_lock:
            failed, self._failed = self._failed, []
        still = []
        for seg, cp, _ in failed:  # one last try
            try:
                self._sink.upload_segment(seg, cp)
            except Exception as exc:  # any SDK/network error: report, keep spooled
                still.append(f"{seg.name}: {exc}")
        if still:
            raise AuditError(f"audit segments not uploaded to s3://{self.location.bucket}/{self.location.prefix} "
                             f"(kept in the spool {self.directory}, retried at next open): {'; '.join(still)}")

    def __enter__(self) -> S3AuditLog:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            seg, cp = item
            error = ""
            for attempt in range(RETRIES):
                try:
                    self._sink.upload_segment(seg, cp)
                    log.info("audit.uploaded", segment=seg.name, bucket=self.location.bucket)
                    error = ""
                    break
                except Exception as exc:  # any SDK/network error is retried, then reported
                    error = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.2 * 2 ** attempt)
            if error:
                log.error("audit.upload_failed", segment=seg.name, bucket=self.location.bucket, error=error)
                with self._failed_lock:
                    self._failed.append((seg, cp, error))


def open_s3_log(
    url: str,
    *,
    signer: Signer | None,
    segment_max_bytes: int,
    segment_max_seconds: int,
    base_dir: Path,
    witness_head: tuple[int, str] | None = None,
    on_segment_closed: SegmentClosed | None = None,
    client: Any | None = None,
) -> S3AuditLog:
    location = parse_s3_url(url, base_dir)
    sink = S3Sink(location, client)
    shipper = S3AuditLog(location, None, sink)

    def closed(segment: Path, checkpoint: Path) -> None:
        shipper.enqueue(segment, checkpoint)
        if on_segment_closed is not None:
            on_segment_closed(segment, checkpoint)

    try:
        file_log = FileAuditLog(location.spool, signer=signer, segment_max_bytes=segment_max_bytes,
                                segment_max_seconds=segment_max_seconds, on_segment_closed=closed,
                                witness_head=witness_head)
    except BaseException:
        shipper._queue.put(None)
        raise
    shipper.attach(file_log)
    if signer is not None:
        publish_public_key(signer, location.spool)
        try:
            sink.upload_keys(location.spool)
        except Exception as exc:  # the key is retried with the next open; records are safe
            log.error("audit.key_upload_failed", bucket=location.bucket, error=f"{type(exc).__name__}: {exc}")
    shipper.enqueue_leftovers()
    return shipper
