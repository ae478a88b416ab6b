"""Two-step appends with the record's fdatasync run by the kernel (``_syncahead``, Linux AIO).

The kernel's sync is submitted at the write and its result taken by the wait, or by whatever looks
at the log next (another append, a rotation, close). Its failure is the file's write-back error,
reported once: the records it covered fail and the log breaks, whatever a later fdatasync says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.audit import _syncahead, _writeback
from gatekeeper.audit._syncahead import SyncAhead
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import count_syncs as _count_syncs
from tests.audit.conftest import fdatasyncs as _fdatasyncs
from tests.audit.conftest import open_log, read_records
from tests.audit.test_writer_deferred import SEG1

pytestmark = pytest.mark.skipif(_syncahead._get_abi() is None, reason="no Linux AIO here")


def test_the_kernel_sync_is_started_at_the_write_and_its_result_acknowledges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Linux AIO the record's fdatasync is submitted at the write and runs while the caller
    goes on; the wait takes its result (no fdatasync of the caller's own, no write-back call)."""
    log = open_log(tmp_path)
    log.append({"kind": "x.a"})
    started: list[int] = []
    monkeypatch.setattr(_writeback, "start", lambda fd, offset, n: started.append(fd) or True)
    syncs = _count_syncs(monkeypatch)
    b = log.append_deferred({"kind": "x.b"})
    assert log._ahead.in_flight and not b.done and syncs == [] and started == []
    b.wait()
    assert b.done and b.error is None and syncs == [-1] and not log._ahead.in_flight
    assert log.durable_head[0] == b.seq
    # A second record written while the first's sync is in flight: the write takes that result
    # first (settling the first record), then starts its own.
    c = log.append_deferred({"kind": "x.c"})
    d = log.append_deferred({"kind": "x.d"})
    assert c.done and c.error is None and not d.done and log._ahead.in_flight
    d.wait()
    assert d.done and _fdatasyncs(syncs) == [] and syncs == [-1, -1, -1]
    log.close()
    assert [r["kind"] for r in read_records(tmp_path / "audit")][-3:] == ["x.b", "x.c", "x.d"]
    assert verify_log(tmp_path / "audit").consistent


def test_a_kernel_sync_that_fails_is_reported_once_and_breaks_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel reports a write-back error once per open file: the failed result, taken by the
    next writer rather than the wait, fails the written record and cuts it back; the log does not
    trust a later fdatasync (which would succeed) and refuses records until reopened."""
    log = open_log(tmp_path)
    a = log.append({"kind": "x.a"})
    seg = tmp_path / "audit" / SEG1
    size = seg.stat().st_size
    b = log.append_deferred({"kind": "x.b"})
    real_collect = SyncAhead.collect
    monkeypatch.setattr(SyncAhead, "collect", lambda self: (5, real_collect(self)[1]))  # its EIO
    with pytest.raises(AuditError, match="Input/output error"):
        log.append({"kind": "x.c"})  # fdatasync is real here, and would succeed
    monkeypatch.undo()
    assert b.done and isinstance(b.error, AuditError) and seg.stat().st_size == size
    with pytest.raises(AuditError, match="refuses further records"):
        log.append_deferred({"kind": "x.d"})
    log.close()
    with open_log(tmp_path) as again:
        assert again.append({"kind": "x.next"})["prev_hash"] == a["hash"]
    assert verify_log(tmp_path / "audit").consistent
