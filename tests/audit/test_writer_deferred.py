"""Two-step appends (``append_deferred``: the record written now, its ticket waits for the fsync).

What must hold across the gap between the write and the wait: a record is acknowledged (``wait()``
returns) only once an fsync covering it succeeded; the next sync of the log (another batch, a
rotation, another process's checkpoint, close) covers it; a failing sync fails it with its batch and
cuts it back unless another writer wrote after it; a ticket never waited for is made durable by the
next sync or close and blocks nobody. Every test runs twice: with the sync started in the kernel at
the write (``_syncahead``, Linux AIO) and without it (where the kernel refuses it, or off Linux).
Faults are injected at the OS's ``fdatasync`` and at the kernel sync's result (``SyncAhead.collect``:
the real result is taken, then reported as the fault).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import structlog

from gatekeeper.audit import _syncahead, _writeback
from gatekeeper.audit._syncahead import SyncAhead
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import count_syncs as _count_syncs
from tests.audit.conftest import fail_syncs as _fail_syncs
from tests.audit.conftest import fdatasyncs as _fdatasyncs
from tests.audit.conftest import open_log, read_records
from tests.audit.test_writer_paths import _first_sync_held, _wait_queued

SEG1 = "segment-00000001.jsonl"


@pytest.fixture(autouse=True, params=["kernel sync", "no kernel sync"])
def sync_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test with the kernel's sync started at the write, and with it unavailable."""
    if request.param == "kernel sync":
        if _syncahead._get_abi() is None:
            pytest.skip("no Linux AIO here")
    else:
        monkeypatch.setattr(_syncahead, "_abi", None)
    return str(request.param)


def test_the_record_is_written_at_once_and_acknowledged_by_wait(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path)
    a = log.append({"kind": "x.a"})
    syncs = _count_syncs(monkeypatch)
    ticket = log.append_deferred({"kind": "x.b", "data": {"n": 1}})
    assert syncs == []  # nothing synced at the write
    on_disk = read_records(tmp_path / "audit")
    assert on_disk[-1]["kind"] == "x.b" and on_disk[-1]["prev_hash"] == a["hash"]  # written and chained
    assert log.durable_head[0] == a["seq"]  # ... not yet vouched for
    assert not ticket.done
    ticket.wait()
    assert len(syncs) == 1 and ticket.done and ticket.error is None
    assert log.durable_head[:2] == (ticket.seq, on_disk[-1]["hash"])
    assert ticket.record == on_disk[-1]
    ticket.wait()  # done: no second sync
    assert len(syncs) == 1
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_write_back_starts_at_the_write_over_exactly_the_records_bytes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       sync_mode: str) -> None:
    log = open_log(tmp_path)
    log.append({"kind": "x.a"})
    seg = tmp_path / "audit" / SEG1
    before = seg.stat().st_size
    started: list[tuple[int, int]] = []
    real = _writeback.start

    def start(fd: int, offset: int, nbytes: int) -> bool:
        started.append((offset, nbytes))
        return real(fd, offset, nbytes)

    monkeypatch.setattr(_writeback, "start", start)
    t = log.append_deferred({"kind": "x.b"})
    # Only where the kernel's own sync could not be started (it writes the pages back itself).
    assert started == ([] if sync_mode == "kernel sync" else [(before, seg.stat().st_size - before)])
    t.wait()
    monkeypatch.setattr(_writeback, "_call", None)  # a platform without sync_file_range
    u = log.append_deferred({"kind": "x.c"})
    u.wait()
    log.close()
    assert [r["kind"] for r in read_records(tmp_path / "audit")][-2:] == ["x.b", "x.c"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_write_back_is_started_through_the_c_library_and_refusals_are_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"x" * 5000)
        assert _writeback.start(fd, 0, 5000) is True
        assert _writeback.start(fd, -1, 10) is False  # EINVAL: refused, not raised
    finally:
        os.close(fd)
    rd, wr = os.pipe()
    try:
        assert _writeback.start(rd, 0, 1) is False  # ESPIPE
    finally:
        os.close(rd)
        os.close(wr)


def test_the_next_batch_sync_covers_a_written_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     sync_mode: str) -> None:
    log = open_log(tmp_path)
    syncs = _count_syncs(monkeypatch)
    b = log.append_deferred({"kind": "x.b"})
    c = log.append({"kind": "x.c"})
    # The batch takes the kernel sync's result (if one was started) before anything else, then syncs.
    assert syncs[:-1] == ([-1] if sync_mode == "kernel sync" else []) and syncs[-1] >= 0
    assert b.done and b.error is None
    b.wait()
    assert len(_fdatasyncs(syncs)) == 1 and log.durable_head[0] == c["seq"] == b.seq + 1
    log.close()


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError(5, "Input/output error")], ids=["interrupts", "eio"])
def test_a_failed_sync_at_the_wait_fails_the_record_and_cuts_it_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException | type[BaseException],
        sync_mode: str) -> None:
    """The sync between write and wait fails (EIO, or interrupted at every try): the wait raises, the
    record is taken off the segment again, the log refuses further records until reopened. (A kernel
    sync interrupted is not failed: its result is taken all the same, see the next test.)"""
    log = open_log(tmp_path)
    a = log.append({"kind": "x.a"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    b = log.append_deferred({"kind": "x.b"})
    assert seg.stat().st_size > size
    _fail_syncs(monkeypatch, fault)
    with pytest.raises(KeyboardInterrupt if fault is KeyboardInterrupt else AuditError):
        b.wait()
    monkeypatch.undo()
    if sync_mode == "kernel sync" and fault is KeyboardInterrupt:
        # The kernel's sync ran whatever the interrupts: its result was taken, the record stands.
        assert b.done and b.error is None and seg.stat().st_size > size
        assert log.append({"kind": "x.c"})["seq"] == b.seq + 1
        log.close()
        assert verify_log(tmp_path / "audit").consistent
        return
    assert b.done and isinstance(b.error, AuditError)
    with pytest.raises(AuditError):
        b.wait()  # failed stays failed
    assert seg.stat().st_size == size  # cut back
    with pytest.raises(AuditError, match="refuses further records"):
        log.append({"kind": "x.c"})
    with pytest.raises(AuditError, match="refuses further records"):
        log.append_deferred({"kind": "x.c"})
    log.close()
    with open_log(tmp_path) as again:
        nxt = again.append({"kind": "x.next"})
    assert nxt["seq"] == a["seq"] + 1 and nxt["prev_hash"] == a["hash"]
    assert "x.b" not in [r["kind"] for r in read_records(tmp_path / "audit")]
    assert verify_log(tmp_path / "audit").consistent


def test_a_failed_batch_sync_fails_the_records_written_before_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A written record whose covering sync is another batch's: that sync fails, both fail, and the
    segment is cut back from the written record (nothing told "failed" stays in the log)."""
    log = open_log(tmp_path)
    a = log.append({"kind": "x.a"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    b = log.append_deferred({"kind": "x.b"})
    _fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(AuditError):
        log.append({"kind": "x.c"})
    monkeypatch.undo()
    assert b.done and isinstance(b.error, AuditError)
    with pytest.raises(AuditError):
        b.wait()
    assert seg.stat().st_size == size
    log.close()
    kinds = [r["kind"] for r in read_records(tmp_path / "audit")]
    assert "x.b" not in kinds and "x.c" not in kinds
    with open_log(tmp_path) as again:
        assert again.append({"kind": "x.next"})["prev_hash"] == a["hash"]
    assert verify_log(tmp_path / "audit").consistent


def test_an_interrupt_at_the_wait_acknowledges_the_record_then_is_raised(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         sync_mode: str) -> None:
    log = open_log(tmp_path)
    real, real_collect, calls = os.fdatasync, SyncAhead.collect, [0]

    def interrupted_once(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise KeyboardInterrupt
        real(fd)

    def interrupted_collect(self: SyncAhead) -> tuple[int, BaseException | None]:
        calls[0] += 1
        code, _ = real_collect(self)
        return code, KeyboardInterrupt()

    b = log.append_deferred({"kind": "x.b"})
    monkeypatch.setattr(os, "fdatasync", interrupted_once)
    monkeypatch.setattr(SyncAhead, "collect", interrupted_collect)
    with pytest.raises(KeyboardInterrupt):
        b.wait()
    # Without a kernel sync, the fdatasync is made again; a kernel sync's result was taken anyway.
    assert b.done and b.error is None and calls[0] == (1 if sync_mode == "kernel sync" else 2)
    b.wait()
    assert log.append({"kind": "x.c"})["seq"] == b.seq + 1  # the log goes on
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_a_record_never_waited_for_blocks_nobody_and_close_makes_it_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that fails after its decision (boto3's validation) leaves its record written and its
    ticket unwaited: other appends go on (threads included), and close() makes it durable."""
    log = open_log(tmp_path)
    forgotten = log.append_deferred({"kind": "x.forgotten"})
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(log.append({"kind": "x.t"}))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4 and forgotten.done and forgotten.error is None  # covered by their syncs
    assert log._pending == []  # no ticket is kept once a sync has covered it
    last = log.append_deferred({"kind": "x.last"})
    syncs = _count_syncs(monkeypatch)
    log.close()  # the checkpoint's fsync covers it (the kernel's sync, if started, collected first)
    assert last.done and last.error is None and _fdatasyncs(syncs) == []
    last.wait()
    assert [r["kind"] for r in read_records(tmp_path / "audit")][-1] == "x.last"
    report = verify_log(tmp_path / "audit")
    assert report.consistent and report.segments[-1].last_seq == last.seq


def test_a_rotation_between_write_and_wait_makes_the_record_durable(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path, segment_max_bytes=1500)
    b = log.append_deferred({"kind": "x.b", "data": {"pad": "x" * 1500}})
    syncs = _count_syncs(monkeypatch)
    c = log.append({"kind": "x.c"})  # closes segment 1 (fsync, checkpoint) first, then writes
    assert b.done and b.error is None and len(_fdatasyncs(syncs)) == 1
    b.wait()
    assert len(_fdatasyncs(syncs)) == 1
    log.close()
    report = verify_log(tmp_path / "audit")
    assert report.consistent
    assert report.segments[0].last_seq == b.seq and c["seq"] > b.seq
    assert (tmp_path / "audit" / "segment-00000001.checkpoint.json").exists()


def test_another_writer_closing_the_segment_first(tmp_path: Path) -> None:
    """Another process (a second log on the same directory: its own descriptors and flock) extends and
    closes the segment before this one's wait: the record is durable, this log moves on after the
    checkpoint."""
    one = open_log(tmp_path)
    b = one.append_deferred({"kind": "x.b"})
    other = open_log(tmp_path)
    c = other.append({"kind": "x.c"})
    other.close()
    assert c["seq"] == b.seq + 1
    d = one.append({"kind": "x.d"})  # notices the checkpoint: syncs what it wrote, then a new segment
    assert b.done and b.error is None
    b.wait()
    one.close()
    report = verify_log(tmp_path / "audit")
    assert report.consistent and d["seq"] == c["seq"] + 2  # after the new segment's header
    assert report.segments[0].last_seq == c["seq"]


def test_a_failed_sync_keeps_records_another_writer_wrote_after(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed-batch rule across the gap: another process appended (and was acknowledged) after the
    written record; a failing sync fails the record but cuts nothing another writer chained on."""
    one = open_log(tmp_path)
    one.append({"kind": "x.a"})
    b = one.append_deferred({"kind": "x.b"})
    other = open_log(tmp_path)
    c = other.append({"kind": "x.c"})  # acknowledged: must survive
    events: list[dict[str, Any]] = []
    structlog.configure(processors=[lambda _l, _m, ev: events.append(dict(ev)) or ev,
                                    structlog.processors.KeyValueRenderer()])
    _fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(AuditError):
        one.append({"kind": "x.d"})  # sees c, writes d after it, its sync fails
    with pytest.raises(AuditError):
        b.wait()
    monkeypatch.undo()
    assert any(e.get("event") == "audit.failed_batch_kept" for e in events)
    other.close()
    one.close()
    recs = read_records(tmp_path / "audit")
    kinds = [r["kind"] for r in recs]
    assert "x.c" in kinds and "x.b" in kinds and "x.d" not in kinds  # d cut back, b kept (c is after it)
    assert {r["seq"]: r["hash"] for r in recs}[c["seq"]] == c["hash"]
    assert verify_log(tmp_path / "audit").consistent


def test_a_failed_wait_keeps_what_another_writer_wrote_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = open_log(tmp_path)
    b = one.append_deferred({"kind": "x.b"})
    other = open_log(tmp_path)
    c = other.append({"kind": "x.c"})
    _fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(AuditError):
        b.wait()
    monkeypatch.undo()
    other.close()
    one.close()
    recs = {r["seq"]: r for r in read_records(tmp_path / "audit")}
    assert recs[c["seq"]]["hash"] == c["hash"] and recs[b.seq]["kind"] == "x.b"
    assert verify_log(tmp_path / "audit").consistent


def test_with_a_batch_in_flight_the_record_joins_the_next_batch(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path)
    gate, first, outcome = _first_sync_held(log, monkeypatch)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(log.append_deferred({"kind": "x.b"})))
    t.start()
    _wait_queued(log, 1)
    gate.set()
    t.join(30)
    for f in first:
        f.join(30)
    (ticket,) = got
    assert ticket.done and ticket.error is None  # durable with its batch
    ticket.wait()
    assert ticket.seq == outcome[0]["seq"] + 1
    log.close()
    assert verify_log(tmp_path / "audit").consistent


def test_closed_and_broken_logs_refuse_and_write_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append_deferred({"kind": "x.b"})
    with pytest.raises(AuditError):
        open_log(tmp_path).append_deferred({"seq": 3})  # bad record: refused before anything is written
    assert read_records(tmp_path / "audit") == []


def test_threads_mixing_both_appends_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: FileAuditLog = open_log(tmp_path, segment_max_bytes=20_000)
    syncs = _count_syncs(monkeypatch)
    acked: dict[tuple[int, int], int] = {}
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(60):
            rec = {"kind": "x.t", "data": {"t": t, "i": i, "pad": "y" * 200}}
            if (t + i) % 2:
                ticket = log.append_deferred(rec)
                ticket.wait()
                seq = ticket.seq
            else:
                seq = log.append(rec)["seq"]
            with lock:
                acked[(t, i)] = seq

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    log.close()
    assert len(acked) == 480
    recs = [r for r in read_records(tmp_path / "audit") if r["kind"] == "x.t"]
    by_seq = {r["seq"]: (r["data"]["t"], r["data"]["i"]) for r in recs}
    assert all(by_seq[seq] == key for key, seq in acked.items())
    for t in range(8):
        assert [r["data"]["i"] for r in recs if r["data"]["t"] == t] == list(range(60))
    assert len(syncs) < 480  # shared
    report = verify_log(tmp_path / "audit")
    assert report.consistent and len(report.segments) > 1
