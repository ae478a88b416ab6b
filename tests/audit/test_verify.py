"""Tampering is detected and the first bad record is named: edit, delete, insert, reorder, truncate,
deleted segments and checkpoints, forged signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit._format import encode_line
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import open_log, segment_lines, verify

SEG1 = "segment-00000001.jsonl"


def build(tmp_path: Path, n: int = 30, *, max_bytes: int = 1 << 20, close: bool = True) -> Path:
    log = open_log(tmp_path, segment_max_bytes=max_bytes, trust=True)
    for i in range(n):
        log.append({"kind": "x.y", "actor": "t", "data": {"i": i, "pad": "p" * 40}})
    if close:
        log.close()
    return tmp_path / "audit"


def three_segments(tmp_path: Path) -> Path:
    d = build(tmp_path, 60, max_bytes=3000)
    assert len(list(d.glob("segment-*.jsonl"))) >= 3
    return d


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def test_intact_log_verifies(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    r = verify(d)
    assert r.ok and r.problem is None and r.records == 60 + len(r.segments)
    assert r.head_seq == r.signed_seq == r.records
    assert all(s.checkpoint == "signed" for s in r.segments)


def test_edited_record(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    lines[10] = lines[10].replace(b'"i":9,', b'"i":7,')
    rewrite(seg, lines)
    r = verify(d)
    assert not r.ok and r.problem is not None
    assert (r.problem.segment, r.problem.line, r.problem.seq) == (SEG1, 11, 11)
    assert "hash does not match" in r.problem.message and "edited" in r.problem.message


def test_edited_and_rehashed_record_is_caught_by_the_next_one(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    old = lines[10]
    prev = old[old.index(b'"prev_hash":"') + 13:][:64]
    members = old[old.index(b'",', old.index(b'"prev_hash"')) + 2:old.rindex(b',"hash":"')]
    lines[10], _ = encode_line(11, prev, members.replace(b'"i":9,', b'"i":7,'))
    rewrite(seg, lines)
    r = verify(d)
    assert r.problem is not None and (r.problem.line, r.problem.seq) == (12, 12)
    assert "prev_hash does not match the hash of record 11" in r.problem.message


def test_deleted_record(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    del lines[5]
    rewrite(seg, lines)
    r = verify(d)
    assert r.problem is not None and (r.problem.segment, r.problem.line, r.problem.seq) == (SEG1, 6, 7)
    assert "seq 7 where 6 was expected: record 6 deleted" in r.problem.message


def test_inserted_record(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    lines.insert(8, lines[3])  # a copy of an earlier record
    rewrite(seg, lines)
    r = verify(d)
    assert r.problem is not None and (r.problem.line, r.problem.seq) == (9, 4)
    assert "seq 4 where 9 was expected" in r.problem.message and "inserted" in r.problem.message


def test_forged_record_inserted_with_a_valid_hash(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    prev = lines[7][-67:-3]
    forged, _ = encode_line(9, prev, b'"schema":"gatekeeper.audit/v1","kind":"x.y","ts":"2025-01-01"')
    lines.insert(8, forged)
    rewrite(seg, lines)
    r = verify(d)
    # The forged line fits; the genuine record 9 after it does not.
    assert r.problem is not None and (r.problem.line, r.problem.seq) == (10, 9)
    assert "seq 9 where 10 was expected" in r.problem.message


def test_reordered_records(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    lines[12], lines[13] = lines[13], lines[12]
    rewrite(seg, lines)
    r = verify(d)
    assert r.problem is not None and (r.problem.line, r.problem.seq) == (13, 14)
    assert "seq 14 where 13 was expected" in r.problem.message


def test_truncated_closed_segment(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    rewrite(seg, lines[:-4])  # cut at a line boundary: every remaining line is fine
    r = verify(d)
    assert r.problem is not None and r.problem.segment == SEG1
    total = len(lines)
    assert r.problem.seq == total - 3
    assert f"segment ends at seq {total - 4} but its checkpoint records {total}" in r.problem.message
    assert "truncated" in r.problem.message


def test_truncated_mid_line(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    data = seg.read_bytes()
    seg.write_bytes(data[:-50])
    r = verify(d)
    assert r.problem is not None and r.problem.segment == SEG1 and "torn" in r.problem.message


def test_records_appended_to_a_closed_segment(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    extra, _ = encode_line(len(lines) + 1, lines[-1][-67:-3], b'"kind":"x.y"')
    rewrite(seg, [*lines, extra])
    r = verify(d)
    assert r.problem is not None and r.problem.seq == len(lines) + 1 and "closed segment" in r.problem.message


def test_deleted_middle_segment(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    (d / "segment-00000002.jsonl").unlink()
    r = verify(d)
    assert r.problem is not None and r.problem.segment == "segment-00000002.jsonl"
    assert "missing" in r.problem.message and "deleted" in r.problem.message and "records " in r.problem.message


def test_deleted_middle_segment_and_its_checkpoint_then_renumbered(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    (d / "segment-00000002.jsonl").unlink()
    (d / "segment-00000002.checkpoint.json").unlink()
    last = max(int(p.name[8:16]) for p in d.glob("segment-*.jsonl"))
    # Hide the gap by renaming every later segment down by one.
    for i in range(3, last + 1):
        (d / f"segment-{i:08d}.jsonl").rename(d / f"segment-{i - 1:08d}.jsonl")
        cp = d / f"segment-{i:08d}.checkpoint.json"
        if cp.exists():
            cp.rename(d / f"segment-{i - 1:08d}.checkpoint.json")
    r = verify(d)
    assert r.problem is not None and r.problem.segment == "segment-00000002.jsonl" and r.problem.line == 1
    assert "missing (deleted)" in r.problem.message


def test_deleted_first_segment(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    (d / SEG1).unlink()
    (d / "segment-00000001.checkpoint.json").unlink()
    r = verify(d)
    assert r.problem is not None and r.problem.segment == SEG1 and "missing" in r.problem.message


def test_deleted_checkpoint(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    (d / "segment-00000002.checkpoint.json").unlink()
    r = verify(d)
    assert r.problem is not None and r.problem.segment == "segment-00000002.jsonl"
    assert "no checkpoint" in r.problem.message


def test_checkpoint_replaced_by_another_logs(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    other = three_segments(tmp_path / "other")
    (d / "segment-00000002.checkpoint.json").write_bytes((other / "segment-00000002.checkpoint.json").read_bytes())
    r = verify(d, public_keys=[next((d / "keys").glob("*.pem"))])
    assert r.problem is not None and r.problem.segment.startswith("segment-00000002")


def test_altered_checkpoint_fails_its_signature(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    cp_path = d / "segment-00000001.checkpoint.json"
    cp = json.loads(cp_path.read_text())
    cp["closed_at"] = "2020-01-01T00:00:00+00:00"
    cp_path.write_text(json.dumps(cp))
    r = verify(d)
    assert r.problem is not None and r.problem.segment == "segment-00000001.checkpoint.json"
    assert "signature does not verify" in r.problem.message


def test_log_resigned_with_another_key_fails_against_the_trusted_key(tmp_path: Path) -> None:
    d = build(tmp_path)
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(next((d / "keys").glob("*.pem")).read_bytes())
    # An attacker re-signs the checkpoint with their own key and plants its public key beside the log.
    from gatekeeper.audit._format import checkpoint_payload
    from gatekeeper.audit._keys import key_id, public_pem

    evil = Ed25519PrivateKey.generate()
    cp_path = d / "segment-00000001.checkpoint.json"
    cp = json.loads(cp_path.read_text())
    cp["key_id"] = key_id(evil.public_key())
    import base64

    cp["signature"] = base64.b64encode(evil.sign(checkpoint_payload(cp))).decode()
    cp_path.write_text(json.dumps(cp))
    (d / "keys" / f"{cp['key_id']}.pem").write_bytes(public_pem(evil.public_key()))
    r = verify(d)  # not fooled by the key beside the log: only pinned keys are trusted
    assert r.status == "failed" and r.problem is not None and "which is not trusted" in r.problem.message
    r = verify_log(d, public_keys=[trusted])  # nor with a trusted copy given by hand
    assert r.problem is not None and "which is not trusted" in r.problem.message


def test_garbage_signature(tmp_path: Path) -> None:
    d = build(tmp_path)
    cp_path = d / "segment-00000001.checkpoint.json"
    cp = json.loads(cp_path.read_text())
    cp["signature"] = "!!!"
    cp_path.write_text(json.dumps(cp))
    r = verify(d)
    assert r.problem is not None and "signature does not verify" in r.problem.message


def test_signature_removed(tmp_path: Path) -> None:
    d = build(tmp_path)
    cp_path = d / "segment-00000001.checkpoint.json"
    cp = json.loads(cp_path.read_text())
    cp["signature"] = None
    cp_path.write_text(json.dumps(cp))
    r = verify(d)
    assert r.problem is not None and "not signed" in r.problem.message


def test_unreadable_checkpoint(tmp_path: Path) -> None:
    d = build(tmp_path)
    (d / "segment-00000001.checkpoint.json").write_text("{not json")
    r = verify(d)
    assert r.problem is not None and "unreadable" in r.problem.message


def test_swapped_segments(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    a, b = d / "segment-00000001.jsonl", d / "segment-00000002.jsonl"
    tmp = d / "tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    r = verify(d)
    assert r.problem is not None and r.problem.segment == SEG1 and r.problem.line == 1


def test_garbage_line(tmp_path: Path) -> None:
    d = build(tmp_path)
    seg = d / SEG1
    lines = segment_lines(seg)
    lines[4] = b"\x00" * 20 + b"\n"
    rewrite(seg, lines)
    r = verify(d)
    assert r.problem is not None and r.problem.line == 5 and "NUL" in r.problem.message


def test_open_segment_tail_is_reported_as_not_covered(tmp_path: Path) -> None:
    d = build(tmp_path, close=False)
    r = verify_log(d, public_keys=[tmp_path / "key.pem"])
    assert r.ok and r.signed_seq == 0 and r.head_seq == 31 and r.segments[-1].checkpoint == "open"
    assert any("no witness" in w for w in r.warnings)
    r = verify(d)  # no digest published yet (the first comes within witness_interval_seconds)
    assert r.status == "unverified" and "holds no digest" in r.unverified_because


def test_torn_tail_of_the_open_segment_is_a_warning(tmp_path: Path) -> None:
    d = build(tmp_path, close=False)
    seg = d / SEG1
    with seg.open("ab") as f:
        f.write(b'{"seq":32,"prev_hash":"abc')
    r = verify_log(d, public_keys=[tmp_path / "key.pem"])
    assert r.ok and r.head_seq == 31 and any("torn last line" in w for w in r.warnings)


def test_anchor_detects_removal_from_the_end(tmp_path: Path) -> None:
    d = build(tmp_path, close=False)
    r = verify_log(d, public_keys=[tmp_path / "key.pem"])
    anchor = (r.head_seq, r.head_hash)
    assert verify_log(d, anchor=anchor, public_keys=[tmp_path / "key.pem"]).ok
    seg = d / SEG1
    rewrite(seg, segment_lines(seg)[:-2])
    r2 = verify_log(d, anchor=anchor)
    assert not r2.ok and r2.problem is not None and "before the anchor" in r2.problem.message
    r3 = verify_log(d, anchor=(5, "0" * 64))
    assert r3.problem is not None and r3.problem.seq == 5 and "differs from the anchor" in r3.problem.message


def test_single_segment_file(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    r = verify(d / "segment-00000002.jsonl")
    assert r.ok and r.segments[0].checkpoint == "signed" and r.segments[0].first_seq and r.segments[0].first_seq > 1
    seg = d / "segment-00000002.jsonl"
    lines = segment_lines(seg)
    del lines[2]
    rewrite(seg, lines)
    r = verify_log(seg)
    assert r.problem is not None and r.problem.line == 3


def test_wrong_paths(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit log"):
        verify_log(tmp_path / "missing")
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(AuditError, match="not an audit segment"):
        verify_log(other)


def test_parallel_path_finds_the_same_problem(tmp_path: Path) -> None:
    d = three_segments(tmp_path)
    seg = d / "segment-00000002.jsonl"
    lines = segment_lines(seg)
    lines[3] = lines[3].replace(b'"t"', b'"T"')
    rewrite(seg, lines)
    serial = verify(d)
    parallel = verify(d, parallel_threshold=0)
    assert serial.problem is not None and serial.problem == parallel.problem and serial.problem.line == 4


def test_public_key_file_errors(tmp_path: Path) -> None:
    d = build(tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    with pytest.raises(AuditError, match="not a PEM public key"):
        verify(d, public_keys=[bad])
    # A private key file is accepted for its public half.
    priv = tmp_path / "key.pem"
    assert verify(d, public_keys=[priv]).ok
    rsa_like = Ed25519PrivateKey.generate()
    other = tmp_path / "other.pem"
    other.write_bytes(rsa_like.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    r = verify_log(d, public_keys=[other])
    assert r.problem is not None and "which is not trusted" in r.problem.message
