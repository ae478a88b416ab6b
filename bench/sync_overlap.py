"""Probe: can the guard's fdatasync overlap boto3's own work after the decision? (issue 19, wrapper)

Not part of ``python -m bench``; run ``python -m bench.sync_overlap [DIR]`` on the disk the audit log
uses. Two questions, each answered by timing the same 971-byte append (a decision record's size):

1. **A sync thread.** The guard writes the record, wakes a thread that calls ``os.fdatasync`` and
   goes on with ``WORK_US`` of pure Python (what boto3 spends between ``before-parameter-build``
   and ``before-send``), then waits for the sync. Printed: when the thread got to run (from the
   wake-up) and how long the wait at the end still took. With the GIL held by the caller the thread
   runs only when the caller blocks (up to the 5 ms switch interval): no overlap.
2. **Early write-back.** ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` right after the write (no GIL
   needed: it returns at once), the same work, then ``fdatasync``: printed against a plain
   ``fdatasync`` after the same work.
3. **The kernel's own sync.** An fdatasync submitted through Linux AIO at the write
   (``gatekeeper.audit._syncahead``: a kernel worker runs it on another core, no GIL needed), the
   same work, then its result collected: printed, the submit call and the wait left at the end.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

WORK_US = 600  # boto3's median between the guard's decision and the request leaving (i19-guard)
RECORD = b"x" * 970 + b"\n"
SYNC_FILE_RANGE_WRITE = 2
TRIALS = 300


def _python_work(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def sync_thread(fd: int) -> tuple[float, float]:
    """(median us until the sync thread ran, median us the caller still waited)."""
    wake, done = threading.Event(), threading.Event()
    started = [0.0]

    def syncer() -> None:
        while True:
            wake.wait()
            wake.clear()
            started[0] = time.perf_counter()
            os.fdatasync(fd)
            done.set()

    threading.Thread(target=syncer, daemon=True).start()
    delays, waits = [], []
    for _ in range(TRIALS):
        os.write(fd, RECORD)
        t0 = time.perf_counter()
        done.clear()
        wake.set()
        _python_work(WORK_US)
        t1 = time.perf_counter()
        done.wait()
        delays.append((started[0] - t0) * 1e6)
        waits.append((time.perf_counter() - t1) * 1e6)
    return statistics.median(delays), statistics.median(waits)


def early_writeback(fd: int, early: bool) -> float:
    """Median us of the fdatasync after the work, with or without write-back started at the write."""
    libc = ctypes.CDLL(None, use_errno=True)
    sfr = libc.sync_file_range
    sfr.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    syncs = []
    for _ in range(TRIALS):
        offset = os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, RECORD)
        if early and sfr(fd, offset, len(RECORD), SYNC_FILE_RANGE_WRITE) != 0:
            raise OSError(ctypes.get_errno(), "sync_file_range")
        _python_work(WORK_US)
        t = time.perf_counter()
        os.fdatasync(fd)
        syncs.append((time.perf_counter() - t) * 1e6)
    return statistics.median(syncs)


def kernel_sync(fd: int) -> tuple[float, float]:
    """(median us of the submit call, median us the caller still waited after the work)."""
    from gatekeeper.audit._syncahead import SyncAhead

    ahead = SyncAhead()
    submits, waits = [], []
    try:
        for _ in range(TRIALS):
            os.write(fd, RECORD)
            t = time.perf_counter()
            if not ahead.submit(fd):
                raise OSError("kernel AIO fdatasync unavailable here")
            submits.append((time.perf_counter() - t) * 1e6)
            _python_work(WORK_US)
            t = time.perf_counter()
            if ahead.collect() != 0:
                raise OSError("the kernel's fdatasync failed")
            waits.append((time.perf_counter() - t) * 1e6)
    finally:
        ahead.close()
    return statistics.median(submits), statistics.median(waits)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(dir=argv[0] if argv else None) as d:
        fd = os.open(Path(d) / "probe.jsonl", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            ran, left = sync_thread(fd)
            print(f"sync thread: ran {ran:.0f} us after its wake-up; the caller then still waited {left:.0f} us")
            for _ in range(3):
                plain, early = early_writeback(fd, False), early_writeback(fd, True)
                print(f"fdatasync after {WORK_US} us of work: {plain:.0f} us plain, {early:.0f} us with write-back "
                      "started at the write")
                submit, wait = kernel_sync(fd)
                print(f"  the kernel's fdatasync submitted at the write: submit {submit:.0f} us, still waited "
                      f"{wait:.0f} us after the work")
        finally:
            os.close(fd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
