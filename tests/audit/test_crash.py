"""Crash safety and several processes: torn tails are repaired (and the repair recorded), kill -9 at
any point loses no acknowledged record, and 4 processes x 8 threads share one consistent chain."""

from __future__ import annotations

import base64
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatekeeper.audit._format import KIND_REPAIRED
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditIntegrityError
from tests.audit.conftest import open_log, read_records

SEG1 = "segment-00000001.jsonl"

# A child process: T threads append records; each acknowledged record is printed as "seq hash". With
# GK_DEFERRED=1 every other record is appended in two steps (written, then its ticket waited for, as
# the AWS adapter does), acknowledged when the wait returns.
CHILD = r"""
import os, random, signal, sys, threading
from pathlib import Path
import structlog
# The writer's own log lines go to stderr: on stdout, print()'s two writes (the line, then its
# newline) let another thread's acknowledgement land between them, glued onto the log line.
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from gatekeeper.audit import _writer, open_audit_log
tear_after = int(os.environ.get("GK_TEAR_AFTER", "0"))
deferred = os.environ.get("GK_DEFERRED") == "1"
if tear_after:
    # kill -9 in the middle of a write: after tear_after batches, write part of the next, then die.
    real_write, batches = os.write, [0]
    def tearing_write(fd, data):
        if bytes(data[:7]) != b'{"seq":':  # only segment writes (not checkpoints, keys)
            return real_write(fd, data)
        batches[0] += 1
        if batches[0] > tear_after:
            real_write(fd, bytes(data[:random.randint(1, len(data) - 1)]))
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)
    _writer.os.write = tearing_write
base, tag = Path(sys.argv[1]), sys.argv[5]
threads, per_thread, max_bytes = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
log = open_audit_log("file://audit", signing_key=base / "key.pem", segment_max_bytes=max_bytes,
                     segment_max_seconds=3600, base_dir=base)
out = threading.Lock()
def work(t):
    for i in range(per_thread):
        rec = {"kind": "test.write", "actor": tag, "data": {"p": tag, "t": t, "i": i, "pad": "x" * 300}}
        if deferred and i % 2:
            ticket = log.append_deferred(rec)
            ticket.wait()
            r = ticket.record
        else:
            r = log.append(rec)
        with out:
            sys.stdout.write(f"{r['seq']} {r['hash']}\n")
            sys.stdout.flush()
ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for th in ths: th.start()
for th in ths: th.join()
log.close()
"""


ACK = re.compile(r"^(\d+) ([0-9a-f]{64})$")


def acks_in(text: str) -> list[tuple[int, str]]:
    """The acknowledgements a child printed (each on a line of its own; its log lines go to stderr)."""
    return [(int(m.group(1)), m.group(2)) for m in map(ACK.match, text.splitlines()) if m]


def child(tmp_path: Path, threads: int, per_thread: int, tag: str, max_bytes: int = 1 << 20,
          tear_after: int = 0, deferred: bool = False) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    env = {**os.environ, "GK_TEAR_AFTER": str(tear_after), "GK_DEFERRED": "1" if deferred else "0"}
    with (tmp_path / f"child-{tag}.err").open("ab") as err:  # its log, for a failure's message
        return subprocess.Popen([sys.executable, str(script), str(tmp_path), str(threads), str(per_thread),
                                 str(max_bytes), tag], stdout=subprocess.PIPE, stderr=err, text=True, env=env)


def test_torn_last_line_is_repaired_on_open_and_the_repair_recorded(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    acked = [log.append({"kind": "x.y", "data": {"i": i}}) for i in range(5)]
    seg = tmp_path / "audit" / SEG1
    torn = b'{"seq":7,"prev_hash":"' + b"a" * 30  # a write cut short by a crash
    with seg.open("ab") as f:
        f.write(torn)
    # (the writer "crashed": its fds are simply abandoned)
    again = open_log(tmp_path)
    recs = read_records(tmp_path / "audit")
    rep = recs[-1]
    assert rep["kind"] == KIND_REPAIRED and rep["seq"] == acked[-1]["seq"] + 1
    assert rep["prev_hash"] == acked[-1]["hash"]
    assert rep["data"]["removed_bytes"] == len(torn) and base64.b64decode(rep["data"]["removed_b64"]) == torn
    assert rep["data"]["segment"] == SEG1
    nxt = again.append({"kind": "x.y"})
    assert nxt["seq"] == rep["seq"] + 1
    again.close()
    report = verify_log(tmp_path / "audit")
    assert report.consistent and not report.warnings[1:]


def test_garbage_lines_at_the_tail_are_repaired(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    last = log.append({"kind": "x.y"})
    seg = tmp_path / "audit" / SEG1
    with seg.open("ab") as f:
        f.write(b"\x00" * 4096 + b"\n" + b"\x00" * 100)  # zeros after a power loss
    again = open_log(tmp_path)
    recs = read_records(tmp_path / "audit")
    assert recs[-1]["kind"] == KIND_REPAIRED and recs[-1]["data"]["removed_bytes"] == 4197
    assert recs[-2]["hash"] == last["hash"]
    again.close()
    assert verify_log(tmp_path / "audit").consistent


def test_another_writer_repairs_a_torn_tail_left_by_a_crashed_process(tmp_path: Path) -> None:
    survivor = open_log(tmp_path)
    survivor.append({"kind": "x.y"})
    crashed = open_log(tmp_path)
    last = crashed.append({"kind": "x.y"})
    with (tmp_path / "audit" / SEG1).open("ab") as f:
        f.write(b'{"seq":99')  # the crashed process died mid-write
    nxt = survivor.append({"kind": "x.y"})  # survivor sees the tail changed and repairs it
    recs = read_records(tmp_path / "audit")
    assert [r["kind"] for r in recs[-2:]] == [KIND_REPAIRED, "x.y"]
    assert recs[-2]["prev_hash"] == last["hash"] and nxt["seq"] == last["seq"] + 2
    survivor.close()
    assert verify_log(tmp_path / "audit").consistent


def test_a_tail_too_long_to_be_a_torn_write_is_not_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.audit import _tail

    monkeypatch.setattr(_tail, "REPAIR_LIMIT", 1000)
    log = open_log(tmp_path)
    log.append({"kind": "x.y"})
    seg = tmp_path / "audit" / SEG1
    with seg.open("ab") as f:
        f.write(b"junk line\n" * 300)
    size = seg.stat().st_size
    with pytest.raises(AuditIntegrityError, match="refusing to repair"):
        open_log(tmp_path)
    assert seg.stat().st_size == size  # nothing cut


def test_empty_segment_left_by_a_crash_gets_its_header(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.append({"kind": "x.y"})
    (tmp_path / "audit" / "segment-00000002.jsonl").touch()  # created, then the process died
    with open_log(tmp_path) as log:
        log.append({"kind": "x.y"})
    assert verify_log(tmp_path / "audit").consistent
    assert [r["kind"] for r in read_records(tmp_path / "audit")][-2:] == ["audit.segment", "x.y"]


def test_four_processes_of_eight_threads_lose_nothing(tmp_path: Path) -> None:
    per_thread = 40
    procs = [child(tmp_path, 8, per_thread, f"p{n}", max_bytes=60_000) for n in range(4)]
    acks: list[tuple[int, str]] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        acks.extend(acks_in(out))
    assert len(acks) == 4 * 8 * per_thread
    recs = read_records(tmp_path / "audit")
    by_seq = {r["seq"]: r for r in recs}
    assert len(by_seq) == len(recs)  # no seq used twice
    assert all(by_seq[s]["hash"] == h for s, h in acks)
    writes = [r for r in recs if r["kind"] == "test.write"]
    assert len(writes) == len(acks)
    for n in range(4):
        for t in range(8):
            mine = [r["data"]["i"] for r in writes if r["data"]["p"] == f"p{n}" and r["data"]["t"] == t]
            assert mine == list(range(per_thread))
    report = verify_log(tmp_path / "audit")
    assert report.consistent, report.problem
    assert len(report.segments) > 1  # rotations happened while processes raced


def _kill_trial(tmp_path: Path, rng: random.Random, *, tear: bool = False, deferred: bool = False) -> int:
    """One writer process killed with SIGKILL: by us at a random moment, or by itself mid-write."""
    target = 10**9 if tear else rng.randint(1, 400)  # a tearing writer kills itself
    p = child(tmp_path, 4, 100_000, "k", max_bytes=rng.choice([20_000, 200_000]),
              tear_after=rng.randint(3, 60) if tear else 0, deferred=deferred)
    acked: list[tuple[int, str]] = []
    assert p.stdout is not None
    deadline = time.monotonic() + 30
    while len(acked) < target and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        acked.extend(acks_in(line))
    os.kill(p.pid, signal.SIGKILL)
    out, _ = p.communicate()
    # Lines printed before the kill are acknowledged too.
    acked.extend(acks_in(out))
    err = (tmp_path / "child-k.err").read_text(errors="replace")[-2000:]  # the child's log, for a failure's message
    assert acked or tear, f"the writer acknowledged nothing (exit {p.returncode}): {err}"  # a tear may come first
    open_log(tmp_path).close()  # recovery: repair if torn, checkpoint
    report = verify_log(tmp_path / "audit")
    assert report.consistent, report.problem
    by_seq = {r["seq"]: r["hash"] for r in read_records(tmp_path / "audit")}
    missing = [s for s, h in acked if by_seq.get(s) != h]
    assert not missing, f"acknowledged records lost: {missing[:5]}"
    return len(acked)


def test_kill_9_once(tmp_path: Path) -> None:
    assert _kill_trial(tmp_path, random.Random(7)) > 0


@pytest.mark.parametrize("seed", [3, 5, 13])
def test_kill_9_loses_no_record_acknowledged_by_a_ticket(tmp_path: Path, seed: int) -> None:
    """Two-step appends (written, then waited for): killed at a random moment, or mid-write, the log
    recovers and holds every record whose wait returned."""
    rng = random.Random(seed)
    assert _kill_trial(tmp_path, rng, deferred=True) > 0
    _kill_trial(tmp_path, rng, tear=True, deferred=True)


def test_kill_9_in_the_middle_of_a_write(tmp_path: Path) -> None:
    acked = _kill_trial(tmp_path, random.Random(11), tear=True)
    assert acked > 0, (tmp_path / "child-k.err").read_text(errors="replace")[-2000:]
    recs = read_records(tmp_path / "audit")
    # The torn batch was cut on reopen and the repair recorded.
    repairs = [r for r in recs if r["kind"] == KIND_REPAIRED]
    assert len(repairs) == 1 and repairs[0]["data"]["removed_bytes"] > 0


@pytest.mark.slow
def test_kill_9_in_a_loop_of_trials(tmp_path: Path) -> None:
    rng = random.Random(20250301)
    total = 0
    started = time.monotonic()
    trials = 0
    # The same log through every trial: recovery after recovery keeps one verifiable chain.
    while trials < 20 and time.monotonic() - started < 30:
        total += _kill_trial(tmp_path, rng, tear=trials % 2 == 1)
        trials += 1
    assert trials >= 5 and total > trials
    assert verify_log(tmp_path / "audit").consistent
    repairs = [r for r in read_records(tmp_path / "audit") if r["kind"] == KIND_REPAIRED]
    assert len(repairs) >= trials // 2
