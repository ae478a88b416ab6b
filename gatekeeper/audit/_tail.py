"""Reading a segment's ends without reading it whole: its first line, and its last good line.

A writer killed mid-``write`` leaves a torn last line, a power loss zeros; ``scan_tail`` finds where
the good records end so that the writer (``_writer``) can cut back to there and record the repair.
"""

from __future__ import annotations

import os

from gatekeeper.audit._format import self_consistent
from gatekeeper.errors import AuditIntegrityError

_CHUNK = 8 * 1024
# A torn tail longer than this is not a torn write: refuse to cut it and ask for a human.
REPAIR_LIMIT = 16 * 1024 * 1024


def scan_tail(fd: int, size: int) -> tuple[int, bytes | None]:
    """``(end, line)``: the end offset of the last complete, self-consistent line and that line.

    Bytes after ``end`` are a torn write (no newline) or garbage lines (e.g. zeros after a power
    loss). ``line`` is None when the file holds no good line at all. Reads backwards from the end,
    a few kilobytes at a time, so that it costs little on a large segment.
    """
    buf_start, buf, cut, chunk = size, b"", size, _CHUNK
    while cut > 0:
        if size - cut > REPAIR_LIMIT:
            raise AuditIntegrityError(f"more than {REPAIR_LIMIT} bytes at the end of the segment are not "
                                      "records; refusing to repair automatically (run gatekeeper audit verify)")
        rel = cut - buf_start
        if rel > 0 and buf[rel - 1] == 0x0A:
            prev_nl = buf.rfind(b"\n", 0, rel - 1)
            if prev_nl >= 0 or buf_start == 0:
                line = buf[prev_nl + 1:rel - 1]
                if self_consistent(line):
                    return cut, line
                cut = buf_start + prev_nl + 1  # drop a garbage line
                continue
        elif rel > 0:
            nl = buf.rfind(b"\n", 0, rel)
            if nl >= 0:
                cut = buf_start + nl + 1  # drop the unterminated tail
                continue
            if buf_start == 0:
                return 0, None
        # Need the bytes before buf_start.
        new_start = max(0, buf_start - chunk)
        buf = os.pread(fd, buf_start - new_start, new_start) + buf
        buf_start, chunk = new_start, min(chunk * 2, 1024 * 1024)
    return 0, None


def first_line(fd: int) -> bytes | None:
    """The segment's first line (its header), without its newline; None if it has none yet."""
    buf = b""
    while True:
        chunk = os.pread(fd, _CHUNK, len(buf))
        if not chunk:
            return None
        buf += chunk
        nl = buf.find(b"\n")
        if nl >= 0:
            return buf[:nl]
