"""The signing key's PEM files, written and read without cryptography's serialization module.

The bytes must be exactly what cryptography writes (so that keys made before and after, and by any
other tool, are the same files), every other PEM must still go through cryptography's parser with
its errors, and the cold path must not import the serialization module (the reason for all this).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit import _keys
from gatekeeper.errors import AuditError


@pytest.mark.parametrize("n", range(5))
def test_pem_bytes_are_cryptographys_own(n: int) -> None:
    key = Ed25519PrivateKey.generate()
    assert _keys.private_pem(key) == key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption())
    assert _keys.public_pem(key.public_key()) == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert _keys.raw_public(key.public_key()) == key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_a_written_key_reads_back_as_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    created = _keys.load_or_create_signer(path)
    assert created.created and path.stat().st_mode & 0o777 == 0o600
    again = _keys.load_or_create_signer(path)
    assert not again.created and again.key_id == created.key_id
    assert again.private_key.private_bytes_raw() == created.private_key.private_bytes_raw()
    # cryptography reads the file too, as the same key
    theirs = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(theirs, Ed25519PrivateKey)
    assert theirs.private_bytes_raw() == created.private_key.private_bytes_raw()
    # and the published public key is the same key
    published = _keys.publish_public_key(created, tmp_path / "log")
    assert _keys.key_id(_keys.load_public_key(published)) == created.key_id


def test_other_line_endings_and_wrapping_read_the_same_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    body = _keys.private_pem(key).decode().splitlines()
    wrapped = "\r\n".join([body[0], body[1][:20], body[1][20:], body[2]]) + "\r\n"
    path = tmp_path / "key.pem"
    path.write_text(wrapped, newline="")
    path.chmod(0o600)
    assert _keys.load_or_create_signer(path).private_key.private_bytes_raw() == key.private_bytes_raw()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_a_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(AuditError, match="must be an Ed25519 key"):
        _keys.load_or_create_signer(_write(tmp_path / "ec.pem", other))


@pytest.mark.parametrize("data", [
    b"-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    # the right prefix, one byte short of a key
    b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(bytes.fromhex("302e020100300506032b657004220420") + bytes(31))
    + b"\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    b"hello",
    b"",
])
def test_what_is_no_private_key_is_refused_with_the_parsers_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(AuditError, match="not an unencrypted PEM private key"):
        _keys.load_or_create_signer(_write(tmp_path / "bad.pem", data))


def test_an_encrypted_key_is_refused(tmp_path: Path) -> None:
    data = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(AuditError, match="not an unencrypted PEM private key"):
        _keys.load_or_create_signer(_write(tmp_path / "enc.pem", data))


def test_creating_and_loading_the_key_does_not_import_the_serialization_module(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom pathlib import Path\nfrom gatekeeper.audit import _keys\n"
            f"d = Path({str(tmp_path)!r})\n"
            "s = _keys.load_or_create_signer(d / 'key.pem'); _keys.publish_public_key(s, d / 'log')\n"
            "s = _keys.load_or_create_signer(d / 'key.pem'); s.sign(b'x')\n"
            "print(json.dumps(sorted(m for m in sys.modules\n"
            "                        if m.startswith('cryptography.hazmat.primitives.serial'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "log" / "keys").is_dir()
