"""Ed25519 keys for checkpoint and digest signatures: create on first use, load, sign, verify.

The private key (PEM, PKCS#8, unencrypted) lives at ``[audit] signing_key``, created with mode 0600
the first time a log is opened. Its public half is written beside the log as ``keys/<key id>.pem``
for convenience only: a key found there is never trusted for being there (anyone who can rewrite
the log can put a key there). Trust comes from outside the log: the key's ``fingerprint`` pinned in
the configuration or the state store (``gatekeeper.audit.witness``), or a rotation signed by a
trusted key. The key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key (the
fingerprint is all 64); every checkpoint and digest names the key that signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gatekeeper._log import get_logger
from gatekeeper.audit._format import fsync_dir, write_atomic
from gatekeeper.errors import AuditError

log = get_logger("gatekeeper.audit")

KEYS_DIR = "keys"


FINGERPRINT_PREFIX = "ed25519:"

# The key files this module writes: PEM of the PKCS#8 (RFC 8410, version 1) encoding of an Ed25519
# private key, and of the SubjectPublicKeyInfo of its public key; each is a fixed DER prefix and the
# raw 32 bytes. Written (and the private key read) here without
# ``cryptography.hazmat.primitives.serialization``, whose import (with its SSH, DSA, RSA and EC modules)
# costs more than the rest of the signing in a Lambda cold start; any other PEM goes through that
# general parser. tests/audit/test_keys_pem.py holds the bytes equal to cryptography's own encoding.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN, _PEM_END = b"-----BEGIN PRIVATE KEY-----", b"-----END PRIVATE KEY-----"


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public_key)).hexdigest()[:16]


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``ed25519:<SHA-256 of the raw 32-byte public key, 64 hex>``: how a key is pinned outside the log.

    The key id is the first 16 hex digits of the same hash, so a fingerprint names its key id.
    """
    return FINGERPRINT_PREFIX + hashlib.sha256(raw_public(public_key)).hexdigest()


def public_from_raw(raw_b64: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its raw 32 bytes in base64 (how the trust store keeps it)."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(raw_b64, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise AuditError(f"not a base64 raw Ed25519 public key: {exc}") from exc


def _pem(label: bytes, der: bytes) -> bytes:
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, base64.b64encode(der), label)


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """PEM, SubjectPublicKeyInfo: the bytes ``public_bytes(PEM, SubjectPublicKeyInfo)`` gives."""
    return _pem(b"PUBLIC KEY", _SPKI_ED25519 + public_key.public_bytes_raw())


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PEM, PKCS#8, unencrypted: the bytes ``private_bytes(PEM, PKCS8, NoEncryption())`` gives."""
    return _pem(b"PRIVATE KEY", _PKCS8_ED25519 + key.private_bytes_raw())


def load_private_pem(data: bytes) -> object:
    """The private key in PEM ``data``: one written by :func:`private_pem` directly, any other through
    ``cryptography``'s PEM parser (ValueError or TypeError for what is not an unencrypted private key)."""
    lines = data.strip().splitlines()
    if len(lines) >= 3 and lines[0].strip() == _PEM_BEGIN and lines[-1].strip() == _PEM_END:
        try:
            der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
        except binascii.Error:
            der = b""
        if len(der) == len(_PKCS8_ED25519) + 32 and der.startswith(_PKCS8_ED25519):
            return Ed25519PrivateKey.from_private_bytes(der[len(_PKCS8_ED25519):])
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(data, password=None)


@dataclass(frozen=True)
class Signer:
    """The private key that signs checkpoints."""

    private_key: Ed25519PrivateKey
    key_id: str
    # True when this process created the key file (it is then pinned in the trust store).
    created: bool = field(default=False, compare=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.private_key.sign(payload)).decode("ascii")


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` (PEM, PKCS#8, unencrypted) to a new file ``path``, mode 0600, fsynced."""
    pem = private_pem(key)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_or_create_signer(path: Path) -> Signer:
    """The signing key at ``path``; a new one is created (mode 0600) when the file does not exist.

    Creation is safe against several processes starting at once: the key is written to a private
    temporary file and hard-linked into place, so exactly one key wins and everyone loads it.
    """
    created = False
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = Ed25519PrivateKey.generate()
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            write_private_key(tmp, key)
            try:
                os.link(tmp, path)
                created = True
                log.info("audit.key_created", path=str(path), key_id=key_id(key.public_key()))
            except FileExistsError:
                pass  # another process created it first: use theirs
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(path.parent)
        except OSError as exc:
            raise AuditError(f"cannot create the audit signing key {path}: {exc.strerror or exc}") from exc
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read the audit signing key {path}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("audit.key_permissions", path=str(path), mode=oct(mode & 0o777),
                    advice="the signing key should be readable by its owner only (chmod 600)")
    try:
        private = load_private_pem(data)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditError(f"{path}: the audit signing key must be an Ed25519 key")
    return Signer(private, key_id(private.public_key()), created)


def publish_public_key(signer: Signer, directory: Path) -> Path:
    """Write the public key beside the log (``keys/<key id>.pem``) unless it is already there."""
    keys = directory / KEYS_DIR
    target = keys / f"{signer.key_id}.pem"
    if not target.exists():
        try:
            keys.mkdir(parents=True, exist_ok=True)
            write_atomic(target, public_pem(signer.public_key))
        except OSError as exc:
            raise AuditError(f"cannot write the public key {target}: {exc.strerror or exc}") from exc
    return target


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (a private key file is accepted too: its public half is used)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read public key {path}: {exc.strerror or exc}") from exc
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise AuditError(f"{path}: not a PEM public key") from exc
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path}: not an Ed25519 public key")
    return key


def keys_beside(directory: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys published beside a log, by key id."""
    found: dict[str, Ed25519PublicKey] = {}
    keys = directory / KEYS_DIR
    if keys.is_dir():
        for p in sorted(keys.glob("*.pem")):
            k = load_public_key(p)
            found[key_id(k)] = k
    return found


def check_signature(public_key: Ed25519PublicKey, signature: str, payload: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
