"""The byte layout of the audit log: one record line, segment and checkpoint names, checkpoint payloads.

Shared by the writer, the verifier and the repair on open, so that the three agree byte for byte.

A record is one line of ASCII JSON whose first two members and last member sit at fixed places::

    {"seq":42,"prev_hash":"<64 hex>",<the record's own members>,"hash":"<64 hex>"}\\n
    '---------------------- body -------------------------------'

``hash`` is SHA-256 over the *body*: the raw bytes of the line up to (not including) ``,"hash":"``.
The body carries ``seq`` and ``prev_hash`` (the hash of the record before), so the hashes form a
chain. Because the positions are fixed, checking a line needs slicing and one SHA-256, never a JSON
parse: this is what keeps ``gatekeeper audit verify`` fast on millions of records.

# INVARIANT: the writer never re-serializes a line after hashing it, and nothing ever rewrites a
# line in place; the only mutation a log file sees is an append, or the truncation of a torn tail by
# the repair on open (which is itself recorded).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = "gatekeeper.audit/v1"
CHECKPOINT_SCHEMA = "gatekeeper.audit.checkpoint/v1"
# prev_hash of the very first record of a log.
GENESIS = "0" * 64

PREFIX = b'{"seq":'
PREV_KEY = b',"prev_hash":"'
HASH_KEY = b',"hash":"'
# ',"hash":"' + 64 hex + '"}'
SUFFIX_LEN = len(HASH_KEY) + 64 + 2
RESERVED = frozenset({"seq", "prev_hash", "hash"})

SEGMENT_RE = re.compile(r"^segment-(\d{8})\.jsonl$")
CHECKPOINT_RE = re.compile(r"^segment-(\d{8})\.checkpoint\.json$")
SEGMENT_GLOB = "segment-*.jsonl"

# Kinds the log writes about itself.
KIND_SEGMENT = "audit.segment"
KIND_REPAIRED = "audit.repaired"
KIND_FAULT = "audit.fault"  # the writer found the log tampered with when it opened it
KIND_KEY_ROTATED = "audit.key_rotated"


def segment_name(index: int) -> str:
    return f"segment-{index:08d}.jsonl"


def checkpoint_name(index: int) -> str:
    return f"segment-{index:08d}.checkpoint.json"


def encode_line(seq: int, prev_hash: bytes, members: bytes) -> tuple[bytes, bytes]:
    """The full line (with its newline) and its hash (64 hex, ASCII bytes).

    ``members`` is the inside of a JSON object (``"a":1,"b":2``), non-empty.
    """
    body = b'{"seq":%d,"prev_hash":"%s",%s' % (seq, prev_hash, members)
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    return body + b',"hash":"' + digest + b'"}\n', digest


def encode_lines(seq: int, prev_hash: bytes, members: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The lines of records ``seq + 1``, ``seq + 2``... chained from ``prev_hash``, joined, and their hashes.

    Byte for byte what :func:`encode_line` gives for each in turn; each record's members are copied
    once (into the joined bytes) rather than three times, and hashed after the short head without
    being concatenated to it: the writer's cost per record under the GIL.
    """
    sha256 = hashlib.sha256
    parts: list[bytes] = []
    hashes: list[bytes] = []
    for m in members:
        seq += 1
        head = b'{"seq":%d,"prev_hash":"%s",' % (seq, prev_hash)
        h = sha256(head)
        h.update(m)
        prev_hash = h.hexdigest().encode("ascii")
        parts += (head, m, b',"hash":"', prev_hash, b'"}\n')
        hashes.append(prev_hash)
    return b"".join(parts), hashes


def split_line(line: bytes) -> tuple[int, bytes, bytes] | None:
    """``(seq, prev_hash, hash)`` of a structurally valid line (without its newline), else None.

    Structure only: whether ``hash`` matches the body is checked by :func:`self_consistent`.
    """
    if line[:7] != PREFIX or len(line) < 7 + 1 + len(PREV_KEY) + 64 + 2 + SUFFIX_LEN:
        return None
    j = line.find(PREV_KEY, 7, 40)
    if j < 0:
        return None
    digits = line[7:j]
    if not digits.isdigit():
        return None
    p = j + len(PREV_KEY)
    if line[p + 64:p + 66] != b'",' or line[-SUFFIX_LEN:-SUFFIX_LEN + len(HASH_KEY)] != HASH_KEY \
            or line[-2:] != b'"}':
        return None
    return int(digits), line[p:p + 64], line[-66:-2]


def self_consistent(line: bytes) -> bool:
    """True when ``line`` is structurally valid and its hash matches its body (chain not checked)."""
    parts = split_line(line)
    if parts is None:
        return False
    return hashlib.sha256(line[:-SUFFIX_LEN]).hexdigest().encode("ascii") == parts[2]


def canonical(obj: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces, ASCII): what a checkpoint signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def checkpoint_payload(checkpoint: dict[str, Any]) -> bytes:
    """The signed bytes of a checkpoint: every member except ``signature``, canonical."""
    return canonical({k: v for k, v in checkpoint.items() if k != "signature"})


def checkpoint_hash(checkpoint: dict[str, Any]) -> str:
    """The hash by which the next segment header and checkpoint refer to this checkpoint."""
    return hashlib.sha256(checkpoint_payload(checkpoint)).hexdigest()


def list_segments(directory: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    """Segment files and checkpoint files of a log directory, by segment index."""
    segments: dict[int, Path] = {}
    checkpoints: dict[int, Path] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return segments, checkpoints
    for name in names:
        m = SEGMENT_RE.match(name)
        if m:
            segments[int(m.group(1))] = directory / name
            continue
        m = CHECKPOINT_RE.match(name)
        if m:
            checkpoints[int(m.group(1))] = directory / name
    return segments, checkpoints


def first_hash(directory: Path) -> str:
    """The hash of record 1 (the first line of the first segment): the identity of a log; "" if absent."""
    try:
        with open(directory / segment_name(1), "rb") as f:
            parts = split_line(f.readline().rstrip(b"\n"))
    except OSError:
        return ""
    return parts[2].decode("ascii") if parts is not None and parts[0] == 1 else ""


def fsync_dir(directory: Path) -> None:
    """Make a created/renamed directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` so that a crash leaves either the old state or the complete new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


# -- a closed segment's time ranges, kept in its signed checkpoint -----------------------------------
# For each kind of record in the segment, the earliest and latest time of its records of that kind
# (``"time_ranges": [[kind, min, max], ...]``, kind null for records without one): a query for
# decisions skips a segment whose decisions are all outside its range, whatever the time of the
# segment's header (written when the segment opened) or of other events.
#
# A record's time is its top-level "ts" as the reader reads it (DuckDB: TRY_CAST(ts AS TIMESTAMPTZ),
# UTC for a time without an offset). The writer states a segment's ranges only when it can know that
# time for every record it wrote: a string in the writer's own form (CANONICAL_TS, compared as text,
# which orders such strings by time) or in a plain ISO 8601 form that DuckDB and Python read alike
# (PLAIN_TS, converted to the canonical form), and a kind that is a string or absent. Anything else
# makes the ranges unknown (DuckDB reads some strings Python does not, like "24:00:00" or
# "2026-1-1"), and the checkpoint then says ``"time_ranges": null``: readers fall back on the
# sidecars' footers, as for a checkpoint written before checkpoints had ranges.
CANONICAL_TS = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                          r"\.\d{6}\+00:00")
PLAIN_TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?")
TIME_RANGES = "time_ranges"
# Kind -> [earliest, latest] canonical time of the records of that kind that have a time.
Ranges = dict[str | None, list[str]]


class UnknownTime(Exception):
    """A record's time (or kind) cannot be known for sure without reading it as the reader does."""


def canonical_time(value: object) -> str | None:
    """The canonical UTC text of a record's ``ts`` (None: the reader never finds a time in it);
    raises UnknownTime when the reader might read a time that this cannot tell."""
    if type(value) is str and CANONICAL_TS.fullmatch(value):
        return value
    if isinstance(value, str) and PLAIN_TS.fullmatch(value):
        try:
            at = datetime.fromisoformat(value)
            # OverflowError: a time at the edge of the calendar whose UTC falls outside it
            # (0001-01-01T00:00:00+14:00): the reader's reading of it is not known either.
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except (ValueError, OverflowError):
            raise UnknownTime(value) from None
        return at.isoformat(timespec="microseconds")
    if value is None:
        return None
    raise UnknownTime(repr(value)[:80])


def note_time(ranges: Ranges, kind: object, ts: object) -> None:
    """Widen ``ranges`` by one record's ``kind`` and ``ts`` (raises UnknownTime, see canonical_time)."""
    t = ts if type(ts) is str and CANONICAL_TS.fullmatch(ts) else canonical_time(ts)
    if t is None:
        return
    if kind is not None and type(kind) is not str:
        raise UnknownTime(repr(kind)[:80])
    r = ranges.get(kind)
    if r is None:
        ranges[kind] = [t, t]
    elif t < r[0]:
        r[0] = t
    elif t > r[1]:
        r[1] = t


def ranges_value(ranges: Ranges | None) -> list[list[str | None]] | None:
    """What a checkpoint keeps as ``time_ranges`` (None: unknown; also when an end is not a real time,
    a canonical-looking string like "2026-02-30..." that no reader reads as a time)."""
    if ranges is None:
        return None
    for lo, hi in ranges.values():
        try:
            datetime.fromisoformat(lo)
            datetime.fromisoformat(hi)
        except ValueError:
            return None
    return [[k, lo, hi] for k, (lo, hi) in sorted(ranges.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))]


Span = tuple[datetime, datetime]


def checkpoint_ranges(checkpoint: dict[str, Any]) -> dict[str | None, Span] | None:
    """A checkpoint's time ranges by kind (a kind absent: none of its records has a time); None when
    it states none (an old checkpoint, unknown ranges) or they do not read (``malformed_ranges``)."""
    value = checkpoint.get(TIME_RANGES)
    if value is None or malformed_ranges(value):
        return None
    return {k: (datetime.fromisoformat(lo), datetime.fromisoformat(hi)) for k, lo, hi in value}


def malformed_ranges(value: Any) -> bool:
    """True unless ``value`` is a list of [kind (a string or null), min, max] with distinct kinds and
    canonical times, min <= max."""
    if not isinstance(value, list):
        return True
    kinds = set()
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and (item[0] is None or isinstance(item[0], str))
                and all(isinstance(t, str) and CANONICAL_TS.fullmatch(t) for t in item[1:]) and item[0] not in kinds):
            return True
        kinds.add(item[0])
        try:
            if datetime.fromisoformat(item[1]) > datetime.fromisoformat(item[2]):
                return True
        except ValueError:
            return True
    return False
