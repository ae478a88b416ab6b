"""The ``file://`` backend: a log in a local directory (the default, ``file://.gatekeeper/audit``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from gatekeeper.audit._keys import Signer, publish_public_key
from gatekeeper.audit._writer import FileAuditLog, SegmentClosed
from gatekeeper.errors import AuditError


def file_url_directory(url: str, base_dir: Path) -> Path:
    """``file://.gatekeeper/audit`` -> ``base_dir/.gatekeeper/audit``; ``file:///var/log/gk`` -> as is."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise AuditError(f"not a file:// URL: {url!r}")
    if parts.query or parts.fragment:
        raise AuditError(f"a file:// audit URL takes no query or fragment: {url!r}")
    # urlsplit puts the first segment of a relative path in netloc ("file://.gatekeeper/audit").
    raw = unquote(parts.netloc + parts.path)
    if not raw:
        raise AuditError(f"audit URL {url!r} names no directory")
    path = Path(raw)
    return path if path.is_absolute() else Path(base_dir) / path


def open_file_log(
    url: str,
    *,
    signer: Signer | None,
    segment_max_bytes: int,
    segment_max_seconds: int,
    base_dir: Path,
    witness_head: tuple[int, str] | None = None,
    on_segment_closed: SegmentClosed | None = None,
) -> FileAuditLog:
    directory = file_url_directory(url, base_dir)
    log = FileAuditLog(directory, signer=signer, segment_max_bytes=segment_max_bytes,
                       segment_max_seconds=segment_max_seconds, witness_head=witness_head,
                       on_segment_closed=on_segment_closed)
    if signer is not None:
        publish_public_key(signer, directory)
    return log
