"""The kernel's fdatasync through Linux AIO (``gatekeeper.audit._syncahead``), against the real kernel.

What is checked: a sync submitted runs and its result is taken; what the kernel refuses (a pipe, a
descriptor that is not open) is answered False and never raised; a platform without it makes the
writer sync as before; and an interrupt while waiting (a real signal whose handler raises, during a
sync of 64 MB) does not lose the result.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from gatekeeper.audit import _syncahead
from gatekeeper.audit._syncahead import SyncAhead

pytestmark = pytest.mark.skipif(_syncahead._get_abi() is None, reason="no Linux AIO here")


def _file(tmp_path: Path, data: bytes) -> int:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(fd, data)
    return fd


def test_a_submitted_sync_runs_and_its_result_is_taken(tmp_path: Path) -> None:
    fd = _file(tmp_path, b"x" * 4096)
    ahead = SyncAhead()
    try:
        assert ahead.submit(fd) and ahead.in_flight
        assert ahead.submit(fd) is False  # one at a time: it covers only what was written before it
        assert ahead.collect() == (0, None) and not ahead.in_flight
        for _ in range(3):  # the context is reused
            os.write(fd, b"y" * 100)
            assert ahead.submit(fd)
            assert ahead.collect() == (0, None)
        with pytest.raises(RuntimeError):
            ahead.collect()  # nothing in flight
    finally:
        ahead.close()
        os.close(fd)
    assert ahead.submit(fd) is False  # closed


def test_what_the_kernel_refuses_is_answered_not_raised(tmp_path: Path) -> None:
    ahead = SyncAhead()
    fd = _file(tmp_path, b"x")
    os.close(fd)
    assert ahead.submit(fd) is False and not ahead.in_flight  # EBADF: this call only
    fd = _file(tmp_path, b"x")
    try:
        assert ahead.submit(fd) and ahead.collect()[0] == 0
    finally:
        os.close(fd)
    rd, wr = os.pipe()
    try:
        assert ahead.submit(rd) is False  # EINVAL: no fsync on a pipe; the writer syncs as before
        fd = _file(tmp_path, b"x")
        assert ahead.submit(fd) is False  # ... from then on
        os.close(fd)
    finally:
        os.close(rd)
        os.close(wr)
        ahead.close()


def test_without_aio_nothing_is_submitted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_syncahead, "_abi", None)  # another OS, an architecture without the numbers
    fd = _file(tmp_path, b"x")
    try:
        ahead = SyncAhead()
        assert ahead.submit(fd) is False and not ahead.in_flight
        ahead.close()
    finally:
        os.close(fd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a POSIX interval timer")
def test_an_interrupt_while_waiting_keeps_the_result(tmp_path: Path) -> None:
    """SIGALRM every 0.2 ms while 64 MB are synced: the first delivery raises from its handler
    (as SIGINT's KeyboardInterrupt does); the wait goes on and the sync's result is returned with it."""
    fd = _file(tmp_path, os.urandom(1 << 20) * 64)
    ahead = SyncAhead()
    raised: list[int] = []

    class Interrupt(Exception):
        pass

    def handler(_sig: int, frame: object) -> None:
        # Raise only inside collect() (a delivery before it, on a loaded machine, is let pass).
        if not raised and getattr(getattr(frame, "f_code", None), "co_name", "") == "collect":
            raised.append(1)
            raise Interrupt

    old = signal.signal(signal.SIGALRM, handler)
    try:
        assert ahead.submit(fd)
        signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
        code, interrupted = ahead.collect()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
        ahead.close()
        os.close(fd)
    assert code == 0 and not ahead.in_flight
    # The sync outlasted the timer (tens of ms for 64 MB), so the handler ran inside collect().
    assert raised and isinstance(interrupted, Interrupt)
