"""``FileAuditLog.append_many``: several records handed over as one appender, written in order in one
batch with one sync, acknowledged or failed together; mixed with single appenders in a batch; a bad
record refused before anything is written; a failed sync leaving none of the batch; kill -9 of a
process losing none that it had acknowledged."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import open_log, read_records, segment_lines
from tests.audit.test_writer_paths import SEG1, TS, _first_sync_held, _wait_queued

FIXED = {"schema": "gatekeeper.audit/v1", "ts": TS}


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the OS's fdatasync calls (each is still made: counted, not replaced)."""
    real, calls = os.fdatasync, [0]

    def fdatasync(fd: int) -> None:
        calls[0] += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return calls


def test_records_go_out_in_order_in_one_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = open_log(tmp_path)
    before = log.append({"kind": "x.before"})
    syncs = _counting(monkeypatch)
    out = log.append_many([{"kind": "case.opened", "actor": "a", "data": {"i": 1}},
                           {"kind": "decision", "decision": "pending"}, {"kind": "x.third"}])
    assert syncs[0] == 1
    assert [r["kind"] for r in out] == ["case.opened", "decision", "x.third"]
    assert [r["seq"] for r in out] == [before["seq"] + 1, before["seq"] + 2, before["seq"] + 3]
    assert out[0]["prev_hash"] == before["hash"] and out[1]["prev_hash"] == out[0]["hash"]
    assert out[2]["prev_hash"] == out[1]["hash"]
    assert log.durable_head[:2] == (out[2]["seq"], out[2]["hash"])
    assert log.append_many([]) == [] and syncs[0] == 1  # nothing to write, no sync
    monkeypatch.undo()
    log.close()
    on_disk = read_records(tmp_path / "audit")
    assert [r for r in on_disk if r["seq"] in {o["seq"] for o in out}] == out
    assert verify_log(tmp_path / "audit").consistent


def test_the_same_bytes_as_appending_one_by_one(tmp_path: Path) -> None:
    """A log continued by append_many and a copy of it continued by appends: byte for byte the same."""
    log = open_log(tmp_path)
    log.append({**FIXED, "kind": "x.start"})
    records = [{**FIXED, "kind": "x.y", "data": {"i": i, "s": "é\n\"", "l": [1, None, 2.5]}} for i in range(5)]
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "audit", copy / "audit")
    many = log.append_many(records)
    other = open_log(copy)
    one_by_one = [other.append(r) for r in records]
    assert many == one_by_one
    assert segment_lines(tmp_path / "audit" / SEG1) == segment_lines(copy / "audit" / SEG1)
    log.close()
    other.close()


@pytest.mark.parametrize("bad", [
    "not a dict",
    {"kind": "x.y", "seq": 3},
    {"kind": "x.y", "data": object()},
], ids=["not-a-dict", "reserved-key", "unserializable"])
def test_a_bad_record_refuses_them_all_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           bad: Any) -> None:
    log = open_log(tmp_path)
    log.append({"kind": "x.before"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    syncs = _counting(monkeypatch)
    with pytest.raises(AuditError):
        log.append_many([{"kind": "x.good"}, bad])
    assert seg.stat().st_size == size and syncs[0] == 0
    after = log.append({"kind": "x.after"})  # the log goes on
    monkeypatch.undo()
    log.close()
    assert [r["kind"] for r in read_records(tmp_path / "audit")][-2:] == ["x.before", "x.after"]
    assert after["seq"] == read_records(tmp_path / "audit")[-2]["seq"] + 1


def _appenders(log: Any, calls: list[list[dict[str, Any]]], outcome: dict[int, Any]) -> list[threading.Thread]:
    """One thread per call (a list of one record: ``append``; more: ``append_many``), each started once
    the one before has queued, so the queue holds them in this order."""
    threads = []
    for i, recs in enumerate(calls):
        def run(i: int = i, recs: list[dict[str, Any]] = recs) -> None:
            try:
                outcome[i] = log.append(recs[0]) if len(recs) == 1 else log.append_many(recs)
            except BaseException as exc:  # collected for the assertions
                outcome[i] = exc
        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        _wait_queued(log, i + 1)
    return threads


def _recs(kind: str, *numbers: int) -> list[dict[str, Any]]:
    return [{"kind": kind, "data": {"i": i}} for i in numbers]


MIXED = [_recs("x.single", 0), _recs("x.many", 1, 2, 3), _recs("x.single", 4), _recs("x.many", 5, 6)]


def test_mixed_with_single_appenders_in_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued behind a sync in flight, two append_many and two append make the next batch: one sync,
    their records in queue order, each call's records together and in its order."""
    log = open_log(tmp_path)
    gate, first, held = _first_sync_held(log, monkeypatch)
    outcome: dict[int, Any] = {}
    threads = _appenders(log, MIXED, outcome)
    syncs = [0]
    real = os.fdatasync

    def counted(fd: int) -> None:
        syncs[0] += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    gate.set()
    for t in (*first, *threads):
        t.join(30)
    assert syncs[0] == 1, syncs  # the four calls' seven records: one batch
    got = [outcome[0], *outcome[1], outcome[2], *outcome[3]]
    assert [r["data"]["i"] for r in got] == list(range(7))
    assert [r["seq"] for r in got] == list(range(held[0]["seq"] + 1, held[0]["seq"] + 8))
    monkeypatch.undo()
    log.close()
    assert [r for r in read_records(tmp_path / "audit") if r["kind"] in ("x.single", "x.many")] == got
    assert verify_log(tmp_path / "audit").consistent


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError(5, "Input/output error")], ids=["interrupts", "eio"])
def test_a_failed_sync_of_a_mixed_batch_leaves_none_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           fault: BaseException | type[BaseException]) -> None:
    """The batch of single and grouped records whose sync fails (every try interrupted, or EIO): every
    appender is told it failed, and none of its records is in the log after a reopen."""
    log = open_log(tmp_path)
    gate, first, held = _first_sync_held(log, monkeypatch)
    outcome: dict[int, Any] = {}
    threads = _appenders(log, MIXED, outcome)

    def failing(fd: int) -> None:
        raise fault

    monkeypatch.setattr(os, "fdatasync", failing)
    gate.set()
    for t in (*first, *threads):
        t.join(30)
    monkeypatch.undo()
    assert isinstance(held[0], dict)  # the batch before, durable
    leader_gets = KeyboardInterrupt if fault is KeyboardInterrupt else AuditError
    assert isinstance(outcome[0], leader_gets), outcome[0]
    assert all(isinstance(outcome[i], AuditError) for i in (1, 2, 3)), outcome
    log.close()
    kinds = [r["kind"] for r in read_records(tmp_path / "audit")]
    assert "x.first" in kinds and "x.single" not in kinds and "x.many" not in kinds
    with open_log(tmp_path) as again:
        nxt = again.append_many([{"kind": "x.next"}, {"kind": "x.next"}])
    assert nxt[0]["seq"] == held[0]["seq"] + 1 and nxt[0]["prev_hash"] == held[0]["hash"]
    assert verify_log(tmp_path / "audit").consistent


_CHILD = """
import sys
from pathlib import Path
from gatekeeper.audit._writer import FileAuditLog
log = FileAuditLog(Path(sys.argv[1]), signer=None, sidecars=False)
i = 0
while True:
    out = log.append_many([{"kind": "x.pair", "data": {"i": i, "half": h}} for h in (0, 1)])
    print(out[0]["seq"], out[1]["seq"], flush=True)  # acknowledged: both durable
    i += 1
"""


def test_kill_9_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    """A process acknowledging pairs of records as fast as it can, killed -9: every pair it printed is
    in the reopened log, whole; the torn tail (if any) is repaired and the chain verifies."""
    directory = tmp_path / "audit"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(directory)], stdout=subprocess.PIPE, env=env,
                             text=True)
    assert child.stdout is not None
    acked: list[tuple[int, int]] = []
    for line in child.stdout:
        a, b = map(int, line.split())
        acked.append((a, b))
        if len(acked) >= 200:
            break
    child.send_signal(signal.SIGKILL)
    acked += [tuple(map(int, line.split())) for line in child.stdout if line.endswith("\n") and line.count(" ") == 1]  # type: ignore[misc]
    child.wait(30)
    with open_log(tmp_path) as again:
        again.append({"kind": "x.after"})
    pairs = [r for r in read_records(directory) if r["kind"] == "x.pair"]
    by_seq = {r["seq"]: r for r in pairs}
    for a, b in acked:
        assert b == a + 1 and by_seq[a]["data"]["half"] == 0 and by_seq[b]["data"]["half"] == 1
        assert by_seq[a]["data"]["i"] == by_seq[b]["data"]["i"]
    assert verify_log(directory).consistent
