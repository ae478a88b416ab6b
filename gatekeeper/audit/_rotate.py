"""Key rotation: the signing key hands trust to a new key with a signed record (``audit rotate-key``).

Replacing the key file is not a rotation: a verifier would not trust the new key (a forger could do
the same). A rotation is a statement signed by the key before it, naming the new key, kept twice:
as an ``audit.key_rotated`` record in the log (covered by the old key's next checkpoint) and as a
pinned key in the state store. Either lets a verifier that trusts the old key trust the new one.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit._format import KIND_KEY_ROTATED, fsync_dir
from gatekeeper.audit._keys import (
    Signer,
    fingerprint,
    key_id,
    load_or_create_signer,
    raw_public,
    write_private_key,
)
from gatekeeper.audit.record import event_record
from gatekeeper.audit.witness import PIN_ROTATION, AuditTrust, PinnedKey, rotation_payload
from gatekeeper.errors import AuditError


def rotate_signing_key(log: Any, old: Signer, key_path: Path, trust: AuditTrust, *, actor: str) -> Signer:
    """Rotate ``old`` (the key at ``key_path``, signing ``log``) to a new key; close ``log``.

    Order, so that a crash at any step leaves a log that verifies: the new key is written beside the
    old one; the rotation is pinned in the store and appended to the log; the log is closed (the old
    key's checkpoint covers the rotation); only then the new key replaces the old file, which is kept
    as ``<name>.retired-<key id>``. Writers elsewhere pick up the new key when they restart.
    """
    new = Ed25519PrivateKey.generate()
    staged = key_path.with_name(f"{key_path.name}.new")
    try:
        staged.unlink(missing_ok=True)
        write_private_key(staged, new)
    except OSError as exc:
        raise AuditError(f"cannot write the new signing key {staged}: {exc.strerror or exc}") from exc
    previous = fingerprint(old.public_key)
    signature = old.sign(rotation_payload(trust.log_id, new.public_key(), previous))
    pinned = PinnedKey(fingerprint(new.public_key()), base64.b64encode(raw_public(new.public_key())).decode("ascii"),
                       PinnedKey.of(new.public_key(), PIN_ROTATION).pinned_at, PIN_ROTATION, previous, signature)
    if trust.keys is not None:
        trust.keys.pin_key(trust.log_id, pinned)
    log.append(event_record(KIND_KEY_ROTATED, actor, {
        "log_id": trust.log_id, "fingerprint": pinned.fingerprint, "key_id": key_id(new.public_key()),
        "public_key": pinned.public_key, "previous": previous, "previous_key_id": old.key_id,
        "signature": signature}))
    log.close()
    retired = key_path.with_name(f"{key_path.name}.retired-{old.key_id}")
    try:
        os.link(key_path, retired)
        os.replace(staged, key_path)
        fsync_dir(key_path.parent)
    except OSError as exc:
        raise AuditError(f"the rotation is recorded but the new key could not be put in place at {key_path}: "
                         f"{exc.strerror or exc}; move {staged} there by hand") from exc
    return load_or_create_signer(key_path)
