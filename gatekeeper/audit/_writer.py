"""The local audit log writer: hash chain, group commit, file lock, rotation, checkpoints, repair.

One log is a directory of segments (``segment-00000001.jsonl`` ...) and, for every closed segment,
a signed checkpoint (``segment-00000001.checkpoint.json``). See ``_format`` for the line layout.

Durability and throughput. ``append`` returns only after the record's bytes are fsynced. Appenders
serialize their record in their own thread and queue it; the first one to find no batch in progress
becomes the leader: it takes everything queued, writes it with one ``write``, syncs it once for all
of them (group commit), then hands the leadership to the first appender that queued meanwhile
(whose batch is everything queued during the sync) and wakes its own batch: it wakes the first
follower, and each follower the next, so the leader makes one wake-up a batch and the woken threads
come back for the GIL one at a time. One sync at a time: overlapping the next batch's write and sync
with this one's was measured and lost (smaller batches, each paying a sync). Nobody polls. An
appender that finds nobody leading writes its record at once, a batch of one, without queueing it.
``append_many`` hands over several records as one appender: they go into the same batch, in order,
acknowledged (or failed) together, for one sync (a pending decision's case event and decision record).
A leader whose previous batch had several appenders gathers them for a fraction of a sync; the
appender that completes the batch writes it, and the gatherer is woken once, as a follower.

Several processes. The chain is one chain per log, shared by every process that writes it: a leader
takes an exclusive ``flock`` on ``<log>/.lock``, re-reads the tail of the current segment if another
process has written since (or moves on if another process has closed it), assigns ``seq`` and
``prev_hash``, writes, and releases the lock before fsyncing (an fsync flushes the file, whoever
wrote the bytes). ``flock`` needs a local filesystem (not NFS); for many hosts use one log per host.

Crash safety. A writer killed mid-``write`` leaves a torn last line. Whoever next takes the lock
(a new process opening the log, or another writer) truncates the tail back to the last complete,
self-consistent line and appends an ``audit.repaired`` record that carries the removed bytes.

Tampering found on open. Before extending an open segment it did not write, a writer checks it
whole (``_tailcheck``) and against the witness's latest digest; a damaged segment is sealed with a
checkpoint saying so and the log continues in a new segment, with an ``audit.fault`` record.

# INVARIANT: a record is acknowledged (``append`` returns) only after an fsync (fdatasync) covering it has
# succeeded; a write or fsync error fails every record of its batch with AuditError, and after an
# fsync error the log refuses further appends (the kernel may have dropped the dirty pages): nothing
# queued behind a failed sync is written or acknowledged, and the failed batch is cut back off the
# segment unless another process has written after it. An interrupt around the sync is not a
# failure: the sync is made again, the batch acknowledged, the interrupt raised after.
# INVARIANT: only the last segment of a log can lack a checkpoint.
# INVARIANT (two-step appends, ``append_deferred``): a record written ahead is acknowledged only by
# its ticket's ``wait()``, which returns once an fsync covering it has succeeded (the next batch's,
# a rotation's, its own); records written ahead and not yet synced are all in the open segment
# (a rotation syncs them first). A sync that fails fails them with the batch it covered, and they
# are cut back with it (from the first of them) unless another process has written after them.

Two-step appends. ``append_deferred`` writes the record as an uncontended append does (leader,
``_io``, the file lock, the chain), starts its sync in the kernel (an fdatasync run by a kernel
worker through Linux AIO, see ``_syncahead``; where that is unavailable, the kernel's write-back of
those bytes, ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, see ``_writeback``) and hands the leadership
on; the record is pending. Whatever syncs next covers it (syncs run under ``_io``, and a sync
flushes everything written before it): the kernel's sync started at the write, once its result is
collected; another appender's batch, a rotation, ``close()``, or the ticket's own ``wait()``, which
takes ``_io``, collects the kernel's sync and fsyncs if nothing has covered the record yet. The
result of a kernel sync is always collected before any other sync of the log (``_collect_ahead``):
its error is the file's, reported once, so a later fdatasync would not see it. When others are
appending (a batch is in flight), the record joins them and is durable when ``append_deferred``
returns, as with ``append``. A pending record that is never waited for stays written and is made
durable by the next sync of the log, at the latest by ``close()``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import socket
import threading
import time
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from gatekeeper._log import get_logger
from gatekeeper.audit import _writeback
from gatekeeper.audit._format import (
    CANONICAL_TS,
    CHECKPOINT_SCHEMA,
    GENESIS,
    KIND_FAULT,
    KIND_REPAIRED,
    KIND_SEGMENT,
    TIME_RANGES,
    Ranges,
    UnknownTime,
    canonical,
    checkpoint_hash,
    checkpoint_name,
    encode_lines,
    fsync_dir,
    list_segments,
    note_time,
    ranges_value,
    segment_name,
    split_line,
    write_atomic,
)
from gatekeeper.audit._keys import Signer
from gatekeeper.audit._prepare import now_iso, prepare
from gatekeeper.audit._syncahead import SyncAhead
from gatekeeper.audit._tail import first_line, scan_tail
from gatekeeper.errors import AuditError, AuditIntegrityError

log = get_logger("gatekeeper.audit")

LOCK_NAME = ".lock"
# The longest a leader waits to gather the appenders of the previous batch (0 disables gathering).
GATHER_MAX_S = 0.001
# How much of the removed bytes the repair record carries verbatim (base64).
REPAIR_EVIDENCE = 64 * 1024

SegmentClosed = Callable[[Path, Path], None]
# How to take a written batch off a segment: (its start offset, the chain head and the segment's
# first_seq before it).
_Undo = tuple[int, tuple[int, bytes], int | None]


def _note_times(seg: _Segment, entries: list[_Entry]) -> None:
    """Widen ``seg``'s time ranges by the records of ``entries`` (just written); unknown for good once
    a record's time or kind cannot be told (``_format.note_time``). The usual record: one regular
    expression match, a dict look-up and a string comparison or two."""
    ranges = seg.ts_ranges
    assert ranges is not None
    fullmatch = CANONICAL_TS.fullmatch
    try:
        for e in entries:
            rec = e.record
            t, k = rec.get("ts"), rec.get("kind")
            if type(t) is str and type(k) is str and fullmatch(t):  # note_time's usual case, inlined
                r = ranges.get(k)
                if r is None:
                    ranges[k] = [t, t]
                elif t < r[0]:
                    r[0] = t
                elif t > r[1]:
                    r[1] = t
            else:
                note_time(ranges, k, t)
    except UnknownTime:
        seg.ts_ranges = None


class _Entry:
    """One append. A follower's ``wake`` is held until the entry is done or its thread is made leader.

    A done batch is woken as a chain: the leader releases the first follower's ``wake`` and each
    follower, once it runs, releases the next one's (``after``), so the leader makes one release a
    batch, and at most one woken follower at a time waits for the GIL. A leader's own entry has no
    ``wake`` (nobody waits for it): an uncontended append allocates no lock.

    ``rest``: the further records of one ``append_many`` call, written right after this one in the
    same batch; they have no thread of their own (this entry's appender waits for all of them).
    """

    __slots__ = ("after", "done", "error", "hash", "members", "prev", "promoted", "record", "rest", "seq", "wake")

    wake: Any  # a raw lock, held (set by the follower that queues the entry)

    def __init__(self, record: dict[str, Any], members: bytes) -> None:
        self.record, self.members = record, members
        self.seq, self.prev, self.hash = 0, b"", b""
        self.done = self.promoted = False
        self.error: BaseException | None = None
        self.after: _Entry | None = None  # the next follower of the batch to wake
        self.rest: list[_Entry] | None = None

    def result(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev_hash": self.prev.decode("ascii"), **self.record,
                "hash": self.hash.decode("ascii")}


class Pending:
    """The ticket of a record written ahead (``FileAuditLog.append_deferred``): ``wait()`` returns
    once it is durable, raises AuditError if the sync covering it failed. ``record`` is the record
    as written (``seq``, ``prev_hash``, ``hash`` ...)."""

    __slots__ = ("_entry", "_log", "done", "error", "undo")

    def __init__(self, log_: FileAuditLog, entry: _Entry, undo: _Undo) -> None:
        self._log, self._entry, self.undo = log_, entry, undo
        self.done = False
        self.error: BaseException | None = None

    def wait(self) -> None:
        if not self.done:  # read without a lock: set (after ``error``) under the log's _io
            self._log._wait(self)
        if self.error is not None:
            raise self.error

    @property
    def record(self) -> dict[str, Any]:
        return self._entry.result()

    @property
    def seq(self) -> int:
        return self._entry.seq


@dataclass(slots=True, eq=False)
class _Segment:
    index: int
    path: Path
    fd: int
    size: int
    opened_at: float
    prev_checkpoint: str | None
    first_seq: int | None = None  # None: no header line yet
    first_prev: str = GENESIS
    wrote: bool = False  # this process appended to it
    checkpoint: str = ""  # path of its checkpoint file, checked before every batch
    name: str = ""  # the segment file's name
    # The time range of its records of each kind (_format.note_time), known only while this process
    # wrote every record of it (a segment it created, no other writer, no failed batch cut off):
    # otherwise None, and its checkpoint states no time ranges.
    ts_ranges: Ranges | None = None

    def __post_init__(self) -> None:
        self.checkpoint = str(self.path.with_name(checkpoint_name(self.index)))
        self.name = self.path.name


class FileAuditLog:
    """A hash-chained, checkpointed audit log in a local directory. Thread- and process-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        signer: Signer | None,
        segment_max_bytes: int = 64 * 1024 * 1024,
        segment_max_seconds: int = 3600,
        on_segment_closed: SegmentClosed | None = None,
        clock: Callable[[], float] = time.time,
        sidecars: bool = True,
        witness_head: tuple[int, str] | None = None,
    ) -> None:
        if segment_max_bytes <= 0 or segment_max_seconds <= 0:
            raise AuditError("segment_max_bytes and segment_max_seconds must be positive")
        self.directory = directory
        self._signer = signer
        self._max_bytes = segment_max_bytes
        self._max_seconds = segment_max_seconds
        self._on_closed = on_segment_closed
        self._sidecars = sidecars  # columnar copies of closed segments for review (see _sidecar)
        self._sidecar_threads: list[threading.Thread] = []
        self._clock = clock
        self._host = socket.gethostname()
        # Appenders and the group-commit state (under self._mu).
        self._mu = threading.Lock()
        self._idle = threading.Condition(self._mu)
        self._gather: Any = None  # a gathering leader waits on this lock, released when enough have queued
        self._last_batch = 1
        self._fsync_s = 0.0002  # moving average of one fsync, for the gathering delay
        self._want = 1  # how many queued appenders a gathering leader waits for
        self._queue: list[_Entry] = []
        self._leading = False  # a thread is gathering, writing and syncing a batch
        self._closed = False
        self._broken: str | None = None
        # Disk state as this process knows it; valid only under self._io + the file lock.
        self._io = threading.Lock()
        self._seg: _Segment | None = None
        self._last_seq = 0
        self._last_hash = GENESIS.encode("ascii")
        self._last_checkpoint: str | None = None
        self._next_index = 1
        self._extra: list[_Entry] = []  # records the log writes about itself (repairs)
        # Records written ahead (append_deferred), oldest first, not yet known to be durable; all in
        # the open segment. ``_foreign``: another process has written after the first of them (they
        # cannot be cut back any more).
        self._pending: list[Pending] = []
        self._foreign = False
        # The fdatasync started in the kernel by the last two-step append, and the seq of the last
        # record it covers (written before it was submitted).
        self._ahead = SyncAhead()
        self._ahead_seq = 0
        self._witness_head = witness_head  # (seq, hash) of the latest digest the witness holds
        # (seq, hash, segment) of the newest record known to be fsynced: what a digest may vouch for.
        self._durable: tuple[int, bytes, str] = (0, GENESIS.encode("ascii"), "")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log at {directory}: {exc.strerror or exc}") from exc
        try:
            # Recover now (repair a torn tail and record the repair) rather than on the first append.
            with self._io, self._file_lock():
                self._sync_locked()
                if self._extra:
                    os.fsync(self._write_locked([])[0].fd)
        except OSError as exc:
            os.close(self._lock_fd)
            raise AuditError(f"cannot open the audit log at {directory}: {exc.strerror or exc}") from exc
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- public ------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append ``record``; returns it with ``seq``, ``prev_hash``, ``hash``, ``ts``, ``schema`` once durable."""
        out, members = prepare(record)
        entry = _Entry(out, members)
        self._submit(entry)
        return entry.result()

    def append_many(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append ``records`` in this order, one after the other in the chain, in one batch: one write
        and one sync for all of them (and for the other appenders' records batched with them).

        Returns them as ``append`` does, once all are durable. All or none: a record that cannot be
        serialized raises AuditError before anything is written, and a failed write or sync fails
        them all (none is left in the log, as for ``append``). An empty list writes nothing.
        """
        prepared = [prepare(r) for r in records]
        if not prepared:
            return []
        entry = _Entry(*prepared[0])
        if len(prepared) > 1:
            entry.rest = [_Entry(out, members) for out, members in prepared[1:]]
        self._submit(entry)
        return [entry.result(), *(e.result() for e in entry.rest or ())]

    def append_deferred(self, record: dict[str, Any]) -> Pending:
        """Write ``record`` now and return its ticket: ``wait()`` returns once it is durable.

        The record is chained and written (``write(2)``) before this returns, and the kernel starts
        writing it back; its fsync is left to whoever syncs next, or to ``wait()``. Raises AuditError
        when it cannot be written (nothing is then written). When a batch is in flight the record
        joins the next one and the ticket returned is durable already.
        """
        out, members = prepare(record)
        entry = _Entry(out, members)
        with self._mu:
            if self._closed:
                raise AuditError(f"the audit log at {self.directory} is closed")
            if self._broken:
                raise AuditError(self._broken)
            lead = not self._leading
            if lead:
                self._leading = True  # close() waits for this write, as for a batch
        if not lead:
            # Others are appending: one more record in their group commit (no sync of its own).
            self._submit(entry)
            ticket = Pending(self, entry, (0, (0, b""), None))
            ticket.done = True
            return ticket
        try:
            with self._io:
                try:
                    seg, undo = self._write([entry])
                except OSError as exc:
                    raise AuditError(f"cannot write the audit log at {self.directory}: {exc.strerror or exc}") from exc
                ticket = Pending(self, entry, undo)
                self._pending.append(ticket)
                if self._ahead.submit(seg.fd):
                    self._ahead_seq = entry.seq
                else:
                    # Only a head start (Linux; nothing elsewhere): the fdatasync that acknowledges
                    # the record reports what matters.
                    _writeback.start(seg.fd, undo[0], seg.size - undo[0])
        finally:
            self._last_batch = 1
            self._hand_over()
        return ticket

    def _wait(self, ticket: Pending) -> None:
        """Make ``ticket`` durable (or failed): sync the open segment unless a sync has covered it."""
        interrupted: BaseException | None = None
        with self._io:
            if ticket.done:
                return
            seg = self._seg
            if self._broken or seg is None:
                # Not synced and the log can no longer sync it (e.g. its segment was deleted).
                self._fail_pending_locked(None, AuditError(self._broken or "the audit log lost its segment"))
                return
            if self._ahead.in_flight and ticket.seq <= self._ahead_seq:
                # The kernel's sync, started after this record was written, covers it.
                error, interrupted = self._collect_ahead()
                if error is None:
                    self._settle_upto_locked(self._ahead_seq, seg)
                else:
                    self._fail_pending_locked(seg, error)
                assert ticket.done
            else:
                error, interrupted = self._sync(seg.fd)
                if error is None:
                    last = self._pending[-1]._entry
                    self._durable = (last.seq, last.hash, seg.name)
                    self._settle_locked(None)
                else:
                    self._fail_pending_locked(seg, error)
        if interrupted is not None:
            raise interrupted

    def _collect_ahead(self) -> tuple[AuditError | None, BaseException | None]:
        """Under self._io: the result of the kernel's sync in flight, if any (as ``_sync`` answers).

        Its error is the file's write-back error, which the kernel reports once per open file:
        a sync after it would succeed, so the records it covered fail here and the log breaks, as
        for a failed fdatasync. An interrupt while waiting is not a failure: the result is taken
        all the same, and the interrupt returned for the caller to raise after.
        """
        if not self._ahead.in_flight:
            return None, None
        code, interrupted = self._ahead.collect()
        if code == 0:
            return None, interrupted
        self._broken = (f"fsync of the audit log at {self.directory} failed: {os.strerror(code)}; "
                        "the log refuses further records until reopened")
        return AuditError(self._broken), interrupted

    def _collect_ahead_locked(self, seg: _Segment) -> None:
        """Under self._io and the file lock, before the log's state is looked at or another sync
        made: collect the kernel's sync in flight; settle what it covered, or fail it and raise."""
        if not self._ahead.in_flight:
            return
        error, interrupted = self._collect_ahead()
        if error is None:
            self._settle_upto_locked(self._ahead_seq, seg)
        else:
            self._fail_pending_locked(seg, error, file_locked=True)
        if interrupted is not None:
            raise interrupted
        if error is not None:
            raise error

    def _settle_upto_locked(self, seq: int, seg: _Segment) -> None:
        """Under self._io: the records written ahead up to ``seq`` are durable (a kernel sync covered them)."""
        done = [t for t in self._pending if t.seq <= seq]
        if not done:
            return
        last = done[-1]._entry
        self._durable = (last.seq, last.hash, seg.name)
        if len(done) == len(self._pending):
            self._settle_locked(None)
            return
        self._pending = self._pending[len(done):]
        for t in done:
            t.error = None
            t.done = True

    def _settle_locked(self, error: BaseException | None) -> None:
        """Under self._io: every record written ahead is durable (``error`` None) or failed with ``error``."""
        pending, self._pending, self._foreign = self._pending, [], False
        for t in pending:
            t.error = error
            t.done = True

    def _fail_pending_locked(self, seg: _Segment | None, error: BaseException, undo: _Undo | None = None, *,
                             file_locked: bool = False) -> None:
        """Under self._io (and the file lock if ``file_locked``), after a failed sync: cut the records
        written ahead (and the batch of ``undo``, written after them) back off ``seg``, unless another
        process wrote after them, and fail them. The failed-batch rule of ``_undo_locked`` applied
        from the first of them."""
        if self._pending and seg is not None:
            if not self._foreign:
                undo = self._pending[0].undo  # the batch, if any, was written after them
            else:
                log.error("audit.failed_batch_kept", segment=seg.name, offset=self._pending[0].undo[0],
                          reason="another process wrote after the records written ahead")
        if undo is not None and seg is not None:
            self._undo_locked(seg, undo, file_locked=file_locked)
        self._settle_locked(error)

    def _submit(self, entry: _Entry) -> None:
        """Make ``entry`` (and its ``rest``) durable, leading a batch or waiting for one; raises its error."""
        with self._mu:
            if self._closed:
                raise AuditError(f"the audit log at {self.directory} is closed")
            if self._broken:
                raise AuditError(self._broken)
            if not self._leading:
                # Nobody is writing: this thread leads, its own entry first in the batch (never queued).
                self._leading = True
                lead, last = True, False
            elif self._gather is not None and len(self._queue) + 1 >= self._want:
                # This record completes the batch a leader is gathering: this thread (running already)
                # writes it, rather than wake the gatherer for it; the gatherer, queued first, sleeps
                # on until the batch is done, as a follower.
                self._gather = None
                lead, last = True, True
            else:
                lead = False
                wake = entry.wake = _allocate_lock()
                wake.acquire()
                self._queue.append(entry)
        if lead:
            self._lead(entry, queued=False, last=last)
        else:
            # Follower: sleep until the leader has made this record durable, or hands over
            # leadership because this record is first in the queue it left behind.
            interrupted = self._await(entry)
            if not entry.done:
                self._lead(entry, queued=True)
            if interrupted is not None:
                raise interrupted
        if entry.error is not None:
            raise entry.error

    @staticmethod
    def _await(entry: _Entry) -> BaseException | None:
        """Sleep until ``entry`` is done (then wake the next of its batch) or made leader; an interrupt
        caught meanwhile, for the caller to raise once the hand-over is finished."""
        interrupted: BaseException | None = None
        try:
            while True:
                try:
                    entry.wake.acquire()
                    break
                except BaseException as exc:  # KeyboardInterrupt in the main thread: finish the
                    interrupted = exc         # hand-over first, or every other appender would hang
                    if entry.done or entry.promoted:  # set before the release we may have missed
                        break
        finally:
            if entry.done and entry.after is not None:
                entry.after.wake.release()  # pass the wake-up on along the batch
        return interrupted

    def close(self) -> None:
        """Wait for appends in flight, then close the current segment with a signed checkpoint."""
        with self._mu:
            if self._closed:
                return
            self._closed = True
            while self._leading:
                self._idle.wait()
        try:
            with self._io, self._file_lock():
                if self._broken is None:
                    self._sync_locked()
                    seg = self._seg
                    if seg is not None and seg.wrote and seg.first_seq is not None:
                        self._close_segment_locked(seg)
        except OSError as exc:
            raise AuditError(f"cannot close the audit log at {self.directory}: {exc.strerror or exc}") from exc
        finally:
            with self._io:
                if self._pending:  # not closed by a sync (a broken log, a failed close)
                    self._fail_pending_locked(
                        self._seg, AuditError(self._broken or f"the audit log at {self.directory} was closed "
                                              "before the record was durable"))
                self._ahead.close()  # a sync still in flight (a broken log) is waited for by the kernel
                if self._seg is not None:
                    os.close(self._seg.fd)
                    self._seg = None
            os.close(self._lock_fd)
            # A closed log is settled: its sidecars are written (they are never waited for while appending).
            for t in self._sidecar_threads:
                t.join()

    @property
    def durable_head(self) -> tuple[int, str, str]:
        """``(seq, hash, segment)`` of the newest record this process knows to be on disk (fsynced)."""
        seq, digest, segment = self._durable
        return seq, digest.decode("ascii"), segment

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record this process knows of."""
        with self._io:
            return self._last_seq, self._last_hash.decode("ascii")

    def __enter__(self) -> FileAuditLog:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- group commit ------------------------------------------------------------------------
    def _lead(self, own: _Entry, *, queued: bool, last: bool = False) -> None:
        """Gather, write and sync a batch (group commit), wake it, hand the leadership on.

        ``own`` is this thread's entry: first in the queue (``queued``: a thread promoted by the
        previous leader) or not queued (a thread that found nobody leading, first in the batch, or
        one that completed a gathering batch, ``last`` in it). One sync at a time: the appenders that
        queue while it runs make the next batch, written by the first of them once this one is
        durable, so that nothing is written behind a failed sync. (Overlapping the next batch's write
        and sync with this sync was measured, docs/benchmarks.md: on ext4 the overlapping syncs of one
        file each got slower, and the appenders split into smaller batches that each paid one.)
        """
        interrupted: BaseException | None = None
        # Gather: when the previous batch had several appenders, they are coming back with their
        # next records right now; wait a fraction of a sync for them rather than write a batch
        # of one and make them wait a whole sync (the commit_delay of databases). The appender that
        # completes the batch writes it (see append); the gatherer then waits as a follower.
        want = self._last_batch
        if not last and want > 1 and len(self._queue) + (not queued) < want and GATHER_MAX_S > 0:
            gather = None
            with self._mu:
                if len(self._queue) + (not queued) < want:
                    gather = own.wake = _allocate_lock()
                    gather.acquire()
                    if not queued:
                        self._queue.insert(0, own)
                        queued = True
                    own.promoted = False
                    self._gather, self._want = gather, want
            if gather is not None:
                done = False
                try:
                    # True only when released as a follower: the batch was taken, written and is done.
                    done = gather.acquire(timeout=min(self._fsync_s / 2, GATHER_MAX_S))
                except BaseException as exc:  # KeyboardInterrupt: write the batch first, raise after
                    interrupted = exc
                with self._mu:
                    # Taken by the appender that completed the batch (which may since have written
                    # it, and a new leader be gathering: only this gatherer's own gather is cleared).
                    taken = self._gather is not gather
                    if not taken:
                        self._gather = None
                if taken:
                    if done:
                        if own.after is not None:
                            own.after.wake.release()  # pass the wake-up on along the batch
                    else:
                        interrupted = self._await(own) or interrupted  # once the batch is done
                    if interrupted is not None:
                        raise interrupted
                    return
        if self._queue:
            with self._mu:
                queue, self._queue = self._queue, []
            if queued:
                batch = queue
            elif last:
                batch = queue
                batch.append(own)
            else:
                batch = [own, *queue]
        else:
            # Nobody queued (read without the lock: one queueing now waits for the hand-over, which
            # looks under it): the uncontended append, a batch of one.
            batch = [own]
        self._last_batch = len(batch)  # appenders (threads), for the next gathering
        lines = batch
        for e in batch:
            if e.rest is not None:  # an append_many: its records follow its first, in order
                lines = [x for g in batch for x in (g, *(g.rest or ()))]
                break
        # Failed unless the commit returns (an exception, e.g. KeyboardInterrupt, acknowledges nothing).
        error: AuditError | None = AuditError("audit append interrupted before its batch was durable")
        try:
            error, late = self._commit(lines)
            interrupted = interrupted or late
        finally:
            # The promoted leader first: it gathers while the rest of this batch wakes up.
            self._hand_over()
            own.error = error
            if len(batch) > 1:
                # Backwards, so that an entry is done only once it knows whom to wake after it; this
                # thread's own entry is not woken, the first other one is and wakes the next, and so on.
                after: _Entry | None = None
                for e in reversed(batch):
                    if e is not own:
                        e.after, e.error, e.done = after, error, True
                        after = e
                assert after is not None
                after.wake.release()
        if interrupted is not None:
            raise interrupted

    def _hand_over(self) -> None:
        """Make the first appender queued meanwhile the leader, or stand the leadership down."""
        with self._mu:
            if self._queue:
                nxt = self._queue[0]
                nxt.promoted = True
                nxt.wake.release()  # its thread becomes the next leader
            else:
                self._leading = False
                if self._closed:
                    self._idle.notify_all()  # close() waits for the batch in flight

    def _commit(self, batch: list[_Entry]) -> tuple[AuditError | None, BaseException | None]:
        """Write ``batch`` and sync it: (None once it is durable, else the error that fails it; an
        interrupt (KeyboardInterrupt...) caught on the way, which the leader raises once the batch is
        acknowledged)."""
        with self._io:
            try:
                seg, undo = self._write(batch)
            except AuditError as exc:
                return exc, None
            except OSError as exc:
                return AuditError(f"cannot write the audit log at {self.directory}: {exc.strerror or exc}"), None
            except BaseException as exc:
                # KeyboardInterrupt and the like: fail the batch rather than leave followers asleep.
                return AuditError(f"audit append interrupted: {exc!r}"), exc
            # Still under self._io: the fd is not closed (by a rotation) while it is synced.
            error, interrupted = self._sync(seg.fd)
            if error is None:
                if batch:
                    self._durable = (batch[-1].seq, batch[-1].hash, seg.name)
                if self._pending:  # written ahead before this batch: the sync covered them
                    self._settle_locked(None)
            else:
                self._fail_pending_locked(seg, error, undo)
        return error, interrupted

    def _write(self, batch: list[_Entry]) -> tuple[_Segment, _Undo]:
        """Write ``batch`` under the file lock (the caller holds self._io): the segment written and
        how to take the lines off again. Raises AuditError or OSError when nothing is written."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            if self._broken:
                raise AuditError(self._broken)
            self._sync_locked()
            return self._write_locked(batch)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _sync(self, fd: int) -> tuple[AuditError | None, BaseException | None]:
        """Make everything written to ``fd`` durable: (the error, if any; an interrupt caught meanwhile).

        Outside the file lock: a sync flushes the file whoever wrote it, so other processes may write
        meanwhile. A rotation by another process fsyncs before it checkpoints. fdatasync: the data
        and the file's size, without the timestamps fsync also journals (a new segment's directory
        entry is made durable apart, when it is created).
        """
        error, interrupted = self._collect_ahead()
        if error is not None:
            return error, interrupted
        for _ in range(2):
            try:
                started = time.monotonic()
                os.fdatasync(fd)
                self._fsync_s = 0.8 * self._fsync_s + 0.2 * (time.monotonic() - started)
                return None, interrupted
            except OSError as exc:
                self._broken = (f"fsync of the audit log at {self.directory} failed: {exc.strerror or exc}; "
                                "the log refuses further records until reopened")
                return AuditError(self._broken), interrupted
            except BaseException as exc:
                # An interrupt (KeyboardInterrupt, a signal handler's SystemExit) is not a failure of
                # the disk and may have come before or after the sync itself: sync again, and if that
                # succeeds the batch is durable and acknowledged; the leader raises the interrupt after.
                interrupted = interrupted or exc
        self._broken = (f"the sync of the audit log at {self.directory} was interrupted twice ({interrupted!r}); "
                        "the log refuses further records until reopened")
        return AuditError(self._broken), interrupted

    def _undo_locked(self, seg: _Segment, undo: _Undo, *, file_locked: bool = False) -> None:
        """Cut a batch whose sync failed back off the segment (under self._io), so that records whose
        appenders are told they failed do not appear in the log: unless another process has written
        after them or closed the segment since (then they stay, chained into its records, and the
        log, broken, refuses further records until reopened). ``file_locked``: the caller holds the
        file lock (a nested flock on the same descriptor would release it on the way out)."""
        start, head, first = undo
        try:
            with nullcontext() if file_locked else self._file_lock():
                if os.access(seg.checkpoint, os.F_OK) or os.fstat(seg.fd).st_size != seg.size:
                    log.error("audit.failed_batch_kept", segment=seg.name, offset=start,
                              reason="another process wrote after it or closed the segment")
                    return
                os.ftruncate(seg.fd, start)
                (self._last_seq, self._last_hash), seg.size, seg.first_seq = head, start, first
                seg.ts_ranges = None  # they counted the records cut off (wider ranges would do; none is simpler)
                os.fdatasync(seg.fd)
        except BaseException as exc:  # the log is broken already; the next open repairs what is left
            log.error("audit.failed_batch_kept", segment=seg.name, offset=start, reason=repr(exc))

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # -- under self._io and the file lock ----------------------------------------------------
    def _write_locked(self, batch: list[_Entry]) -> tuple[_Segment, _Undo]:
        """Write the batch (after a segment header and pending repair records): the segment written
        and how to take the lines off again. On any exception nothing is left written."""
        seg = self._seg
        if seg is not None and seg.first_seq is not None and (
                seg.size >= self._max_bytes or self._clock() - seg.opened_at >= self._max_seconds):
            self._close_segment_locked(seg)
            seg = None
        if seg is None:
            seg = self._open_segment_locked()
        entries = batch
        if self._extra or seg.first_seq is None:
            entries = [self._header_entry(seg)] if seg.first_seq is None else []
            entries += self._extra
            entries += batch
        seq, prev = head = self._last_seq, self._last_hash
        data, hashes = encode_lines(seq, prev, [e.members for e in entries])
        for e, digest in zip(entries, hashes, strict=True):
            seq += 1
            e.seq, e.prev, e.hash = seq, prev, digest
            prev = digest
        start, fd, first = seg.size, seg.fd, seg.first_seq
        try:
            n = os.write(fd, data)
            if n < len(data):  # a short write (a signal, a full disk): write the rest
                view = memoryview(data)[n:]
                while view:
                    view = view[os.write(fd, view):]
            if seg.first_seq is None:
                seg.first_seq, seg.first_prev = entries[0].seq, entries[0].prev.decode("ascii")
            seg.size = start + len(data)
            self._last_seq, self._last_hash = seq, prev
        except BaseException as exc:
            # Nothing of a failed (or interrupted) write stays: its appenders are told it failed.
            self._last_seq, self._last_hash = head
            seg.size, seg.first_seq = start, first
            try:
                os.ftruncate(fd, start)
            except OSError as exc2:
                self._broken = f"cannot undo a failed audit write in {seg.path}: {exc2.strerror or exc2}"
            if isinstance(exc, OSError):
                raise AuditError(f"cannot write the audit log {seg.path}: {exc.strerror or exc}") from exc
            raise
        seg.wrote = True
        self._extra = []
        if seg.ts_ranges is not None:
            _note_times(seg, entries)
        return seg, (start, head, first)

    def _header_entry(self, seg: _Segment) -> _Entry:
        out, members = prepare({"kind": KIND_SEGMENT, "actor": "gatekeeper", "data": {
            "segment": seg.path.name, "prev_checkpoint": seg.prev_checkpoint, "pid": os.getpid(),
            "host": self._host}})
        return _Entry(out, members)

    def _sync_locked(self) -> None:
        """Bring this process's view of the log up to date with the disk (other writers, crashes)."""
        seg = self._seg
        if seg is not None:
            self._collect_ahead_locked(seg)
            # os.access: a stat that answers False instead of raising (and swallowing) FileNotFoundError.
            if os.access(seg.checkpoint, os.F_OK):
                # Another process closed it: continue after its checkpoint.
                if self._pending:
                    # It synced the segment before its checkpoint (a damaged one is sealed without);
                    # records written ahead here are made durable before the descriptor goes.
                    error, interrupted = self._sync(seg.fd)
                    if error is None:
                        self._settle_locked(None)
                    else:
                        self._fail_pending_locked(seg, error, file_locked=True)
                    if interrupted is not None:
                        os.close(seg.fd)
                        self._seg = None
                        raise interrupted
                os.close(seg.fd)
                self._seg = None
            else:
                st = os.fstat(seg.fd)
                if st.st_nlink == 0:
                    self._broken = f"audit segment {seg.path} was deleted while open"
                    self._settle_locked(AuditIntegrityError(self._broken))
                    raise AuditIntegrityError(self._broken)
                if st.st_size != seg.size:
                    self._foreign = bool(self._pending)  # another process wrote after them
                    self._adopt_tail_locked(seg, st.st_size)
                return
        self._scan_locked()

    def _scan_locked(self) -> None:
        segments, checkpoints = list_segments(self.directory)
        self._seg = None
        if not segments:
            if checkpoints:
                raise AuditIntegrityError(f"{self.directory}: checkpoints without segments; segments were "
                                          "deleted (run gatekeeper audit verify)")
            self._last_seq, self._last_hash = 0, GENESIS.encode("ascii")
            self._last_checkpoint, self._next_index = None, 1
            return
        last = max(segments)
        self._next_index = last + 1
        if last in checkpoints:
            cp = self._read_checkpoint(checkpoints[last])
            self._last_seq, self._last_hash = int(cp["last_seq"]), str(cp["head_hash"]).encode("ascii")
            self._last_checkpoint = checkpoint_hash(cp)
            from gatekeeper.audit._tailcheck import _behind

            behind = _behind(self._witness_head, self._last_seq)
            if behind:  # the open segment (and maybe more) was deleted
                self._fault(segments[last].name, behind, "continued after the last checkpoint")
            return
        # The last segment is open (a crash, or another process is writing it): continue it.
        prev_cp = self._read_checkpoint(checkpoints[last - 1]) if last - 1 in checkpoints else None
        self._last_checkpoint = checkpoint_hash(prev_cp) if prev_cp else None
        if prev_cp:
            self._last_seq, self._last_hash = int(prev_cp["last_seq"]), str(prev_cp["head_hash"]).encode("ascii")
        else:
            self._last_seq, self._last_hash = 0, GENESIS.encode("ascii")
        path = segments[last]
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        seg = _Segment(last, path, fd, 0, self._clock(), self._last_checkpoint)
        self._seg = seg
        first = first_line(fd)
        if first is not None and (parts := split_line(first)) is not None:
            seg.first_seq, seg.first_prev = parts[0], parts[1].decode("ascii")
            try:
                header = json.loads(first)
                seg.opened_at = datetime.fromisoformat(header["ts"]).timestamp()
                if header.get("kind") == KIND_SEGMENT:
                    seg.prev_checkpoint = header["data"].get("prev_checkpoint")
            except (ValueError, KeyError, TypeError, AttributeError):
                seg.opened_at = os.fstat(fd).st_mtime
        self._adopt_tail_locked(seg, os.fstat(fd).st_size)
        self._check_open_locked(seg, prev_cp)

    def _read_checkpoint(self, path: Path) -> dict[str, Any]:
        try:
            cp = json.loads(path.read_bytes())
            int(cp["last_seq"])
            if len(str(cp["head_hash"])) != 64:
                raise ValueError("head_hash")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._broken = f"audit checkpoint {path} is unreadable ({exc}); run gatekeeper audit verify"
            raise AuditIntegrityError(self._broken) from exc
        return dict(cp)

    def _adopt_tail_locked(self, seg: _Segment, size: int) -> None:
        """Read the chain head from the segment's tail; cut and record a torn tail."""
        seg.ts_ranges = None  # records this process did not write: their times are not known here
        end, line = scan_tail(seg.fd, size)
        if end < size:
            removed = os.pread(seg.fd, size - end, end)
            os.ftruncate(seg.fd, end)
            os.fsync(seg.fd)
            log.warning("audit.repaired", segment=seg.path.name, offset=end, removed_bytes=len(removed))
            out, members = prepare({"kind": KIND_REPAIRED, "actor": "gatekeeper", "data": {
                "segment": seg.path.name, "offset": end, "removed_bytes": len(removed),
                "removed_sha256": hashlib.sha256(removed).hexdigest(),
                "removed_b64": base64.b64encode(removed[:REPAIR_EVIDENCE]).decode("ascii"),
                "removed_truncated": len(removed) > REPAIR_EVIDENCE,
                "pid": os.getpid(), "host": self._host}})
            self._extra.append(_Entry(out, members))
        seg.size = end
        if line is None:
            seg.first_seq = None  # nothing left: the header is written with the next batch
            return
        parts = split_line(line)
        assert parts is not None  # scan_tail returns self-consistent lines only
        self._last_seq, self._last_hash = parts[0], parts[2]

    def _check_open_locked(self, seg: _Segment, prev_cp: dict[str, Any] | None) -> None:
        """Refuse to extend an open segment that was edited or cut: seal it as damaged, move on."""
        from gatekeeper.audit._tailcheck import open_segment_problem

        first_seq, first_prev = (int(prev_cp["last_seq"]) + 1, str(prev_cp["head_hash"])) if prev_cp else (1, GENESIS)
        problem = open_segment_problem(seg.path, first_seq=first_seq, first_prev=first_prev,
                                       prev_checkpoint=self._last_checkpoint, witness_head=self._witness_head)
        if problem is None:
            return
        if seg.first_seq is None:  # nothing in it to seal: only the fault is recorded
            self._fault(seg.path.name, problem, "continued in the same segment")
            return
        self._fault(seg.path.name, problem, "sealed as damaged and continued in a new segment")
        digest = hashlib.sha256()
        for chunk in iter(lambda: os.read(seg.fd, 1 << 20), b""):
            digest.update(chunk)
        self._write_checkpoint_locked(seg, damaged={"problem": problem, "sha256": digest.hexdigest(),
                                                    "bytes": os.fstat(seg.fd).st_size})

    def _fault(self, segment: str, problem: str, action: str) -> None:
        log.error("audit.fault", segment=segment, problem=problem, action=action)
        out, members = prepare({"kind": KIND_FAULT, "actor": "gatekeeper", "data": {
            "segment": segment, "problem": problem, "action": action, "pid": os.getpid(), "host": self._host}})
        self._extra.append(_Entry(out, members))

    def _open_segment_locked(self) -> _Segment:
        index = self._next_index
        path = self.directory / segment_name(index)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fsync_dir(self.directory)
        seg = _Segment(index, path, fd, 0, self._clock(), self._last_checkpoint, ts_ranges={})
        self._seg = seg
        return seg

    def _close_segment_locked(self, seg: _Segment) -> None:
        """fsync the segment and write its signed checkpoint (then hand it to the sink)."""
        self._collect_ahead_locked(seg)
        try:
            os.fsync(seg.fd)
        except OSError as exc:
            if self._pending:  # records written ahead were not made durable: as a failed batch sync
                self._broken = (f"fsync of the audit log at {self.directory} failed: {exc.strerror or exc}; "
                                "the log refuses further records until reopened")
                self._fail_pending_locked(seg, AuditError(self._broken), file_locked=True)
            raise
        self._durable = (self._last_seq, self._last_hash, seg.name)
        self._settle_locked(None)
        self._write_checkpoint_locked(seg)

    def _write_checkpoint_locked(self, seg: _Segment, damaged: dict[str, Any] | None = None) -> None:
        assert seg.first_seq is not None
        payload: dict[str, Any] = {
            "schema": CHECKPOINT_SCHEMA,
            "segment": seg.path.name,
            "first_seq": seg.first_seq,
            "last_seq": self._last_seq,
            "count": self._last_seq - seg.first_seq + 1,
            "first_prev_hash": seg.first_prev,
            "head_hash": self._last_hash.decode("ascii"),
            "bytes": seg.size,
            "prev_checkpoint": seg.prev_checkpoint,
            "closed_at": now_iso(),
            "key_id": self._signer.key_id if self._signer else None,
        }
        if damaged is not None:
            payload["damaged"] = damaged
        # Signed with the rest: what lets a query skip the segment without opening it (verify checks
        # that every record's time lies in its kind's range).
        payload[TIME_RANGES] = ranges_value(seg.ts_ranges)
        signature = self._signer.sign(canonical(payload)) if self._signer else None
        cp_path = self.directory / checkpoint_name(seg.index)
        text = json.dumps({**payload, "signature": signature}, indent=2, sort_keys=True) + "\n"
        write_atomic(cp_path, text.encode("ascii"))
        self._last_checkpoint = checkpoint_hash(payload)
        os.close(seg.fd)
        self._seg = None
        self._next_index = seg.index + 1
        log.info("audit.segment_closed", segment=seg.path.name, first_seq=seg.first_seq,
                 last_seq=self._last_seq)
        if self._on_closed is not None:
            self._on_closed(seg.path, cp_path)
        if self._sidecars:
            from gatekeeper.audit._sidecar import COLUMNS, wanted, write_in_background

            if not wanted(payload["count"], seg.size):  # a small segment is read from its JSON: no DuckDB
                return
            self._sidecar_threads = [t for t in self._sidecar_threads if t.is_alive()]
            self._sidecar_threads.append(write_in_background(seg.path, cp_path, COLUMNS))
