"""A sync started now and collected later: an ``fdatasync`` run by the kernel, not by a Python thread.

The two-step append (``FileAuditLog.append_deferred``) writes a decision's record at the decision
and must have it durable only before the request leaves the process (the AWS wrapper waits at
``request-created``). A Python thread cannot run that sync meanwhile: it needs the GIL to call
``os.fdatasync``, and the caller holds it through boto3's pure-Python serialisation (measured,
docs/benchmarks.md "can the sync be overlapped?"). Linux's asynchronous I/O can: an ``IOCB_CMD_FDSYNC``
submitted with ``io_submit`` is queued to a kernel worker that calls the file system's fsync (with
datasync) on another core, and ``io_getevents`` returns its result, ``0`` or ``-errno``, exactly what
``fdatasync`` would have returned (the error is not lost: it is the worker's ``vfs_fsync``'s).

Python has no binding for these system calls, so they are made through the C library's
``syscall`` with ctypes (which releases the GIL during a call), loaded on first use; the layouts of
``struct iocb`` and ``struct io_event`` are the kernel's ABI (``<linux/aio_abi.h>``), the same on
every 64-bit little-endian Linux. Where any of it is missing (another OS or architecture, a kernel
before 4.18, a sandbox whose seccomp filter refuses ``io_setup``) ``SyncAhead.submit`` answers False
and the caller syncs as before. Nothing here is relied on for durability without its result: a
sync whose result is not collected counts for nothing.
"""

from __future__ import annotations

import errno as _errno
import os
import sys
from typing import Any

IOCB_CMD_FDSYNC = 3  # <linux/aio_abi.h>
# (io_setup, io_destroy, io_getevents, io_submit): the system call numbers by architecture.
_NUMBERS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2), "arm64": (0, 1, 4, 2)}

_UNLOADED: Any = object()
_abi: Any = _UNLOADED  # the loaded ctypes parts, None where there are none


class _Abi:
    """The C library's ``syscall`` and the two kernel structures, built once."""

    def __init__(self, ctypes: Any, numbers: tuple[int, int, int, int]) -> None:
        self.ctypes = ctypes
        self.setup_nr, self.destroy_nr, self.getevents_nr, self.submit_nr = numbers
        call = ctypes.CDLL(None, use_errno=True).syscall
        call.restype = ctypes.c_long
        self.call = call

        u16, s16, u32, u64, s64 = ctypes.c_uint16, ctypes.c_int16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64
        iocb = type("Iocb", (ctypes.Structure,), {"_fields_": [
            ("aio_data", u64), ("aio_key", u32), ("aio_rw_flags", u32), ("aio_lio_opcode", u16),
            ("aio_reqprio", s16), ("aio_fildes", u32), ("aio_buf", u64), ("aio_nbytes", u64),
            ("aio_offset", s64), ("aio_reserved2", u64), ("aio_flags", u32), ("aio_resfd", u32)]})
        event = type("Event", (ctypes.Structure,), {"_fields_": [
            ("data", u64), ("obj", u64), ("res", s64), ("res2", s64)]})
        assert ctypes.sizeof(iocb) == 64 and ctypes.sizeof(event) == 32  # <linux/aio_abi.h>
        self.Iocb, self.Event = iocb, event


def _load() -> _Abi | None:
    numbers = _NUMBERS.get(os.uname().machine) if hasattr(os, "uname") else None
    if not sys.platform.startswith("linux") or numbers is None or sys.byteorder != "little":
        return None
    try:
        import ctypes

        return _Abi(ctypes, numbers)
    except (OSError, AttributeError):
        return None


def _get_abi() -> _Abi | None:
    global _abi
    if _abi is _UNLOADED:
        _abi = _load()
    abi: _Abi | None = _abi
    return abi


class SyncAhead:
    """At most one ``fdatasync`` in flight in the kernel: ``submit(fd)`` starts it, ``collect()``
    waits for it and returns its result. Not thread-safe: the audit writer calls it under its
    ``_io`` lock. The kernel context is made on the first ``submit`` and freed by ``close()``."""

    __slots__ = ("_abi", "_ctx", "_event", "_iocb", "_iocbs", "_token", "_unusable", "in_flight")

    def __init__(self) -> None:
        self._abi: _Abi | None = None
        self._ctx = 0
        self._token = 0  # the aio_data of the latest submission: its event is recognised by it
        self._unusable = False
        self.in_flight = False
        self._iocb: Any = None
        self._iocbs: Any = None
        self._event: Any = None

    def _open(self) -> bool:
        abi = _get_abi()
        if abi is None:
            self._unusable = True
            return False
        ct = abi.ctypes
        ctx = ct.c_ulong(0)
        if abi.call(ct.c_long(abi.setup_nr), ct.c_uint(1), ct.byref(ctx)) != 0:
            self._unusable = True  # ENOSYS, EPERM (seccomp), EAGAIN (aio-max-nr): sync as before
            return False
        self._abi, self._ctx = abi, ctx.value
        self._iocb = abi.Iocb()
        self._iocb.aio_lio_opcode = IOCB_CMD_FDSYNC
        self._iocbs = (ct.POINTER(abi.Iocb) * 1)(ct.pointer(self._iocb))
        self._event = abi.Event()
        return True

    def submit(self, fd: int) -> bool:
        """Start an fdatasync of ``fd`` in the kernel; whether one is now in flight (False: none
        could be started, or one is in flight already, which covers only what was written before it)."""
        if self.in_flight or self._unusable:
            return False
        if self._abi is None and not self._open():
            return False
        abi = self._abi
        assert abi is not None
        ct = abi.ctypes
        self._token += 1
        self._iocb.aio_data = self._token
        self._iocb.aio_fildes = fd
        self._event.data = 0
        if abi.call(ct.c_long(abi.submit_nr), ct.c_ulong(self._ctx), ct.c_long(1), self._iocbs) != 1:
            if ct.get_errno() in (_errno.EINVAL, _errno.ENOSYS, _errno.EPERM):
                self._unusable = True  # e.g. a file system or kernel without aio fsync
            return False
        self.in_flight = True
        return True

    def collect(self) -> tuple[int, BaseException | None]:
        """Wait for the sync in flight: (``0`` once it succeeded, else the errno it failed with; an
        interrupt caught meanwhile, for the caller to raise once the result is dealt with).

        The GIL is released while waiting. The result is always taken: an interrupted wait (EINTR,
        or a KeyboardInterrupt raised by a signal handler around the call) is resumed, the event's
        ``data`` telling whether the kernel had already handed the result over.
        """
        abi = self._abi
        if not self.in_flight or abi is None:
            raise RuntimeError("no sync in flight")
        ct, event, token = abi.ctypes, self._event, self._token
        interrupted: BaseException | None = None
        while True:
            try:
                if event.data != token:
                    n = abi.call(ct.c_long(abi.getevents_nr), ct.c_ulong(self._ctx), ct.c_long(1), ct.c_long(1),
                                 ct.byref(event), None)
                    if n != 1 and event.data != token:
                        err = ct.get_errno()
                        if n < 0 and err == _errno.EINTR:
                            continue
                        # The context itself failed (it cannot here short of a kernel fault): report
                        # the sync as failed, which fails the records it was to cover.
                        self.in_flight = False
                        self._unusable = True
                        return (err or _errno.EIO), interrupted
                self.in_flight = False
                res = int(event.res)
                return (-res if res < 0 else 0), interrupted
            except BaseException as exc:  # KeyboardInterrupt from a signal handler: take the result first
                interrupted = interrupted or exc

    def close(self) -> None:
        """Free the kernel context (a sync in flight is waited for by the kernel's io_destroy)."""
        abi, self._abi = self._abi, None
        if abi is not None:
            abi.call(abi.ctypes.c_long(abi.destroy_nr), abi.ctypes.c_ulong(self._ctx))
        self._unusable = True
        self.in_flight = False
