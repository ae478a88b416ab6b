"""The writer's two paths and its sync faults: an uncontended append (a batch of one, no queue) writes
the same bytes as appenders batched behind a sync; an interrupt or failure at the OS's fdatasync
leaves no record in the log whose appender was told it failed; two processes, one appender each."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.audit import _writer as writer_mod
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import open_log, read_records

SEG1 = "segment-00000001.jsonl"
TS = "2026-12-05T08:00:00.000000+00:00"

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_records = st.lists(st.fixed_dictionaries({"kind": st.sampled_from(["x.y", "decision", "hook.error"]),
                                           "actor": st.text(max_size=10), "data": _json}),
                    min_size=2, max_size=12)


def _sync_gate(first: Callable[[int], object]) -> Callable[[int], None]:
    """A fault-injected os.fdatasync: the first call runs ``first`` (before the real sync), the rest are real."""
    real, calls = os.fdatasync, [0]

    def fdatasync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 1:
            first(fd)
        real(fd)

    return fdatasync


def _wait_queued(log: FileAuditLog, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(log._queue) < n:
        assert time.monotonic() < deadline, f"{len(log._queue)} appenders queued, expected {n}"
        time.sleep(0.001)


def _in_threads(log: FileAuditLog, records: list[dict[str, Any]], outcome: dict[int, Any]) -> list[threading.Thread]:
    """Start one appender a record, each after the one before has queued (so the queue holds them in order)."""
    threads = []
    for i, rec in enumerate(records):
        def run(i: int = i, rec: dict[str, Any] = rec) -> None:
            try:
                outcome[i] = log.append(rec)
            except BaseException as exc:  # collected for the assertions
                outcome[i] = exc
        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        if i > 0:
            _wait_queued(log, i)
    return threads


def _first_sync_held(log: FileAuditLog, monkeypatch: pytest.MonkeyPatch
                     ) -> tuple[threading.Event, list[threading.Thread], dict[int, Any]]:
    """One appender (``x.first``) whose sync is held in flight until the returned gate is set: what is
    appended meanwhile queues behind it. Returns the gate, its thread and its outcome."""
    gate, in_sync = threading.Event(), threading.Event()

    def hold(fd: int) -> None:
        in_sync.set()
        assert gate.wait(30)

    monkeypatch.setattr(os, "fdatasync", _sync_gate(hold))
    outcome: dict[int, Any] = {}
    first = _in_threads(log, [{"kind": "x.first"}], outcome)
    assert in_sync.wait(30)
    return gate, first, outcome


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_records)
def test_an_uncontended_append_writes_what_a_batch_writes(records: list[dict[str, Any]]) -> None:
    """The same records, appended one at a time (each a batch of one) or as one batch queued behind a
    sync in flight (the general path), give the same segment byte for byte."""
    records = [{**r, "schema": "gatekeeper.audit/v1", "ts": TS} for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with open_log(base / "seed") as seed:
            seed.append({"kind": "x.seed", "ts": TS})
            for name in ("alone", "batched"):  # two copies of one open segment, header and all
                shutil.copytree(base / "seed", base / name)
        alone = open_log(base / "alone")
        alone_results = [alone.append(r) for r in records]
        alone.close()

        batched = open_log(base / "batched")
        gate, syncs = threading.Event(), [0]
        real = os.fdatasync

        def held(fd: int) -> None:
            syncs[0] += 1
            if syncs[0] == 1:
                assert gate.wait(30)
            real(fd)

        outcome: dict[int, Any] = {}
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "fdatasync", held)
            first = _in_threads(batched, records[:1], outcome)
            while syncs[0] == 0:  # the first record's sync is in flight
                time.sleep(0.001)
            rest = _in_threads(batched, records[1:], {})
            gate.set()
            for t in (*first, *rest):
                t.join(30)
        batched.close()
        assert syncs[0] == 2  # the general path: the rest were one batch, promoted and synced once
        assert (base / "alone" / "audit" / SEG1).read_bytes() == (base / "batched" / "audit" / SEG1).read_bytes()
        assert outcome[0] == alone_results[0]
        assert verify_log(base / "batched" / "audit").consistent


def test_an_interrupt_at_the_sync_acknowledges_the_durable_batch_then_is_raised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the leader syncs: the sync is made (again), its followers are acknowledged, the
    leader's caller gets the interrupt, and the log goes on."""
    log = open_log(tmp_path)
    log.append({"kind": "x.warm"})
    gate, first, outcome = _first_sync_held(log, monkeypatch)
    # Queued behind the sync in flight: the next batch, whose leader's sync is interrupted.
    outcome_later: dict[int, Any] = {}
    later = _in_threads(log, [{"kind": "x.later", "data": {"i": i}} for i in range(4)], outcome_later)
    interrupts = [0]
    real = os.fdatasync

    def interrupted_once(fd: int) -> None:
        if interrupts[0] == 0:
            interrupts[0] += 1
            raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(os, "fdatasync", interrupted_once)
    gate.set()
    for t in (*first, *later):
        t.join(30)
    assert isinstance(outcome[0], dict)
    # The promoted leader (the first queued) got the interrupt; the others their records.
    assert isinstance(outcome_later[0], KeyboardInterrupt)
    acked = [outcome_later[i] for i in range(1, 4)]
    assert all(isinstance(r, dict) for r in acked), acked
    on_disk = {r["seq"]: r for r in read_records(tmp_path / "audit")}
    for r in acked:
        assert on_disk[r["seq"]] == r
    after = log.append({"kind": "x.after"})  # not broken
    assert after["seq"] == max(on_disk) + 1
    log.close()
    assert verify_log(tmp_path / "audit").consistent


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError(5, "Input/output error")], ids=["interrupts", "eio"])
def test_a_failed_sync_leaves_none_of_its_batch_in_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fault: BaseException | type[BaseException]) -> None:
    """A sync that keeps failing (interrupted at every try, or an I/O error) fails its batch: the lines
    are cut off the segment again, so no appender told "failed" finds its record after a reopen."""
    log = open_log(tmp_path)
    ok = log.append({"kind": "x.ok"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    gate, first, outcome = _first_sync_held(log, monkeypatch)
    later: dict[int, Any] = {}
    threads = _in_threads(log, [{"kind": "x.failed", "data": {"i": i}} for i in range(3)], later)

    def failing(fd: int) -> None:
        raise fault

    monkeypatch.setattr(os, "fdatasync", failing)
    gate.set()
    for t in (*first, *threads):
        t.join(30)
    monkeypatch.undo()
    assert isinstance(outcome[0], dict)  # the batch before, durable
    leader_gets = KeyboardInterrupt if fault is KeyboardInterrupt else AuditError
    assert isinstance(later[0], leader_gets), later[0]
    assert all(isinstance(later[i], AuditError) for i in (1, 2)), later
    assert seg.stat().st_size > size
    with pytest.raises(AuditError, match="refuses further records"):
        log.append({"kind": "x.y"})
    log.close()
    kinds = [r["kind"] for r in read_records(tmp_path / "audit")]
    assert "x.first" in kinds and "x.failed" not in kinds
    with open_log(tmp_path) as again:  # reopened, the chain goes on from the last durable record
        nxt = again.append({"kind": "x.next"})
    assert nxt["seq"] == outcome[0]["seq"] + 1 and nxt["prev_hash"] == outcome[0]["hash"]
    assert ok["seq"] < outcome[0]["seq"]
    assert verify_log(tmp_path / "audit").consistent


def test_an_interrupted_write_leaves_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the middle of the leader's write (after part of the batch reached the file): the
    part is cut back, the appender gets the interrupt, and the next append chains on the last record."""
    log = open_log(tmp_path)
    ok = log.append({"kind": "x.ok"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    real_write = os.write

    def torn(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[:10]))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", torn)
    with pytest.raises(KeyboardInterrupt):
        log.append({"kind": "x.torn"})
    monkeypatch.undo()
    assert seg.stat().st_size == size
    nxt = log.append({"kind": "x.y"})
    assert nxt["seq"] == ok["seq"] + 1 and nxt["prev_hash"] == ok["hash"]
    log.close()
    assert verify_log(tmp_path / "audit").consistent


CHILD = r"""
import sys
from pathlib import Path
from gatekeeper.audit import open_audit_log
base, tag, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
log = open_audit_log("file://audit", signing_key=base / "key.pem", segment_max_bytes=20_000,
                     segment_max_seconds=3600, base_dir=base)
for i in range(n):
    r = log.append({"kind": "test.write", "data": {"p": tag, "i": i}})
    print(r["seq"], r["hash"], flush=True)
log.close()
"""
ACK = re.compile(r"^(\d+) ([0-9a-f]{64})$")


def test_two_processes_one_appender_each_share_one_chain(tmp_path: Path) -> None:
    """Every append of a lone appender takes the uncontended path; two processes doing so interleave
    under the file lock (rotating meanwhile) into one chain, each record acknowledged once."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    n = 150
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), tag, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for tag in ("a", "b")]
    acks = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        acks += [(int(m[1]), m[2]) for m in map(ACK.match, out.splitlines()) if m]  # not structlog's lines
    assert len(acks) == 2 * n
    recs = read_records(tmp_path / "audit")
    by_seq = {r["seq"]: r for r in recs}
    assert len(by_seq) == len(recs) and all(by_seq[s]["hash"] == h for s, h in acks)
    for tag in ("a", "b"):
        assert [r["data"]["i"] for r in recs if r["kind"] == "test.write" and r["data"]["p"] == tag] == list(range(n))
    report = verify_log(tmp_path / "audit")
    assert report.consistent, report.problem
    assert len(report.segments) > 1


def test_the_appender_that_completes_a_gathering_batch_writes_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After a batch of 4, a leader gathers 4 again; the 4th appender to arrive writes and syncs the
    batch itself (the gathering leader, asleep, is woken once, as a follower), in arrival order."""
    log = open_log(tmp_path)
    log.append({"kind": "x.warm"})
    gate = threading.Event()
    monkeypatch.setattr(os, "fdatasync", _sync_gate(lambda fd: gate.wait(30)))
    held = _in_threads(log, [{"kind": "x.held"}], {})
    while not log._leading or log._queue:  # the first record is being written, its sync held
        time.sleep(0.001)
    four = _in_threads(log, [{"kind": "x.four"}] * 4, {})
    gate.set()
    for t in (*held, *four):
        t.join(30)
    assert log._last_batch == 4
    # A gathering window far longer than the test: only the completing appender can end it.
    monkeypatch.setattr(writer_mod, "GATHER_MAX_S", 120.0)
    log._fsync_s = 240.0
    syncs, real = [0], os.fdatasync

    def counting(fd: int) -> None:
        syncs[0] += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    outcome: dict[int, Any] = {}
    threads = []
    for i in range(4):  # the gathering leader is queued first, the others after it; the 4th completes
        got: dict[int, Any] = {}
        threads += _in_threads(log, [{"kind": "x.gathered", "data": {"i": i}}], got)
        outcome[i] = got
        if i < 3:
            _wait_queued(log, i + 1)
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert syncs[0] == 1
    outcome = {i: got[0] for i, got in outcome.items()}
    assert [outcome[i]["data"]["i"] for i in range(4)] == [0, 1, 2, 3]
    seqs = [outcome[i]["seq"] for i in range(4)]
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    on_disk = {r["seq"]: r for r in read_records(tmp_path / "audit")}
    assert all(on_disk[outcome[i]["seq"]] == outcome[i] for i in range(4))
    log.close()
    assert verify_log(tmp_path / "audit").consistent
