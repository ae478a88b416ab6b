"""The writer's side of the trust kept outside the log: pin its key, publish signed digests.

``AnchoredLog`` wraps a log (``file://`` or ``s3://``) and, from one background thread, pins the
writer's key in the store and publishes a signed :class:`~gatekeeper.audit.witness.Digest` of the
newest fsynced record to the witness at least every ``interval`` seconds while records arrive, as
soon as a segment is closed, and when the log is closed. Appends never wait on the store or the
witness (the caller may hold the store's write lock: the screening load records inside its
transaction): a witness that is down is logged and retried, and ``verify`` reports the records it
does not cover yet ("not yet anchored").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from gatekeeper._log import get_logger
from gatekeeper.audit._format import first_hash
from gatekeeper.audit._keys import Signer, fingerprint, key_id
from gatekeeper.audit._ticket import Ticket, append_deferred
from gatekeeper.audit.witness import (
    PIN_CREATED,
    PIN_FIRST_USE,
    AuditTrust,
    Digest,
    PinnedKey,
    trusted_by_rotation,
)

log = get_logger("gatekeeper.audit")

Head = Callable[[], tuple[int, str, str]]


def pin_signer(trust: AuditTrust, signer: Signer) -> bool:
    """Pin the writer's key in the store: when it was just created, or when none is pinned yet.

    True when the key is pinned (now or before). A key that is neither pinned nor introduced by a
    rotation is logged as an error (``verify`` will not trust what it signs): replacing the key file
    is not a rotation (``gatekeeper audit rotate-key``). Never raises: the log must keep recording
    when the store is briefly unavailable (the writer tries again before it publishes a digest).
    """
    if trust.keys is None:
        return False
    fp = fingerprint(signer.public_key)
    if fp in trust.fingerprints:
        return True
    try:
        pins = trust.keys.pinned_keys(trust.log_id)
        if any(p.fingerprint == fp for p in pins):
            return True
        if signer.created or not pins:
            trust.keys.pin_key(trust.log_id, PinnedKey.of(signer.public_key,
                                                          PIN_CREATED if signer.created else PIN_FIRST_USE))
            if any(p.fingerprint == fp for p in trust.keys.pinned_keys(trust.log_id)):
                log.info("audit.key_pinned", log_id=trust.log_id, fingerprint=fp)
                return True
            return False  # the store does not exist yet
        log.error("audit.key_not_pinned", log_id=trust.log_id, fingerprint=fp,
                  advice="checkpoints signed with this key will not verify; rotate keys with "
                         "gatekeeper audit rotate-key instead of replacing the key file")
        return True  # nothing more to try
    except Exception as exc:  # any store error: logged, tried again later
        log.error("audit.key_pin_failed", log_id=trust.log_id, error=f"{type(exc).__name__}: {exc}")
        return False


def witness_head(trust: AuditTrust, signer: Signer | None, directory: Path) -> tuple[int, str] | None:
    """``(seq, hash)`` of the latest digest the witness holds, if it is signed by a trusted key and of this log."""
    if trust.witness is None:
        return None
    try:
        digest = trust.witness.latest_digest(trust.log_id)
        if digest is None:
            return None
        keys = {key_id(k): k for k in trust.public_keys}
        if signer is not None:
            keys[signer.key_id] = signer.public_key
        if trust.keys is not None:
            pins = trust.keys.pinned_keys(trust.log_id)
            keys.update({key_id(p.key): p.key for p in pins if not p.signed_by})
            keys = trusted_by_rotation(pins, keys, trust.log_id)
    except Exception as exc:  # the tail check then relies on the log alone
        log.error("audit.witness_unreadable", log_id=trust.log_id, error=f"{type(exc).__name__}: {exc}")
        return None
    if not digest.verify(keys):
        log.error("audit.witness_digest_untrusted", log_id=trust.log_id, seq=digest.seq, key_id=digest.key_id)
        return None
    mine = first_hash(directory)
    if digest.first_hash and mine and digest.first_hash != mine:
        log.error("audit.witness_other_log", log_id=trust.log_id, seq=digest.seq,
                  advice="the witness holds a digest of another log under this log_id: give each log its own "
                         "[audit] log_id (or this log was rewritten from its first record)")
        return None
    return digest.seq, digest.head_hash


class Anchor:
    """Publishes digests of ``head()`` to the witness from a background thread."""

    def __init__(self, head: Head, signer: Signer, trust: AuditTrust, interval: float, directory: Path) -> None:
        self._head, self._signer, self._trust, self._interval = head, signer, trust, interval
        self._directory = directory
        self._first = ""  # the hash of record 1, read once it exists
        self._published = 0
        self._pinned = False  # pinned by the thread as soon as it starts, retried before each digest
        self._publish_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="gatekeeper-audit-witness", daemon=True)
        self._thread.start()

    @property
    def published_seq(self) -> int:
        return self._published

    def kick(self, *_: Any) -> None:
        """Publish soon (a segment was closed); called from the writer, so it never blocks."""
        self._wake.set()

    def publish(self) -> Digest | None:
        """Publish the current head now if it moved; the digest published, or None."""
        with self._publish_lock:
            if not self._pinned:
                self._pinned = pin_signer(self._trust, self._signer)
            seq, digest_hash, segment = self._head()
            if seq <= self._published or self._trust.witness is None:
                return None
            self._first = self._first or first_hash(self._directory)
            digest = Digest.sign(self._signer, log_id=self._trust.log_id, seq=seq, head_hash=digest_hash,
                                 segment=segment, first_hash=self._first)
            try:
                self._trust.witness.publish_digest(digest)
            except Exception as exc:  # retried at the next interval; verify reports what is unanchored
                log.error("audit.witness_publish_failed", log_id=self._trust.log_id, seq=seq,
                          witness=self._trust.witness.name, error=f"{type(exc).__name__}: {exc}")
                return None
            self._published = seq
            return digest

    def _run(self) -> None:
        with self._publish_lock:
            self._pinned = pin_signer(self._trust, self._signer)
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            if not self._stopping:
                self.publish()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self.publish()


class AnchoredLog:
    """An audit log whose head is published to a witness (implements ``gatekeeper.audit.AuditLog``)."""

    def __init__(self, inner: Any, head: Head, signer: Signer, trust: AuditTrust, interval: float) -> None:
        self.inner = inner
        self.directory: Path = inner.directory
        self.trust = trust
        self.anchor = Anchor(head, signer, trust, interval, self.directory)
        # Asked before every recorded decision: looked up once (a log without it, the file log,
        # would raise and swallow an AttributeError on each call).
        self._inner_unavailable: Callable[[], str | None] | None = getattr(inner, "unavailable", None)

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.inner.append(record)
        return result

    def append_deferred(self, record: dict[str, Any]) -> Ticket:
        """Write ``record`` now; its ticket's ``wait()`` returns once it is durable (see ``_ticket``)."""
        return append_deferred(self.inner, record)

    def append_many(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.inner.append_many(records)
        return result

    def unavailable(self) -> str | None:
        """The wrapped log's reason it cannot keep records safe now (e.g. an object store refusing
        segments past ``max_unshipped_seconds``), or None: the service fails closed on it, so the
        anchoring must not hide it."""
        inner = self._inner_unavailable
        return inner() if inner is not None else None

    def publish(self) -> Digest | None:
        """Publish a digest of the newest durable record now (tests, and hosts about to freeze)."""
        return self.anchor.publish()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            try:
                self.anchor.close()
            finally:
                self.trust.close()

    def __enter__(self) -> AnchoredLog:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
