"""Early write-back: start writing a range of a file to disk now, without waiting for it (Linux).

``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)`` queues the range's dirty pages for
writing and returns; the ``fdatasync`` that acknowledges the record later finds them written or in
flight and waits less (``bench/sync_overlap.py``: about a third less here). It makes nothing durable
(no metadata, no disk cache flush) and is never relied on: the fsync is. Python's ``os`` module does
not offer it, so it is called from the C library through ctypes, loaded on the first use (the
two-step append of the AWS wrapper); elsewhere (macOS, Windows, a C library without it) ``start``
does nothing.
"""

from __future__ import annotations

import sys
from typing import Any

SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages in the range, do not wait

_UNLOADED: Any = object()
_call: Any = _UNLOADED  # the C function, None where there is none


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def start(fd: int, offset: int, nbytes: int) -> bool:
    """Start writing ``nbytes`` of ``fd`` from ``offset`` back to disk; whether the kernel took it.

    Never raises for a platform without it or a file system that refuses it (the fsync reports
    what matters)."""
    global _call
    fn = _call
    if fn is _UNLOADED:
        fn = _call = _load()
    if fn is None:
        return False
    return bool(fn(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE) == 0)
