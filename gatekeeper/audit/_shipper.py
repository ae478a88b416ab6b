"""Shipping a local audit log to an object store: the part S3, Azure Blob and Google Cloud Storage share.

Records are made durable in a local spool exactly as with ``file://`` (fsync before ``append``
returns); the object store receives each segment and then its checkpoint as soon as the segment is
closed (rotation or ``close()``), from a background thread so that appends never wait on the
network. A segment is marked uploaded in the spool (``segment-N.uploaded``) once both objects are
stored; segments left unuploaded by a crash (kill -9), an outage or a failed retry are uploaded the
next time the log is opened. So an object store that is down never loses or blocks a record: it
delays the copy, and the failure is reported (logged, and raised by ``close``).

Each store is one small :class:`ObjectSink` (``_s3``, ``_azblob``, ``_gcs``): put a file under a
name, list the names, get one back, and say whether the container is immutable. The object layout
under the prefix mirrors the spool, so a download of it (``gatekeeper audit verify --remote``)
verifies on its own::

    PREFIX/segment-00000001.jsonl
    PREFIX/segment-00000001.checkpoint.json
    PREFIX/keys/<key id>.pem

# INVARIANT: a checkpoint is put only after its segment: a checkpoint in the store implies its
# segment is there. ``.uploaded`` is written only after both puts succeeded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from gatekeeper._log import get_logger
from gatekeeper.audit._format import CHECKPOINT_RE, SEGMENT_RE, list_segments
from gatekeeper.audit._keys import KEYS_DIR, Signer, publish_public_key
from gatekeeper.audit._objurl import ObjectLocation
from gatekeeper.audit._writer import FileAuditLog, Pending, SegmentClosed
from gatekeeper.errors import AuditError

log = get_logger("gatekeeper.audit")

RETRIES = 3
# How often segments whose upload failed are tried again while the log is open.
RETRY_INTERVAL_S = 30.0


class ObjectSink(Protocol):
    """One object store location (bucket or container, and a prefix)."""

    @property
    def where(self) -> str:
        """The location as a URL without parameters, for messages (``s3://bucket/prefix``)."""
        ...

    def put(self, path: Path, name: str) -> None:
        """Store the file ``path`` as ``PREFIX/name``."""
        ...

    def names(self) -> Iterator[str]:
        """The names of the objects under the prefix, relative to it."""
        ...

    def get(self, name: str, dest: Path) -> None:
        """Copy ``PREFIX/name`` to the file ``dest``."""
        ...

    def immutability(self) -> str | None:
        """None when the store keeps what is written from being changed or deleted; else what is missing."""
        ...


def upload_segment(sink: ObjectSink, segment: Path, checkpoint: Path) -> None:
    sink.put(segment, segment.name)  # segment first: see the module's invariant
    sink.put(checkpoint, checkpoint.name)
    segment.with_suffix(".uploaded").touch()


def upload_keys(sink: ObjectSink, directory: Path) -> None:
    for p in sorted((directory / KEYS_DIR).glob("*.pem")):
        sink.put(p, f"{KEYS_DIR}/{p.name}")


def download(sink: ObjectSink, dest: Path) -> int:
    """Copy the log under the prefix (segments, checkpoints, keys) into ``dest``; the number of files."""
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for rel in sink.names():
        name = Path(rel).name
        if rel == name and (SEGMENT_RE.match(name) or CHECKPOINT_RE.match(name)):
            target = dest / name
        elif rel == f"{KEYS_DIR}/{name}" and name.endswith(".pem"):
            (dest / KEYS_DIR).mkdir(exist_ok=True)
            target = dest / KEYS_DIR / name
        else:
            continue
        sink.get(rel, target)
        n += 1
    return n


def check_immutability(sink: ObjectSink, mode: str) -> None:
    """At start-up: ``require`` refuses a store that says it does not keep records immutable; ``warn``
    logs it. A store that cannot be reached is not refused: records are durable in the spool and
    shipped when it is back (it is checked again at the next open)."""
    if mode == "off":
        return
    try:
        missing = sink.immutability()
    except Exception as exc:  # any SDK/network error: the store is down, not known to be mutable
        log.warning("audit.immutability_unknown", where=sink.where, error=f"{type(exc).__name__}: {exc}")
        return
    if missing is None:
        return
    if mode == "require":
        raise AuditError(f"audit log {sink.where}: {missing}; make the store immutable (docs/audit.md) or "
                         f"accept a mutable copy with ?immutability=warn")
    log.warning("audit.store_not_immutable", where=sink.where, missing=missing)


class ShippingAuditLog:
    """An audit log spooled locally (durable there) and shipped to an object store segment by segment.

    Segments whose upload failed are tried again every ``RETRY_INTERVAL_S`` while the log is open,
    so a store that comes back receives them without a restart. With ``max_unshipped_seconds``,
    :meth:`unavailable` reports a store that has been refusing segments for longer than that; the
    service then denies controlled compute fail-closed (and records the denial in the spool).
    """

    def __init__(self, spool: Path, sink: ObjectSink, *, max_unshipped_seconds: float | None = None) -> None:
        self.directory = spool
        self.sink = sink
        self.max_unshipped_seconds = max_unshipped_seconds
        self._queue: queue.Queue[tuple[Path, Path] | None] = queue.Queue()
        # (segment, checkpoint, last error, time of the first failure)
        self._failed: list[tuple[Path, Path, str, float]] = []
        self._failed_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gatekeeper-audit-shipper", daemon=True)
        self._thread.start()
        self._log: FileAuditLog | None = None

    @property
    def durable_head(self) -> tuple[int, str, str]:
        """``(seq, hash, segment)`` of the newest record fsynced in the spool: what a digest may vouch for."""
        assert self._log is not None
        return self._log.durable_head

    def attach(self, log_: FileAuditLog) -> None:
        self._log = log_

    def enqueue(self, segment: Path, checkpoint: Path) -> None:
        self._queue.put((segment, checkpoint))

    def enqueue_leftovers(self) -> int:
        """Closed segments of earlier runs that never reached the store."""
        segments, checkpoints = list_segments(self.directory)
        n = 0
        for index in sorted(checkpoints):
            seg = segments.get(index)
            if seg is not None and not seg.with_suffix(".uploaded").exists():
                self.enqueue(seg, checkpoints[index])
                n += 1
        return n

    def unavailable(self) -> str | None:
        """Why the log cannot keep records safe now, or None: a segment has waited for the store
        longer than ``max_unshipped_seconds``."""
        if self.max_unshipped_seconds is None:
            return None
        with self._failed_lock:
            if not self._failed:
                return None
            since = min(f[3] for f in self._failed)
            waiting, error = time.time() - since, self._failed[-1][2]
            count = len(self._failed)
        if waiting <= self.max_unshipped_seconds:
            return None
        return (f"audit log {self.sink.where} unavailable: {count} segment(s) not shipped for {waiting:.0f} s "
                f"(max_unshipped_seconds={self.max_unshipped_seconds:g}; kept in the spool {self.directory}): "
                f"{error}")

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._log is None:
            raise AuditError(f"the audit log {self.sink.where} is not open")
        return self._log.append(record)

    def append_deferred(self, record: dict[str, Any]) -> Pending:
        """Write ``record`` to the spool now; its ticket's ``wait()`` returns once it is durable."""
        if self._log is None:
            raise AuditError(f"the audit log {self.sink.where} is not open")
        return self._log.append_deferred(record)

    def append_many(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._log is None:
            raise AuditError(f"the audit log {self.sink.where} is not open")
        return self._log.append_many(records)

    def stop_shipping(self) -> None:
        """End the upload thread once what is queued has been tried (used when opening fails)."""
        self._queue.put(None)

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
        for seg, cp, _, _ in failed:  # one last try
            try:
                upload_segment(self.sink, seg, cp)
            except Exception as exc:  # any SDK/network error: report, keep spooled
                still.append(f"{seg.name}: {exc}")
        if still:
            raise AuditError(f"audit segments not uploaded to {self.sink.where} (kept in the spool "
                             f"{self.directory}, retried at next open): {'; '.join(still)}")

    def __enter__(self) -> ShippingAuditLog:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._failed_lock:
                waiting = bool(self._failed)
            try:
                item = self._queue.get(timeout=RETRY_INTERVAL_S if waiting else None)
            except queue.Empty:
                self._retry_failed()
                continue
            if item is None:
                return
            seg, cp = item
            error = ""
            for attempt in range(RETRIES):
                try:
                    upload_segment(self.sink, seg, cp)
                    log.info("audit.uploaded", segment=seg.name, where=self.sink.where)
                    error = ""
                    break
                except Exception as exc:  # any SDK/network error is retried, then reported
                    error = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.2 * 2 ** attempt)
            if error:
                log.error("audit.upload_failed", segment=seg.name, where=self.sink.where, error=error)
                with self._failed_lock:
                    self._failed.append((seg, cp, error, time.time()))
            elif waiting:
                self._retry_failed()  # the store takes uploads again: send what it refused before

    def _retry_failed(self) -> None:
        """One more try for each segment that could not be uploaded (oldest first)."""
        with self._failed_lock:
            failed = list(self._failed)
        for entry in failed:
            seg, cp, _, since = entry
            try:
                upload_segment(self.sink, seg, cp)
            except Exception as exc:  # still down: keep it, with the newest error
                with self._failed_lock:
                    self._failed = [(s, c, f"{type(exc).__name__}: {exc}", t) if s == seg else (s, c, e, t)
                                    for s, c, e, t in self._failed]
                return  # the store is still down: the rest waits for the next round
            log.info("audit.uploaded", segment=seg.name, where=self.sink.where, late_seconds=time.time() - since)
            with self._failed_lock:
                self._failed = [f for f in self._failed if f[0] != seg]


def open_shipping_log(
    shipper: ShippingAuditLog,
    *,
    signer: Signer | None,
    segment_max_bytes: int,
    segment_max_seconds: int,
    immutability: str = "warn",
    witness_head: tuple[int, str] | None = None,
    on_segment_closed: SegmentClosed | None = None,
) -> ShippingAuditLog:
    """Open the spool log of ``shipper``, publish the signing key, and queue what earlier runs left.

    ``witness_head`` and ``on_segment_closed`` are the audit trust's (see ``gatekeeper.audit``): the
    spool is checked against the witness's latest digest, and a closed segment both ships and kicks
    the witness."""
    sink, spool = shipper.sink, shipper.directory

    def closed(segment: Path, checkpoint: Path) -> None:
        shipper.enqueue(segment, checkpoint)
        if on_segment_closed is not None:
            on_segment_closed(segment, checkpoint)

    try:
        check_immutability(sink, immutability)
        file_log = FileAuditLog(spool, signer=signer, segment_max_bytes=segment_max_bytes,
                                segment_max_seconds=segment_max_seconds, on_segment_closed=closed,
                                witness_head=witness_head)
    except BaseException:
        shipper.stop_shipping()
        raise
    shipper.attach(file_log)
    if signer is not None:
        publish_public_key(signer, spool)
        try:
            upload_keys(sink, spool)
        except Exception as exc:  # the key is retried with the next open; records are safe
            log.error("audit.key_upload_failed", where=sink.where, error=f"{type(exc).__name__}: {exc}")
    shipper.enqueue_leftovers()
    return shipper


def _plain_shipper(location: ObjectLocation, sink: ObjectSink) -> ShippingAuditLog:
    return ShippingAuditLog(location.spool, sink, max_unshipped_seconds=location.max_unshipped_seconds)


def object_store_opener(
    parse: Callable[[str, Path], Any],
    make_sink: Callable[[Any, Any], ObjectSink],
    make_shipper: Callable[[Any, Any], ShippingAuditLog] = _plain_shipper,
) -> Callable[..., ShippingAuditLog]:
    """The ``open_audit_log`` backend of one object store (``gatekeeper.audit.AuditOpener``): parse the URL,
    build the store's sink and shipper, open the spool log with the audit trust's parameters."""

    def open_log(url: str, *, signer: Signer | None, segment_max_bytes: int, segment_max_seconds: int,
                 base_dir: Path, witness_head: tuple[int, str] | None = None,
                 on_segment_closed: SegmentClosed | None = None, client: Any | None = None) -> ShippingAuditLog:
        location: ObjectLocation = parse(url, base_dir)
        shipper = make_shipper(location, make_sink(location, client))
        return open_shipping_log(shipper, signer=signer, segment_max_bytes=segment_max_bytes,
                                 segment_max_seconds=segment_max_seconds, immutability=location.immutability,
                                 witness_head=witness_head, on_segment_closed=on_segment_closed)

    return open_log
