"""The tamper-evident audit log: open one by URL, append records, verify and review it.

Backends are chosen by URL scheme through ``BACKENDS`` (scheme -> "module:function"), imported only
when used, so that a process that never touches S3 never imports boto3:

    file://DIR                        a directory of hash-chained segments (DIR relative to ``base_dir``)
    s3://BUCKET/PREFIX                the same, written to a local spool, segments and checkpoints
    azblob://ACCOUNT/CONTAINER/PREFIX uploaded as they are closed to S3, Azure Blob Storage or Google
    gs://BUCKET/PREFIX                Cloud Storage (``_shipper``; one small sink module each)

Trust kept outside the log (pinned keys, the witness of signed digests) is passed in as an
:class:`~gatekeeper.audit.witness.AuditTrust`; see ``witness``. Review (``verify``, ``review``,
``replay``) and the record schema (``record``) are submodules.

The names re-exported from the writer's side (``decision_record``, ``AuditTrust``, the signer ...) are
imported when first used (``__getattr__``), so that a review command (``gatekeeper audit summary``)
that imports ``gatekeeper.audit.review`` does not import the writer, the record schema's model or
cryptography on its way.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from gatekeeper.audit._format import SCHEMA
from gatekeeper.errors import AuditError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gatekeeper.audit._keys import Signer
    from gatekeeper.audit._writer import SegmentClosed
    from gatekeeper.audit.record import decision_record, event_record, request_from_record
    from gatekeeper.audit.witness import AuditTrust

# name -> module: imported on first access, then kept in the package's namespace.
_LAZY: dict[str, str] = {
    "AuditTrust": "gatekeeper.audit.witness",
    "SegmentClosed": "gatekeeper.audit._writer",
    "Signer": "gatekeeper.audit._keys",
    "decision_record": "gatekeeper.audit.record",
    "event_record": "gatekeeper.audit.record",
    "request_from_record": "gatekeeper.audit.record",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gatekeeper.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


@runtime_checkable
class AuditLog(Protocol):
    """What the service needs from an audit log: a durable append and a close."""

    directory: Path

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add ``seq``, ``prev_hash``, ``hash``, ``ts`` (if missing), ``schema``; return once fsynced."""
        ...

    def append_many(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append ``records`` in order as one batch (one fsync); all durable on return, or none on error."""
        ...

    def close(self) -> None:
        """Close the current segment with a signed checkpoint."""
        ...


class AuditOpener(Protocol):
    def __call__(self, url: str, *, signer: Signer | None, segment_max_bytes: int, segment_max_seconds: int,
                 base_dir: Path, witness_head: tuple[int, str] | None,
                 on_segment_closed: SegmentClosed | None) -> AuditLog: ...


BACKENDS: dict[str, str] = {
    "file": "gatekeeper.audit._file:open_file_log",
    "s3": "gatekeeper.audit._s3:open_s3_log",
    "azblob": "gatekeeper.audit._azblob:open_azblob_log",
    "gs": "gatekeeper.audit._gcs:open_gcs_log",
}
# The object stores: scheme -> (URL parser giving the location with its local ``spool``, sink class).
OBJECT_STORES: dict[str, tuple[str, str]] = {
    "s3": ("gatekeeper.audit._s3:parse_s3_url", "gatekeeper.audit._s3:S3Sink"),
    "azblob": ("gatekeeper.audit._azblob:parse_azblob_url", "gatekeeper.audit._azblob:AzureBlobSink"),
    "gs": ("gatekeeper.audit._gcs:parse_gcs_url", "gatekeeper.audit._gcs:GCSSink"),
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _backend(scheme: str) -> AuditOpener:
    target = BACKENDS.get(scheme)
    if target is None:
        raise AuditError(f"unknown audit log URL scheme {scheme!r}; expected one of "
                         f"{', '.join(s + '://' for s in sorted(BACKENDS))}")
    module, _, name = target.partition(":")
    opener: AuditOpener = getattr(importlib.import_module(module), name)
    return opener


def open_audit_log(
    url: str,
    *,
    signing_key: Path | None,
    segment_max_bytes: int = 64 * 1024 * 1024,
    segment_max_seconds: int = 3600,
    base_dir: Path = Path("."),
    trust: AuditTrust | None = None,
    witness_interval: float = 60.0,
) -> AuditLog:
    """Open (creating if needed) the audit log at ``url``; recovers a torn tail left by a crash.

    ``signing_key`` is the Ed25519 private key (PEM) that signs checkpoints, created (0600) when
    missing; None writes unsigned checkpoints (verification then reports them).

    ``trust`` (owned by the log from here on, closed with it): the writer pins its key in
    ``trust.keys`` when it creates it (or when none is pinned yet), checks the open segment against
    the witness's latest digest before extending it, and publishes a signed digest of its head to
    ``trust.witness`` on every checkpoint and at least every ``witness_interval`` seconds.
    """
    from gatekeeper.audit._keys import load_or_create_signer

    opener = _backend(urlsplit(url).scheme)
    signer = load_or_create_signer(Path(signing_key)) if signing_key is not None else None
    if trust is None:
        return opener(url, signer=signer, segment_max_bytes=segment_max_bytes,
                      segment_max_seconds=segment_max_seconds, base_dir=Path(base_dir), witness_head=None,
                      on_segment_closed=None)
    from gatekeeper.audit._anchor import AnchoredLog, witness_head

    anchored: list[AnchoredLog] = []

    def closed(segment: Path, checkpoint: Path) -> None:
        for a in anchored:
            a.anchor.kick()

    try:
        log = opener(url, signer=signer, segment_max_bytes=segment_max_bytes,
                     segment_max_seconds=segment_max_seconds, base_dir=Path(base_dir),
                     witness_head=witness_head(trust, signer, local_directory(url, Path(base_dir))),
                     on_segment_closed=closed)
    except BaseException:
        trust.close()
        raise
    # A backend that wraps a FileAuditLog exposes its ``durable_head``: what a digest may vouch for.
    if signer is None or not hasattr(log, "durable_head"):
        trust.close()  # nothing to pin; unsigned digests would prove nothing
        return log
    anchored.append(AnchoredLog(log, lambda: getattr(log, "durable_head"), signer, trust,  # noqa: B009
                                witness_interval))
    return anchored[0]


def local_directory(url: str, base_dir: Path = Path(".")) -> Path:
    """The local directory holding the log at ``url`` (the spool of an object store), for review commands."""
    from gatekeeper.audit._file import file_url_directory

    parts = urlsplit(url)
    if parts.scheme == "file":
        return file_url_directory(url, base_dir)
    if parts.scheme in OBJECT_STORES:
        return Path(_load(OBJECT_STORES[parts.scheme][0])(url, base_dir).spool)
    raise AuditError(f"unknown audit log URL scheme {parts.scheme!r}; expected one of "
                     f"{', '.join(s + '://' for s in sorted(BACKENDS))}")


def remote_sink(url: str, base_dir: Path = Path(".")) -> Any:
    """The object store of the log at ``url`` (an ``_shipper.ObjectSink``), e.g. for ``verify --remote``."""
    scheme = urlsplit(url).scheme
    if scheme not in OBJECT_STORES:
        raise AuditError(f"audit URL {url!r} names no object store; expected one of "
                         f"{', '.join(s + '://' for s in sorted(OBJECT_STORES))}")
    parse, sink = OBJECT_STORES[scheme]
    return _load(sink)(_load(parse)(url, base_dir))


__all__ = [
    "BACKENDS",
    "SCHEMA",
    "AuditLog",
    "AuditTrust",
    "decision_record",
    "event_record",
    "local_directory",
    "open_audit_log",
    "request_from_record",
]
