"""Probe: the writer's per-record Python, moved or kept, measured paired (issue 19, durable appends).

Not part of ``python -m bench``; run ``python -m bench.append_variants [ROUNDS] [SECONDS]``. Each
round runs every variant (in a rotated order) at 8 and at 64 threads for SECONDS each, on a fresh
log in the same temporary directory (no sidecars, so that their background CPU is not counted),
with the bench's record (the largest decision template, 2,436 bytes of members); printed per run:
appends/s, records a sync, median fsync, median gap between one sync's end and the next one's start
(the disk idle), the share of THREADS / median fsync, and CPU us a record (``getrusage`` of the
process, every thread).

Variants (all write the same bytes; the probe swaps them in around one run, nothing else):

- ``base``: the writer as it is.
- ``result-first``: the appender builds its result dict (a copy of the record with ``seq``,
  ``prev_hash`` and ``hash`` placeholders) BEFORE it queues, and only fills in the three values
  after it is woken: the only per-record Python left after the wake-up that does not need the
  chain (orjson already runs before queueing; the line's SHA-256 needs the previous hash first).
- ``gil-held-hash``: the batch's lines hashed in pieces under 2,048 bytes, so that ``hashlib``
  keeps the GIL (it drops it for larger updates, letting a woken appender in mid-batch while the
  leader still has lines to hash and the disk idles).
- ``both``.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.audit import _append_all, decision_templates
from gatekeeper.audit import _writer
from gatekeeper.audit._prepare import prepare
from gatekeeper.audit._writer import FileAuditLog, _Entry

_PIECE = 2000  # under hashlib's HASHLIB_GIL_MINSIZE (2048): an update of fewer bytes keeps the GIL


def encode_lines_gil_held(seq: int, prev_hash: bytes, members: list[bytes]) -> tuple[bytes, list[bytes]]:
    """``_format.encode_lines`` with each record's members hashed in pieces of under 2,048 bytes."""
    sha256 = hashlib.sha256
    parts: list[bytes] = []
    hashes: list[bytes] = []
    for m in members:
        seq += 1
        head = b'{"seq":%d,"prev_hash":"%s",' % (seq, prev_hash)
        h = sha256(head)
        if len(m) < _PIECE:
            h.update(m)
        else:
            view = memoryview(m)
            for i in range(0, len(m), _PIECE):
                h.update(view[i:i + _PIECE])
        prev_hash = h.hexdigest().encode("ascii")
        parts += (head, m, b',"hash":"', prev_hash, b'"}\n')
        hashes.append(prev_hash)
    return b"".join(parts), hashes


class ResultFirst(FileAuditLog):
    """The appender's result dict built before it queues; three members filled in once woken."""

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        out, members = prepare(record)
        entry = _Entry(out, members)
        res = {"seq": 0, "prev_hash": "", **out, "hash": ""}
        self._submit(entry)
        res["seq"], res["prev_hash"], res["hash"] = entry.seq, entry.prev.decode("ascii"), entry.hash.decode("ascii")
        return res


@contextmanager
def _gil_held_hash(on: bool) -> Iterator[None]:
    saved = _writer.encode_lines
    if on:
        _writer.encode_lines = encode_lines_gil_held
    try:
        yield
    finally:
        _writer.encode_lines = saved


VARIANTS: dict[str, tuple[type[FileAuditLog], bool]] = {
    "base": (FileAuditLog, False),
    "result-first": (ResultFirst, False),
    "gil-held-hash": (FileAuditLog, True),
    "both": (ResultFirst, True),
}


class SyncTimes:
    """Each fdatasync's start and end (perf_counter ns): the syncs' durations and the gaps between them
    (the disk idle while the appenders come back and the next batch is written)."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self._real = os.fdatasync

    def __enter__(self) -> SyncTimes:
        real, spans, clock = self._real, self.spans, time.perf_counter_ns

        def timed(fd: int) -> None:
            t0 = clock()
            try:
                real(fd)
            finally:
                spans.append((t0, clock()))
        os.fdatasync = timed
        return self

    def __exit__(self, *exc: object) -> None:
        os.fdatasync = self._real

    def sync_p50_us(self) -> float:
        return statistics.median(b - a for a, b in self.spans) / 1000

    def gap_p50_us(self) -> float:
        return statistics.median(self.spans[i + 1][0] - self.spans[i][1] for i in range(len(self.spans) - 1)) / 1000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_one(variant: str, threads: int, seconds: float, directory: Path, rec: dict[str, Any]) -> dict[str, Any]:
    cls, held = VARIANTS[variant]
    log = cls(directory, signer=None, sidecars=False)
    try:
        with _gil_held_hash(held):
            _append_all(log, [rec] * 200, threads)  # warm-up
            cpu0 = _cpu()
            with SyncTimes() as syncs:
                count, elapsed = _append_all(log, [rec] * 10_000_000, threads, seconds)
            cpu = _cpu() - cpu0
    finally:
        log.close()
    p50 = syncs.sync_p50_us()
    return {"per_second": count / elapsed, "per_sync": count / len(syncs.spans), "fsync_p50_us": p50,
            "gap_p50_us": syncs.gap_p50_us(), "share": count / elapsed / (threads / (p50 / 1e6)),
            "cpu_us": cpu / count * 1e6}


def main(rounds: int = 4, seconds: float = 2.0, show: Callable[[str], None] = print) -> None:
    rec = max(decision_templates(), key=lambda r: len(prepare(r)[1]))
    names = list(VARIANTS)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="gk-append-variants-") as tmp:
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            show(f"round {r + 1}/{rounds}, {time.strftime('%H:%M:%S', time.gmtime())} UTC, "
                 f"load {os.getloadavg()[0]:.2f}")
            for threads in (8, 64):
                for v in order:
                    out = run_one(v, threads, seconds, Path(tmp) / f"log-{r}-{threads}-{v}", rec)
                    results.setdefault((v, threads), []).append(out)
                    show(f"  {threads:2d} threads {v:14s} {out['per_second']:9,.0f}/s {out['per_sync']:5.1f} a sync "
                         f"fsync p50 {out['fsync_p50_us']:6.0f} us gap p50 {out['gap_p50_us']:6.0f} us "
                         f"share {out['share']:5.1%}  cpu {out['cpu_us']:5.1f} us")
    show("medians:")
    for (v, threads), runs in sorted(results.items(), key=lambda kv: (kv[0][1], names.index(kv[0][0]))):
        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(x[key] for x in runs)
        show(f"  {threads:2d} threads {v:14s} {med('per_second'):9,.0f}/s {med('per_sync'):5.1f} a sync "
             f"fsync p50 {med('fsync_p50_us'):6.0f} us gap p50 {med('gap_p50_us'):6.0f} us "
             f"share {med('share'):5.1%}  cpu {med('cpu_us'):5.1f} us")


if __name__ == "__main__":
    main(*(int(a) if i == 0 else float(a) for i, a in enumerate(sys.argv[1:3])))
