"""Trust kept outside the log: pinned public keys and signed digests held by a witness.

A log cannot vouch for itself: whoever can rewrite its files can also re-sign them with a key of
their own and put that key in ``keys/``, or cut records off its end. So a verifier trusts only
what is kept elsewhere:

- **Pinned keys** (:class:`KeyRegistry`): the fingerprints of the keys allowed to sign the log, in
  the configuration (``[audit] trusted_keys``) and in the state store, where the writer pins its key
  when it creates it. A new key is trusted only through a rotation signed by the key before it.
- **The witness** (:class:`Witness`): the writer publishes a signed :class:`Digest` of the log's
  head (how many records, the hash of the last one, in which segment) on every checkpoint and at
  least every ``witness_interval_seconds`` while records arrive. ``verify`` checks the log against
  the latest digest, so records cut off the end, deleted segments and rewrites are caught. Like a
  signed tree head (RFC 9162): the head hash of a hash chain commits to every record before it.

Both extension points are small Protocols; the state-store backends implement them
(``gatekeeper.stores.audit_trust``: SQLite, DynamoDB) and S3 Object Lock implements ``Witness``
(``gatekeeper.audit._s3_witness``). A backend only stores and returns what it is given; signatures
are made and checked here, so a backend cannot forge a digest or a key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gatekeeper.audit._format import canonical
from gatekeeper.audit._keys import (
    FINGERPRINT_PREFIX,
    Signer,
    check_signature,
    fingerprint,
    key_id,
    public_from_raw,
    raw_public,
)
from gatekeeper.errors import AuditError

DIGEST_SCHEMA = "gatekeeper.audit.digest/v1"
ROTATION_SCHEMA = "gatekeeper.audit.rotation/v1"
DEFAULT_LOG_ID = "default"

# Why a key is pinned.
PIN_CREATED = "created"      # the writer created the key and pinned it at once
PIN_FIRST_USE = "first use"  # a key that existed before any was pinned for this log
PIN_ROTATION = "rotation"    # introduced by a rotation signed by the key before it


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Digest:
    """A signed statement of a log's head: records 1..``seq`` end with ``head_hash``."""

    log_id: str
    seq: int
    head_hash: str
    segment: str
    at: str
    key_id: str
    signature: str = ""
    # The hash of record 1: which log this is a digest of (two logs must not share a log id).
    first_hash: str = ""

    def payload(self) -> bytes:
        """The signed bytes: every member but ``signature``, canonical JSON, with the schema."""
        d = {k: v for k, v in asdict(self).items() if k != "signature"}
        return canonical({"schema": DIGEST_SCHEMA, **d})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Digest:
        try:
            return cls(str(d["log_id"]), int(d["seq"]), str(d["head_hash"]), str(d["segment"]), str(d["at"]),
                       str(d["key_id"]), str(d.get("signature") or ""), str(d.get("first_hash") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"malformed audit digest from the witness: {exc!r}") from exc

    @classmethod
    def sign(cls, signer: Signer, *, log_id: str, seq: int, head_hash: str, segment: str,
             first_hash: str = "") -> Digest:
        unsigned = cls(log_id, seq, head_hash, segment, _now(), signer.key_id, first_hash=first_hash)
        return cls(**{**asdict(unsigned), "signature": signer.sign(unsigned.payload())})

    def verify(self, keys: dict[str, Ed25519PublicKey]) -> bool:
        public = keys.get(self.key_id)
        return public is not None and bool(self.signature) and check_signature(public, self.signature,
                                                                              self.payload())


@dataclass(frozen=True)
class PinnedKey:
    """A public key trusted to sign a log, as kept outside it."""

    fingerprint: str
    public_key: str  # raw 32 bytes, base64
    pinned_at: str
    reason: str
    signed_by: str | None = None   # for a rotation: the fingerprint of the key before it
    signature: str | None = None   # for a rotation: that key's signature over rotation_payload()

    @property
    def key(self) -> Ed25519PublicKey:
        k = public_from_raw(self.public_key)
        if fingerprint(k) != self.fingerprint:
            raise AuditError(f"pinned key {self.fingerprint}: the stored public key has another fingerprint")
        return k

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PinnedKey:
        try:
            return cls(str(d["fingerprint"]), str(d["public_key"]), str(d["pinned_at"]), str(d["reason"]),
                       d.get("signed_by") or None, d.get("signature") or None)
        except (KeyError, TypeError) as exc:
            raise AuditError(f"malformed pinned audit key from the store: {exc!r}") from exc

    @classmethod
    def of(cls, public: Ed25519PublicKey, reason: str) -> PinnedKey:
        return cls(fingerprint(public), base64.b64encode(raw_public(public)).decode("ascii"), _now(), reason)


def rotation_payload(log_id: str, new: Ed25519PublicKey, previous_fingerprint: str) -> bytes:
    """What the previous key signs to hand trust on to the new one."""
    return canonical({"schema": ROTATION_SCHEMA, "log_id": log_id, "new": fingerprint(new),
                      "new_public_key": base64.b64encode(raw_public(new)).decode("ascii"),
                      "previous": previous_fingerprint})


@runtime_checkable
class Witness(Protocol):
    """Keeps the newest signed digest of each log, outside the log's directory.

    # INVARIANT: ``publish_digest`` never replaces a digest by one with a lower ``seq`` (one
    # conditional write, not a read then a write), so the digest kept only moves forward.
    """

    name: str

    def publish_digest(self, digest: Digest) -> bool:
        """Keep ``digest`` unless one with a higher ``seq`` is kept; True when it is (now) the one kept."""
        ...

    def latest_digest(self, log_id: str) -> Digest | None:
        """The digest kept for ``log_id``, or None when none was ever published."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class KeyRegistry(Protocol):
    """The public keys pinned for each log (the state store's share of the trust)."""

    def pin_key(self, log_id: str, key: PinnedKey) -> None:
        """Pin ``key`` for ``log_id``; a key already pinned stays as it was (idempotent)."""
        ...

    def pinned_keys(self, log_id: str) -> list[PinnedKey]:
        """The keys pinned for ``log_id``, oldest first."""
        ...

    def close(self) -> None:
        ...


@dataclass
class AuditTrust:
    """What the writer and the verifier use from outside the log: a key registry and a witness."""

    keys: KeyRegistry | None = None
    witness: Witness | None = None
    log_id: str = DEFAULT_LOG_ID
    # Fingerprints pinned in the configuration (``[audit] trusted_keys``), ``ed25519:<64 hex>``.
    fingerprints: frozenset[str] = frozenset()
    # Public keys given explicitly (``verify --public-key``, or PEM paths in ``trusted_keys``).
    public_keys: tuple[Ed25519PublicKey, ...] = ()

    def close(self) -> None:
        seen: set[int] = set()
        for part in (self.keys, self.witness):
            if part is not None and id(part) not in seen:
                seen.add(id(part))
                part.close()


def check_fingerprint(value: str) -> str:
    """``value`` if it is ``ed25519:`` and 64 lower-case hex digits, else AuditError."""
    v = value.strip().lower()
    hexpart = v[len(FINGERPRINT_PREFIX):]
    if not v.startswith(FINGERPRINT_PREFIX) or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise AuditError(f"trusted key {value!r} must be 'ed25519:' and 64 hex digits (the SHA-256 of the raw "
                         "public key: gatekeeper audit keys shows it) or the path of a PEM public key")
    return v


def trusted_by_rotation(pins: Iterable[PinnedKey], trusted: dict[str, Ed25519PublicKey],
                        log_id: str) -> dict[str, Ed25519PublicKey]:
    """``trusted`` (by key id) plus every key introduced by a valid rotation from a trusted key."""
    out = dict(trusted)
    by_fp = {fingerprint(k): k for k in out.values()}
    pending = [p for p in pins if p.signed_by and p.signature]
    progress = True
    while progress:
        progress = False
        for p in list(pending):
            prev = by_fp.get(str(p.signed_by))
            if prev is None:
                continue
            pending.remove(p)
            new = p.key
            if check_signature(prev, str(p.signature), rotation_payload(log_id, new, str(p.signed_by))):
                out[key_id(new)] = new
                by_fp[p.fingerprint] = new
                progress = True
    return out
