"""The writer: chain fields, durability errors, rotation, checkpoints, keys, threads, reopening."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.audit import BACKENDS, AuditLog, open_audit_log
from gatekeeper.audit import _writer as writer_mod
from gatekeeper.audit._format import GENESIS, KIND_SEGMENT, SCHEMA, checkpoint_payload, encode_line, encode_lines
from gatekeeper.audit._keys import load_public_key
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import open_log, read_records


def test_append_adds_chain_fields_and_returns_after_writing(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    out = log.append({"kind": "case.opened", "actor": "alice", "data": {"case_id": "case-1"}})
    assert out["schema"] == SCHEMA and out["kind"] == "case.opened" and out["data"] == {"case_id": "case-1"}
    assert len(out["hash"]) == 64 and len(out["prev_hash"]) == 64 and out["ts"]
    # Read back before close: the line is on disk already, and it is what append returned.
    recs = read_records(tmp_path / "audit")
    assert recs[0]["kind"] == KIND_SEGMENT and recs[0]["seq"] == 1 and recs[0]["prev_hash"] == GENESIS
    assert recs[-1] == out and out["seq"] == 2 and out["prev_hash"] == recs[0]["hash"]
    log.close()


def test_hash_is_sha256_over_the_line_before_the_hash_member(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        out = log.append({"kind": "x.y", "actor": "a", "data": {"n": 1}})
    line = (tmp_path / "audit" / "segment-00000001.jsonl").read_bytes().splitlines()[1]
    body = line[: line.rindex(b',"hash":"')]
    assert hashlib.sha256(body).hexdigest() == out["hash"]
    assert line.startswith(b'{"seq":2,"prev_hash":"')


@settings(max_examples=60, deadline=None)
@given(members=st.lists(st.binary(min_size=1, max_size=5000), max_size=6), seq=st.integers(0, 10**12),
       prev=st.binary(min_size=64, max_size=64))
def test_encode_lines_is_encode_line_in_turn(members: list[bytes], seq: int, prev: bytes) -> None:
    """The writer's batch encoding gives byte for byte the lines of the one-line encoding, chained
    (records past 2 kB included: hashlib hashes those with the GIL released)."""
    data, hashes = encode_lines(seq, prev, members)
    lines, digests = [], []
    for i, m in enumerate(members, seq + 1):
        line, prev = encode_line(i, prev, m)
        lines.append(line)
        digests.append(prev)
    assert data == b"".join(lines) and hashes == digests


def test_caller_timestamp_is_kept_and_missing_one_is_filled(log: FileAuditLog) -> None:
    a = log.append({"kind": "x.y", "ts": "2025-01-02T03:04:05+00:00"})
    b = log.append({"kind": "x.y", "ts": None})
    assert a["ts"] == "2025-01-02T03:04:05+00:00"
    assert b["ts"].startswith("20") and b["ts"] != a["ts"]


@pytest.mark.parametrize("bad", [{"seq": 5}, {"hash": "x"}, {"prev_hash": "y"}])
def test_records_may_not_carry_chain_fields(log: FileAuditLog, bad: dict[str, Any], tmp_path: Path) -> None:
    before = read_records(tmp_path / "audit")
    with pytest.raises(AuditError, match="must not carry"):
        log.append({"kind": "x.y", **bad})
    assert read_records(tmp_path / "audit") == before


@pytest.mark.parametrize("bad", [{"v": object()}, {"v": 2**70}])
def test_unserializable_record_is_refused_and_nothing_written(log: FileAuditLog, bad: dict[str, Any],
                                                               tmp_path: Path) -> None:
    before = read_records(tmp_path / "audit")
    with pytest.raises(AuditError, match="cannot be serialized"):
        log.append(bad)
    assert read_records(tmp_path / "audit") == before
    assert log.append({"kind": "x.y"})["seq"] == (before[-1]["seq"] + 1 if before else 2)


def test_values_are_recorded_as_json(log: FileAuditLog) -> None:
    from datetime import UTC, datetime

    from gatekeeper.model import Outcome

    out = log.append({"kind": "x.y", "data": {"nan": float("nan"), "when": datetime(2025, 1, 2, tzinfo=UTC),
                                               "outcome": Outcome.DENY, "tags": {"b", "a"}, 3: "int key",
                                               "path": Path("/tmp/x")}})
    line = read_records(log.directory)[-1]
    assert line["data"] == {"nan": None, "when": "2025-01-02T00:00:00+00:00", "outcome": "deny",
                            "tags": ["a", "b"], "3": "int key", "path": "/tmp/x"}
    assert out["seq"] == line["seq"]


def test_non_dict_record_is_refused(log: FileAuditLog) -> None:
    with pytest.raises(AuditError, match="must be a dict"):
        log.append(["not", "a", "dict"])  # type: ignore[arg-type]


def test_append_after_close_raises(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.close()
    log.close()  # idempotent
    with pytest.raises(AuditError, match="closed"):
        log.append({"kind": "x.y"})


def test_close_writes_a_signed_checkpoint_and_reopen_continues_the_chain(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        first = [log.append({"kind": "x.y", "data": {"i": i}}) for i in range(3)]
    d = tmp_path / "audit"
    cp = json.loads((d / "segment-00000001.checkpoint.json").read_text())
    assert (cp["first_seq"], cp["last_seq"], cp["count"], cp["head_hash"]) == (1, 4, 4, first[-1]["hash"])
    assert cp["prev_checkpoint"] is None and cp["signature"]
    pub = load_public_key(d / "keys" / f"{cp['key_id']}.pem")
    import base64

    pub.verify(base64.b64decode(cp["signature"]), checkpoint_payload(cp))
    with open_log(tmp_path) as log:
        nxt = log.append({"kind": "x.y"})
    # A new segment (the old one is closed), whose header follows on from the checkpoint.
    recs = read_records(d)
    header = recs[4]
    assert header["kind"] == KIND_SEGMENT and header["seq"] == 5 and header["prev_hash"] == first[-1]["hash"]
    assert header["data"]["segment"] == "segment-00000002.jsonl" and header["data"]["prev_checkpoint"]
    assert nxt["seq"] == 6
    assert verify_log(d).consistent


def test_rotation_by_size(tmp_path: Path) -> None:
    with open_log(tmp_path, segment_max_bytes=2000) as log:
        for i in range(40):
            log.append({"kind": "x.y", "data": {"pad": "p" * 100, "i": i}})
    d = tmp_path / "audit"
    segs = sorted(d.glob("segment-*.jsonl"))
    assert len(segs) > 3
    assert all((d / s.name.replace(".jsonl", ".checkpoint.json")).exists() for s in segs)
    # Every segment but the last reached the limit before it rotated; no record lost or repeated.
    assert all(s.stat().st_size >= 2000 for s in segs[:-1])
    seqs = [r["seq"] for r in read_records(d)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [r["data"]["i"] for r in read_records(d) if r["kind"] == "x.y"] == list(range(40))
    report = verify_log(d)
    assert report.consistent and report.signed_seq == report.head_seq


def test_rotation_by_time(tmp_path: Path) -> None:
    now = [1_000_000.0]
    d = tmp_path / "audit"
    log = FileAuditLog(d, signer=None, segment_max_bytes=1 << 30, segment_max_seconds=60, clock=lambda: now[0])
    log.append({"kind": "x.y"})
    now[0] += 59
    log.append({"kind": "x.y"})
    assert not (d / "segment-00000001.checkpoint.json").exists()
    now[0] += 2
    log.append({"kind": "x.y"})
    assert (d / "segment-00000001.checkpoint.json").exists()
    assert (d / "segment-00000002.jsonl").exists()
    log.close()
    report = verify_log(d)
    assert report.consistent and [s.records for s in report.segments] == [3, 2]


def test_signing_key_created_private_and_public_key_beside_the_log(tmp_path: Path) -> None:
    key = tmp_path / "secrets" / "audit.pem"
    log = open_audit_log("file://audit", signing_key=key, segment_max_bytes=1 << 20, segment_max_seconds=60,
                         base_dir=tmp_path)
    log.close()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pubs = list((tmp_path / "audit" / "keys").glob("*.pem"))
    assert len(pubs) == 1 and b"PUBLIC KEY" in pubs[0].read_bytes() and b"PRIVATE" not in pubs[0].read_bytes()
    # The same key is used on the next open.
    before = key.read_bytes()
    open_audit_log("file://audit", signing_key=key, segment_max_bytes=1 << 20, segment_max_seconds=60,
                   base_dir=tmp_path).close()
    assert key.read_bytes() == before


def test_bad_signing_key_is_an_audit_error(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    with pytest.raises(AuditError, match="not an unencrypted PEM private key"):
        open_log(tmp_path, signing_key=key)


def test_unsigned_checkpoints_without_a_key(tmp_path: Path) -> None:
    with open_log(tmp_path, signing_key=None) as log:
        log.append({"kind": "x.y"})
    cp = json.loads((tmp_path / "audit" / "segment-00000001.checkpoint.json").read_text())
    assert cp["signature"] is None and cp["key_id"] is None
    report = verify_log(tmp_path / "audit")
    assert report.consistent and any("not signed" in w for w in report.warnings)


def test_url_schemes(tmp_path: Path) -> None:
    assert set(BACKENDS) == {"file", "s3", "azblob", "gs"}
    with pytest.raises(AuditError, match="unknown audit log URL scheme 'ftp'"):
        open_audit_log("ftp://x/y", signing_key=None, segment_max_bytes=1, segment_max_seconds=1,
                       base_dir=tmp_path)
    with pytest.raises(AuditError, match="no query"):
        open_audit_log("file://audit?x=1", signing_key=None, segment_max_bytes=1, segment_max_seconds=1,
                       base_dir=tmp_path)
    absolute = tmp_path / "abs" / "log"
    lg = open_audit_log(f"file://{absolute}", signing_key=None, segment_max_bytes=1 << 20,
                        segment_max_seconds=60, base_dir=Path("/nonexistent"))
    assert isinstance(lg, AuditLog) and lg.directory == absolute
    lg.close()


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="positive"):
        open_log(tmp_path, segment_max_bytes=0)


def test_threads_lose_nothing_and_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = [0]
    real = os.fdatasync

    def counting(fd: int) -> None:
        fsyncs[0] += 1
        real(fd)

    monkeypatch.setattr(writer_mod.os, "fdatasync", counting)
    log = open_log(tmp_path)
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(150):
            r = log.append({"kind": "x.y", "data": {"t": t, "i": i}})
            with lock:
                results.append(r)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    assert len(results) == 1200 and len({r["seq"] for r in results}) == 1200
    on_disk = [r for r in read_records(tmp_path / "audit") if r["kind"] == "x.y"]
    assert sorted((r["data"]["t"], r["data"]["i"]) for r in on_disk) == sorted(
        (t, i) for t in range(8) for i in range(150))
    # Each thread's records are in its own order.
    for t in range(8):
        assert [r["data"]["i"] for r in on_disk if r["data"]["t"] == t] == list(range(150))
    assert 0 < fsyncs[0] < 1200  # group commit: fewer (data) syncs than records
    assert verify_log(tmp_path / "audit").consistent


def test_fsync_failure_fails_the_batch_and_poisons_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path)
    log.append({"kind": "x.y"})

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(writer_mod.os, "fdatasync", failing)
    with pytest.raises(AuditError, match=r"fsync .* failed: Input/output error"):
        log.append({"kind": "x.y"})
    monkeypatch.undo()
    with pytest.raises(AuditError, match="refuses further records"):
        log.append({"kind": "x.y"})
    log.close()
    # A new open recovers (the kernel now holds the data or not; the chain on disk verifies).
    with open_log(tmp_path) as again:
        again.append({"kind": "x.y"})
    assert verify_log(tmp_path / "audit").consistent


def test_write_failure_is_undone_and_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path)
    ok = log.append({"kind": "x.y"})
    seg = tmp_path / "audit" / "segment-00000001.jsonl"
    size = seg.stat().st_size
    real_write = os.write

    def short_then_fail(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[:10]))  # a partial write, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_mod.os, "write", short_then_fail)
    with pytest.raises(AuditError, match="No space left on device"):
        log.append({"kind": "x.y"})
    monkeypatch.undo()
    assert seg.stat().st_size == size  # the partial line was cut back
    nxt = log.append({"kind": "x.y"})
    assert nxt["seq"] == ok["seq"] + 1 and nxt["prev_hash"] == ok["hash"]
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_unwritable_directory_is_an_audit_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot open the audit log"):
        FileAuditLog(blocker / "audit", signer=None)


def test_an_interrupted_follower_still_hands_leadership_on(tmp_path: Path) -> None:
    """Ctrl-C while waiting for the leader must not leave the other appenders asleep forever."""
    import signal
    import time

    log = open_log(tmp_path)
    gate = threading.Event()
    real_write = log._write
    calls = [0]

    def gated(batch: list[Any]) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            gate.wait()
        return real_write(batch)

    log._write = gated  # type: ignore[method-assign]
    results: dict[str, Any] = {}
    leader = threading.Thread(target=lambda: results.setdefault("a", log.append({"kind": "x.a"})))
    leader.start()
    while calls[0] == 0:  # the leader has taken its batch and waits at the gate
        time.sleep(0.001)

    def helper() -> None:
        while len(log._queue) < 1:  # the main thread is queued behind the leader
            time.sleep(0.001)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.05)
        late = threading.Thread(target=lambda: results.setdefault("c", log.append({"kind": "x.c"})))
        late.start()
        while len(log._queue) < 2:
            time.sleep(0.001)
        gate.set()
        late.join()

    h = threading.Thread(target=helper)
    h.start()
    with pytest.raises(KeyboardInterrupt):
        log.append({"kind": "x.b"})
    h.join()
    leader.join()
    assert results["a"]["seq"] < results["c"]["seq"]
    kinds = [r["kind"] for r in read_records(tmp_path / "audit")]
    assert kinds[-3:] == ["x.a", "x.b", "x.c"]  # b was written, then its caller saw the interrupt
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def _hold_first_sync(log: FileAuditLog, monkeypatch: pytest.MonkeyPatch | None = None,
                     ) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make ``log``'s next sync wait for the returned ``gate`` (``in_sync`` is set meanwhile), then
    succeed, or, given ``monkeypatch``, fail as a failing fdatasync does. The list counts the syncs."""
    gate, in_sync = threading.Event(), threading.Event()
    real_sync = log._sync
    calls = [0]

    def sync(fd: int) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            in_sync.set()
            assert gate.wait(30)
            if monkeypatch is not None:
                def failing(fd: int) -> None:
                    raise OSError(5, "Input/output error")

                monkeypatch.setattr(os, "fdatasync", failing)
                try:
                    return real_sync(fd)
                finally:
                    monkeypatch.undo()
        return real_sync(fd)

    log._sync = sync  # type: ignore[method-assign]
    return gate, in_sync, calls


def _appender(log: FileAuditLog, outcome: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        try:
            outcome[name] = log.append({"kind": "x.y", "data": {"name": name}})
        except BaseException as exc:  # collected for the assertions
            outcome[name] = exc

    t = threading.Thread(target=run)
    t.start()
    return t


def _queued(log: FileAuditLog, n: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while len(log._queue) < n:
        assert time.monotonic() < deadline, f"{len(log._queue)} appenders queued, expected {n}"
        time.sleep(0.001)


def test_a_failed_sync_fails_its_whole_batch_and_nothing_after_it_is_acknowledged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One sync at a time: the appenders that queue while a sync runs are written only after it; when
    it fails, every appender of its batch fails and its lines are cut off the log again, and the
    queued ones fail without being written."""
    log = open_log(tmp_path)
    log.append({"kind": "x.warm"})
    seg = tmp_path / "audit" / "segment-00000001.jsonl"
    before = seg.stat().st_size
    gate, in_sync, calls = _hold_first_sync(log, monkeypatch)
    outcome: dict[str, Any] = {}
    first = _appender(log, outcome, "first")
    assert in_sync.wait(30)
    later = [_appender(log, outcome, f"later{i}") for i in range(5)]
    _queued(log, 5)  # queued behind the sync in flight, not written
    assert calls[0] == 1
    assert seg.stat().st_size > before  # the first batch is written, its sync in flight
    gate.set()
    for t in (first, *later):
        t.join(30)
    assert isinstance(outcome["first"], AuditError) and "Input/output error" in str(outcome["first"])
    for i in range(5):
        assert isinstance(outcome[f"later{i}"], AuditError), outcome[f"later{i}"]
        assert "refuses further records" in str(outcome[f"later{i}"])
    # The failed batch was cut back, the later ones were never written nor synced.
    assert calls[0] == 1 and seg.stat().st_size == before
    names = [r.get("data", {}).get("name") for r in read_records(tmp_path / "audit")]
    assert "first" not in names and not any(str(n).startswith("later") for n in names)
    with pytest.raises(AuditError, match="refuses further records"):
        log.append({"kind": "x.y"})
    log._broken = None
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_a_large_batch_is_acknowledged_whole_once_durable(tmp_path: Path) -> None:
    """Appenders queued during a sync form one batch: all of them are woken (one after another) once it
    is durable, each with its own record, in the order of the chain."""
    log = open_log(tmp_path)
    log.append({"kind": "x.warm"})
    gate, in_sync, calls = _hold_first_sync(log)
    outcome: dict[str, Any] = {}
    first = _appender(log, outcome, "first")
    assert in_sync.wait(30)
    later = [_appender(log, outcome, f"later{i}") for i in range(40)]
    _queued(log, 40)
    gate.set()
    for t in (first, *later):
        t.join(30)
        assert not t.is_alive()
    assert calls[0] == 2  # the first batch, then the 40 together
    results = [outcome[n] for n in ("first", *(f"later{i}" for i in range(40)))]
    assert all(isinstance(r, dict) for r in results)
    on_disk = {r["seq"]: r for r in read_records(tmp_path / "audit")}
    for r in results:
        assert on_disk[r["seq"]] == r  # what the appender was told is what the log holds
    seqs = sorted(r["seq"] for r in results[1:])
    assert seqs == list(range(seqs[0], seqs[0] + 40))
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_many_threads_each_record_acknowledged_once_in_chain_order(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    per_thread, threads = 100, 24
    got: list[list[dict[str, Any]]] = [[] for _ in range(threads)]

    def work(t: int) -> None:
        for i in range(per_thread):
            got[t].append(log.append({"kind": "x.y", "data": {"t": t, "i": i}}))

    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    log.close()
    results = [r for rs in got for r in rs]
    assert len(results) == threads * per_thread
    on_disk = {r["seq"]: r for r in read_records(tmp_path / "audit")}
    assert len({r["seq"] for r in results}) == len(results)  # each acknowledged once, as itself
    for t, rs in enumerate(got):
        assert [r["data"] for r in rs] == [{"t": t, "i": i} for i in range(per_thread)]
        assert [r["seq"] for r in rs] == sorted(r["seq"] for r in rs)  # a thread's records in its order
        for r in rs:
            assert on_disk[r["seq"]] == r
    chain = [on_disk[seq] for seq in sorted(on_disk)]
    for a, b in itertools.pairwise(chain):  # the acknowledged records are links of one chain
        assert b["seq"] == a["seq"] + 1 and b["prev_hash"] == a["hash"]
    assert verify_log(tmp_path / "audit").consistent
