"""A forged or truncated log never verifies: keys pinned outside the log, the witness's digests.

Each tampering case of issue 15 is run against a plain ``gatekeeper audit verify --config`` (the
embedded-default layout: the trust in the SQLite store beside the config), with no extra flag.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from gatekeeper.audit._anchor import AnchoredLog
from gatekeeper.audit._format import KIND_FAULT, SUFFIX_LEN, encode_line
from gatekeeper.audit._keys import Signer, fingerprint, key_id, public_pem
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.verify import verify_log
from gatekeeper.audit.witness import AuditTrust, Digest
from gatekeeper.cli.audit import app
from gatekeeper.config import load_config
from gatekeeper.errors import ConfigError
from gatekeeper.stores.audit_trust import SQLiteAuditTrust, trust_from_config
from tests.audit.conftest import STATE, open_log, read_records, segment_lines, trust_of, verify

runner = CliRunner()
SEG1, SEG2 = "segment-00000001.jsonl", "segment-00000002.jsonl"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[audit]\nurl = "file://audit"\nsigning_key = "key.pem"\n', encoding="utf-8")
    return f


def cli_verify(cfg: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["verify", "--config", str(cfg), "--json", *extra])
    return result.exit_code, stdout_json(result.stdout)


def write(base: Path, n: int, *, close: bool = True, publish: bool = False, **kw: Any) -> AnchoredLog:
    log: Any = open_log(base, trust=True, **kw)
    for i in range(n):
        log.append({"kind": "x.y", "actor": "t", "data": {"i": i, "name": "Lion City AI", "pad": "p" * 40}})
    if publish:
        assert log.publish() is not None
    if close:
        log.close()
    return log  # type: ignore[no-any-return]


def members(line: bytes) -> bytes:
    """The record's own members of a line (between ``prev_hash`` and ``hash``)."""
    start = line.index(b'"prev_hash":"') + len(b'"prev_hash":"') + 64 + 2
    return line[start:-SUFFIX_LEN - 1]


def rehash(seg: Path, edit: int, old: bytes, new: bytes) -> None:
    """Edit line ``edit`` (0-based) and recompute the chain after it: the segment stays self-consistent."""
    lines = segment_lines(seg)
    first = json.loads(lines[0])
    seq, prev = first["seq"], first["prev_hash"].encode()
    out = []
    for i, line in enumerate(lines):
        m = members(line)
        if i == edit:
            assert old in m
            m = m.replace(old, new)
        full, prev = encode_line(seq, prev, m)
        out.append(full)
        seq += 1
    seg.write_bytes(b"".join(out))


def stdout_json(text: str) -> Any:
    """The JSON document a command printed (log lines may come before it)."""
    return json.loads(text[text.index("{\n") if text.startswith("{\n") else text.index("\n{\n") + 1:])


def forge(directory: Path, key: Ed25519PrivateKey, *, edit: tuple[bytes, bytes], max_bytes: int) -> None:
    """Rewrite the whole log with one record changed, re-signed with ``key``, whose public key goes in keys/."""
    records = [json.loads(line) for seg in sorted(directory.glob("segment-*.jsonl"))
               for line in segment_lines(seg)]
    for p in [*directory.glob("segment-*"), *(directory / "keys").glob("*.pem")]:
        p.unlink()
    evil = Signer(key, key_id(key.public_key()))
    with FileAuditLog(directory, signer=evil, segment_max_bytes=max_bytes) as log:
        for rec in records:
            if rec["kind"] == "audit.segment":
                continue
            rec = {k: v for k, v in rec.items() if k not in ("seq", "prev_hash", "hash")}
            rec = json.loads(json.dumps(rec).replace(edit[0].decode(), edit[1].decode()))
            log.append(rec)
    (directory / "keys" / f"{evil.key_id}.pem").write_bytes(public_pem(key.public_key()))


# -- the happy path --------------------------------------------------------------------------------------
def test_plain_verify_is_intact_with_the_key_pinned_by_the_writer_and_its_digest(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 20)
    code, js = cli_verify(cfg)
    assert code == 0 and js["status"] == "intact" and js["ok"] is True
    assert js["witness"]["seq"] == js["head_seq"] == js["anchored_seq"] == 21 and js["unanchored_records"] == 0
    pins = trust_of(tmp_path).keys.pinned_keys("default")  # type: ignore[union-attr]
    assert [p.reason for p in pins] == ["created"]
    assert js["keys"] == [pins[0].fingerprint.split(":")[1][:16]]
    out = runner.invoke(app, ["verify", "--config", str(cfg)]).output
    assert "intact" in out and "witness: sqlite store" in out


def test_records_after_the_digest_are_reported_as_not_yet_anchored(cfg: Path, tmp_path: Path) -> None:
    log = write(tmp_path, 5, close=False, publish=True)
    for i in range(3):
        log.append({"kind": "x.y", "data": {"i": i}})
        time.sleep(0.01)
    code, js = cli_verify(cfg)
    assert code == 0 and js["status"] == "intact" and js["anchored_seq"] == 6
    assert js["unanchored_records"] == 3 and js["unanchored_seconds"] >= 0.02
    out = runner.invoke(app, ["verify", "--config", str(cfg)]).output
    assert "3 records over" in out and "not yet anchored" in out
    log.close()


def test_the_writer_publishes_at_least_every_interval_while_records_arrive(tmp_path: Path) -> None:
    log: Any = open_log(tmp_path, trust=True, witness_interval=0.05)
    witness = trust_of(tmp_path).witness
    assert witness is not None
    for i in range(3):
        rec = log.append({"kind": "x.y", "data": {"i": i}})
        deadline = time.monotonic() + 10
        while (d := witness.latest_digest("default")) is None or d.seq < rec["seq"]:
            assert time.monotonic() < deadline, "no digest published within the interval"
            time.sleep(0.02)
        assert d.head_hash == rec["hash"] and d.segment == SEG1
    log.close()


# -- trusted keys ---------------------------------------------------------------------------------------
def test_without_a_trusted_key_verify_says_unverified_never_intact(cfg: Path, tmp_path: Path) -> None:
    with open_log(tmp_path) as log:  # no trust store: nothing pinned, nothing published
        log.append({"kind": "x.y", "data": {}})
    r = verify_log(tmp_path / "audit")
    assert r.status == "unverified" and not r.ok and r.consistent and "no trusted key" in r.unverified_because
    code, js = cli_verify(cfg)
    assert code == 1 and js["status"] == "unverified" and js["ok"] is False and js["problem"] is None
    out = runner.invoke(app, ["verify", "--config", str(cfg)]).output
    assert "unverified" in out and "intact" not in out


def test_full_rewrite_resigned_with_a_new_key_in_keys_fails(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 30, segment_max_bytes=2500)
    d = tmp_path / "audit"
    forge(d, Ed25519PrivateKey.generate(), edit=(b'"i":7,', b'"i":8,'), max_bytes=2500)
    assert verify_log(d, public_keys=[next((d / "keys").glob("*.pem"))]).consistent  # self-consistent forgery
    code, js = cli_verify(cfg)
    assert code == 1 and js["status"] == "failed" and "which is not trusted" in js["problem"]["message"]
    # Even a verifier tricked into trusting the forger's key catches it against the witness.
    r = verify(d, public_keys=[next((d / "keys").glob("*.pem"))])
    assert r.status == "failed" and r.problem is not None and "rewritten from its start" in r.problem.message


def test_config_pins_by_fingerprint_without_the_store(tmp_path: Path) -> None:
    write(tmp_path, 3)
    real = fingerprint(_public(tmp_path / "key.pem"))
    other = tmp_path / "other.toml"
    other.write_text(f'[store]\nurl = "sqlite:///elsewhere/state.db"\n[audit]\nurl = "file://audit"\n'
                     f'signing_key = "key.pem"\nwitness = "none"\ntrusted_keys = ["{real}"]\n', encoding="utf-8")
    code, js = cli_verify(other)
    assert code == 0 and js["status"] == "intact" and any("no witness" in w for w in js["warnings"])
    assert not (tmp_path / "elsewhere").exists()  # a verifier never creates a store
    wrong = "ed25519:" + "ab" * 32
    other.write_text(other.read_text().replace(real, wrong), encoding="utf-8")
    code, js = cli_verify(other)
    assert code == 1 and js["status"] == "failed" and "not trusted" in js["problem"]["message"]


def _public(path: Path) -> Any:
    from gatekeeper.audit._keys import load_public_key

    return load_public_key(path)


def test_config_errors_for_trusted_keys_and_witness(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    for body, match in (('trusted_keys = ["ed25519:xyz"]', "64 hex digits"),
                        ('witness = "dynamo"', "witness must be"),
                        ('witness_interval_seconds = 600', "witness_interval_seconds"),
                        ('log_id = "a b"', "log_id")):
        f.write_text(f"[audit]\n{body}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=match):
            load_config(f)
    f.write_text('[audit]\ntrusted_keys = ["missing.pem"]\n', encoding="utf-8")
    from gatekeeper.errors import AuditError

    with pytest.raises(AuditError, match="cannot read public key"):
        trust_from_config(load_config(f))


def test_a_replaced_key_file_is_not_trusted(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 3)
    (tmp_path / "key.pem").unlink()
    log: Any = open_log(tmp_path, trust=True)  # a new key is created...
    log.append({"kind": "x.y", "data": {}})
    log.close()
    # ...and pinned as "created" (the writer made it); the old checkpoints keep verifying with the old key.
    code, js = cli_verify(cfg)
    assert code == 0 and len(js["keys"]) == 2
    # A key file swapped for one the writer did not create is not pinned: what it signs does not verify.
    (tmp_path / "key.pem").unlink()
    stranger = Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "key.pem").chmod(0o600)
    log = open_log(tmp_path, trust=True)
    log.append({"kind": "x.y", "data": {}})
    log.close()
    pins = [p.fingerprint for p in trust_of(tmp_path).keys.pinned_keys("default")]  # type: ignore[union-attr]
    assert fingerprint(stranger.public_key()) not in pins and len(pins) == 2
    code, js = cli_verify(cfg)
    assert code == 1 and "not trusted" in js["problem"]["message"]


def test_rotation_is_a_record_signed_by_the_previous_key(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 5)
    old = fingerprint(_public(tmp_path / "key.pem"))
    result = runner.invoke(app, ["rotate-key", "--config", str(cfg), "--by", "alice", "--json"])
    assert result.exit_code == 0, result.output
    out = stdout_json(result.stdout)
    assert out["previous"] == old and out["new"] == fingerprint(_public(tmp_path / "key.pem")) != old
    assert list(tmp_path.glob("key.pem.retired-*"))
    write(tmp_path, 4)  # the writer signs with the new key now
    code, js = cli_verify(cfg)
    assert code == 0 and js["status"] == "intact" and len(js["keys"]) == 2
    rot = [r for r in read_records(tmp_path / "audit") if r["kind"] == "audit.key_rotated"]
    assert len(rot) == 1 and rot[0]["actor"] == "alice" and rot[0]["data"]["previous"] == old
    keys = runner.invoke(app, ["keys", "--config", str(cfg), "--json"])
    pinned = stdout_json(keys.stdout)["pinned"]
    assert [(p["reason"], p["signed_by"]) for p in pinned] == [("created", None), ("rotation", old)]
    # A verifier that pins only the first key (config, no store) follows the rotation in the log.
    only_old = tmp_path / "old.toml"
    only_old.write_text(f'[store]\nurl = "sqlite:///none/state.db"\n[audit]\nurl = "file://audit"\n'
                        f'signing_key = "key.pem"\nwitness = "none"\ntrusted_keys = ["{old}"]\n', encoding="utf-8")
    code, js = cli_verify(only_old)
    assert code == 0 and js["status"] == "intact" and len(js["keys"]) == 2


def test_a_forged_rotation_record_introduces_nothing(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 3)
    evil = Ed25519PrivateKey.generate()
    pub = _public_b64(evil)
    log = open_log(tmp_path, trust=True)
    # Signed by the evil key itself, not by the trusted previous key.
    from gatekeeper.audit.witness import rotation_payload

    sig = Signer(evil, key_id(evil.public_key())).sign(rotation_payload("default", evil.public_key(), "x"))
    log.append({"kind": "audit.key_rotated", "actor": "mallory", "data": {
        "fingerprint": fingerprint(evil.public_key()), "public_key": pub, "previous":
        fingerprint(_public(tmp_path / "key.pem")), "signature": sig}})
    log.close()
    from gatekeeper.audit.verify import rotation_records
    from gatekeeper.audit.witness import trusted_by_rotation

    pins = [p for _, p in rotation_records(tmp_path / "audit")]
    trusted = {key_id(_public(tmp_path / "key.pem")): _public(tmp_path / "key.pem")}
    assert set(trusted_by_rotation(pins, trusted, "default")) == set(trusted)


def _public_b64(key: Ed25519PrivateKey) -> str:
    import base64

    from gatekeeper.audit._keys import raw_public

    return base64.b64encode(raw_public(key.public_key())).decode()


# -- the witness catches what the log alone cannot ---------------------------------------------------------
def test_tail_cut_of_the_open_segment_fails(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 10, close=False, publish=True)
    seg = tmp_path / "audit" / SEG1
    seg.write_bytes(b"".join(segment_lines(seg)[:-3]))
    assert verify_log(tmp_path / "audit", public_keys=[tmp_path / "key.pem"]).consistent  # the log alone: fine
    code, js = cli_verify(cfg)
    assert code == 1 and js["status"] == "failed"
    message = js["problem"]["message"]
    assert "the log ends at seq 8" in message and "records 9..11 were removed" in message


def test_open_segment_deleted_fails(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 5)
    write(tmp_path, 5, close=False, publish=True)
    (tmp_path / "audit" / SEG2).unlink()
    assert verify_log(tmp_path / "audit", public_keys=[tmp_path / "key.pem"]).consistent
    code, js = cli_verify(cfg)
    assert code == 1 and js["status"] == "failed" and "records 7..12 were removed" in js["problem"]["message"]


def test_newest_closed_segment_and_its_checkpoint_deleted_fails(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 40, segment_max_bytes=2500)
    d = tmp_path / "audit"
    last = max(d.glob("segment-*.jsonl"))
    last.unlink()
    last.with_name(last.name.replace(".jsonl", ".checkpoint.json")).unlink()
    assert verify_log(d, public_keys=[tmp_path / "key.pem"]).consistent
    code, js = cli_verify(cfg)
    assert code == 1 and js["status"] == "failed" and "were removed" in js["problem"]["message"]


def test_a_digest_not_signed_by_a_trusted_key_fails(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 3)
    evil = Ed25519PrivateKey.generate()
    store = SQLiteAuditTrust(tmp_path / STATE)
    forged = Digest.sign(Signer(evil, key_id(evil.public_key())), log_id="default", seq=99, head_hash="0" * 64,
                         segment=SEG1)
    assert store.publish_digest(forged)
    code, js = cli_verify(cfg)
    assert code == 1 and "the witness was tampered with" in js["problem"]["message"]


def test_the_witness_only_moves_forward(tmp_path: Path) -> None:
    store = SQLiteAuditTrust(tmp_path / STATE)
    signer = Signer(Ed25519PrivateKey.generate(), "k")
    d5 = Digest.sign(signer, log_id="L", seq=5, head_hash="a" * 64, segment=SEG1)
    d3 = Digest.sign(signer, log_id="L", seq=3, head_hash="b" * 64, segment=SEG1)
    assert store.publish_digest(d5) and not store.publish_digest(d3)
    assert store.latest_digest("L") == d5 and store.latest_digest("other") is None
    assert SQLiteAuditTrust(tmp_path / "absent.db", create=False).latest_digest("L") is None
    assert not (tmp_path / "absent.db").exists()


def test_two_logs_share_one_store_by_log_id(tmp_path: Path) -> None:
    a = AuditTrust(keys=SQLiteAuditTrust(tmp_path / STATE), witness=SQLiteAuditTrust(tmp_path / STATE), log_id="a")
    from gatekeeper.audit import open_audit_log

    log = open_audit_log("file://a", signing_key=tmp_path / "ka.pem", base_dir=tmp_path, trust=a)
    log.append({"kind": "x.y", "data": {}})
    log.close()
    b_trust = trust_of(tmp_path, "b")
    r = verify_log(tmp_path / "a", trust=b_trust)
    assert r.status == "unverified"  # log "b" has no key pinned: the digest of "a" says nothing about it
    r = verify_log(tmp_path / "a", trust=trust_of(tmp_path, "a"))
    assert r.status == "intact" and r.anchored_seq == 2


# -- the writer refuses to extend a damaged open segment ---------------------------------------------------
def test_edited_open_segment_is_sealed_on_reopen_not_extended(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 10, close=False, publish=True)  # a writer "crashed" (abandoned) with an open segment
    seg = tmp_path / "audit" / SEG1
    rehash(seg, 4, b'"i":3,', b'"i":33,')  # edited and re-hashed: self-consistent, but not what was anchored
    edited = seg.read_bytes()
    log: Any = open_log(tmp_path, trust=True)
    log.append({"kind": "x.y", "data": {"after": True}})
    log.close()
    assert seg.read_bytes() == edited  # nothing appended to, or signed over, the edit
    cp = json.loads((tmp_path / "audit" / "segment-00000001.checkpoint.json").read_text())
    assert "the witness digest" in cp["damaged"]["problem"]
    faults = [r for r in read_records(tmp_path / "audit") if r["kind"] == KIND_FAULT]
    assert len(faults) == 1 and faults[0]["data"]["segment"] == SEG1
    code, js = cli_verify(cfg)
    assert code == 1 and js["problem"]["segment"] == SEG1 and "damaged" in js["problem"]["message"]


def test_open_segment_edited_in_place_is_sealed_too(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 10, close=False)
    seg = tmp_path / "audit" / SEG1
    lines = segment_lines(seg)
    lines[3] = lines[3].replace(b'"i":2,', b'"i":9,')
    seg.write_bytes(b"".join(lines))
    log: Any = open_log(tmp_path, trust=True)
    nxt = log.append({"kind": "x.y", "data": {}})
    log.close()
    assert (tmp_path / "audit" / SEG2).exists() and nxt["seq"] == 14  # 11 before, a header and a fault
    code, js = cli_verify(cfg)
    assert code == 1 and js["problem"]["segment"] == SEG1 and js["problem"]["line"] == 4


def test_reopen_after_the_open_segment_was_deleted_records_the_fault(tmp_path: Path) -> None:
    write(tmp_path, 3)
    write(tmp_path, 3, close=False, publish=True)
    (tmp_path / "audit" / SEG2).unlink()
    log: Any = open_log(tmp_path, trust=True)
    log.append({"kind": "x.y", "data": {}})
    log.close()
    faults = [r for r in read_records(tmp_path / "audit") if r["kind"] == KIND_FAULT]
    assert len(faults) == 1 and "were removed" in faults[0]["data"]["problem"]
    assert verify(tmp_path / "audit").status == "failed"


def test_an_intact_open_segment_is_continued(tmp_path: Path) -> None:
    write(tmp_path, 5, close=False, publish=True)
    log: Any = open_log(tmp_path, trust=True)
    log.append({"kind": "x.y", "data": {}})
    log.close()
    assert not (tmp_path / "audit" / SEG2).exists()
    assert verify(tmp_path / "audit").status == "intact"


def test_two_logs_under_one_log_id_are_told_apart_by_their_first_record(tmp_path: Path) -> None:
    from gatekeeper.audit import open_audit_log

    def run(name: str, n: int) -> None:
        log = open_audit_log(f"file://{name}", signing_key=tmp_path / f"{name}.pem", base_dir=tmp_path,
                             trust=trust_of(tmp_path))
        for i in range(n):
            log.append({"kind": "x.y", "data": {"i": i}})
        log.close()

    run("a", 5)
    run("b", 3)  # same store, same (default) log id: a misconfiguration
    run("b", 1)  # its writer does not take a's digest for its own: no fault, nothing sealed
    assert not [r for r in read_records(tmp_path / "b") if r["kind"] == KIND_FAULT]
    assert not (tmp_path / "b" / "segment-00000001.checkpoint.json").read_text().count("damaged")
    r = verify_log(tmp_path / "b", trust=trust_of(tmp_path))
    assert r.status == "failed" and r.problem is not None
    assert "another log publishes under the same [audit] log_id" in r.problem.message
    assert verify_log(tmp_path / "a", trust=trust_of(tmp_path)).status == "intact"


def test_open_segment_rewritten_and_rehashed_fails_against_the_digest(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path, 10, close=False, publish=True)
    rehash(tmp_path / "audit" / SEG1, 4, b'"i":3,', b'"i":33,')
    assert verify_log(tmp_path / "audit", public_keys=[tmp_path / "key.pem"]).consistent  # the log alone: fine
    code, js = cli_verify(cfg)
    assert code == 1 and js["problem"]["seq"] == 11 and "the log was rewritten" in js["problem"]["message"]


def test_keys_and_rotate_key_commands_in_text_and_their_errors(cfg: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["rotate-key", "--config", str(cfg), "--by", "alice"])
    assert result.exit_code == 1 and "no signing key" in result.output and "to rotate" in result.output
    out = runner.invoke(app, ["keys", "--config", str(cfg)]).output
    assert "not created yet" in out
    write(tmp_path, 2)
    fp = fingerprint(_public(tmp_path / "key.pem"))
    result = runner.invoke(app, ["keys", "--config", str(cfg)])
    assert result.exit_code == 0 and fp in result.output
    assert "state store" in result.output and "created" in result.output
    result = runner.invoke(app, ["rotate-key", "--config", str(cfg), "--by", "  "])
    assert result.exit_code == 1 and "--by must name" in result.output
    result = runner.invoke(app, ["rotate-key", "--config", str(cfg), "--by", "alice"])
    assert result.exit_code == 0 and "rotated" in result.output and fp in result.output


def test_appends_never_wait_for_a_locked_trust_store(tmp_path: Path) -> None:
    import sqlite3

    log: Any = open_log(tmp_path, trust=True)
    log.append({"kind": "x.y", "data": {}})
    assert log.publish() is not None  # the tables exist, the key is pinned
    holder = sqlite3.connect(tmp_path / STATE, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction on the store
    try:
        started = time.monotonic()
        for i in range(20):
            log.append({"kind": "x.y", "data": {"i": i}})
        assert time.monotonic() - started < 1.5  # the appends did not wait for the store's lock
        assert log.publish() is None  # the digest waits 2 s at most, fails, and is retried later
        assert time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert log.publish() is not None
    log.close()
    assert verify(tmp_path / "audit").status == "intact"
