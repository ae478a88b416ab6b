"""Verify an audit log: every line's hash, the chain across segments, and the signed checkpoints.

What is detected, and how it is named (segment, line, seq and what is wrong):

- a record edited in place: its hash no longer matches its bytes;
- a record edited and re-hashed: the next record's ``prev_hash`` no longer matches;
- records deleted, inserted or reordered: ``seq`` is not the one expected (and ``prev_hash`` breaks);
- the end of a closed segment truncated: the segment ends before its checkpoint's ``last_seq``;
- a whole segment deleted: a gap in the segment numbers, or a checkpoint whose segment is missing,
  and the next segment's first record does not follow on;
- a checkpoint deleted or replaced: a closed segment without one, or the next segment header and
  checkpoint name a different ``prev_checkpoint``;
- a checkpoint forged or altered: its Ed25519 signature does not verify with the public key;
- a checkpoint's time ranges (what lets a query skip its segment) that leave out a record's time,
  even when signed by a trusted key: a record a query for that time would not find;
- the whole log rewritten and re-signed with another key (placed in ``keys/``): that key is not
  trusted, because trust comes only from outside the log (see below);
- records cut off the end, the open segment deleted, the newest segments and their checkpoints
  deleted, or a rewrite: the log no longer holds the record of the witness's latest digest.

Trust. A key is trusted only when it is kept outside the log: passed explicitly (``public_keys``),
pinned by fingerprint in the configuration or in the state store (``trust``), or introduced by a
rotation signed by a trusted key. The keys in the log's ``keys/`` folder are only candidates for a
pinned fingerprint. With no trusted key the result is "unverified", never "intact". With a witness
(``trust.witness``) the log must hold the record of its latest digest; the records after it are
reported as not yet anchored (how many, over how long).

Fast path: lines are checked by slicing at fixed offsets and one SHA-256 each, never a JSON parse
(a record's time is read by one regular expression at a fixed place, where the writer puts it; a
record written otherwise is parsed); segments are checked in parallel processes when the log is large.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gatekeeper.audit._format import (
    CANONICAL_TS,
    CHECKPOINT_RE,
    CHECKPOINT_SCHEMA,
    GENESIS,
    HASH_KEY,
    KIND_KEY_ROTATED,
    KIND_SEGMENT,
    SEGMENT_RE,
    SUFFIX_LEN,
    TIME_RANGES,
    UnknownTime,
    checkpoint_hash,
    checkpoint_name,
    checkpoint_payload,
    first_hash,
    list_segments,
    malformed_ranges,
    note_time,
    segment_name,
    split_line,
)
from gatekeeper.audit._keys import check_signature, fingerprint, key_id, keys_beside, load_public_key
from gatekeeper.audit.witness import AuditTrust, Digest, PinnedKey, trusted_by_rotation
from gatekeeper.errors import AuditError

PARALLEL_THRESHOLD = 64 * 1024 * 1024  # bytes of segments above which segments are checked in parallel
# A record's kind and time where the writer's records have them, right after seq and prev_hash:
# "schema", then "kind" and "ts" (canonical) in either order (strings without escapes: nothing nested
# can come first). A record whose kind this does not find is parsed.
# The usual record, a decision (record.decision_record), starts with exactly these members: its time
# (32 bytes, then the closing quote) is taken by slicing, and once the segment is read, the shape of
# every such time (digits where the canonical form has digits) is checked at once by one byte
# translation and comparison (a regular expression a line cost verify a third more CPU). Their
# earliest and latest are then checked to be real times (``note_time``). A time of that shape that is
# not a real time is read by DuckDB as none (month 13, second 60...) or, "T24:00:00.000000", as the
# next day's midnight, which lies between the earliest and latest real times around it: neither can
# fall outside the range found (tests/audit/test_time_ranges.py holds the writer to DuckDB's reading).
_DECISION_AT = b'"schema":"gatekeeper.audit/v2","kind":"decision","ts":"'
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_SHAPE = b"0000-00-00T00:00:00.000000+00:00"
_TS_AT = re.compile(rb'"schema":"[^"\\]*",(?:"kind":"([^"\\]*)",)?"ts":"(' + CANONICAL_TS.pattern.encode()
                    + rb')"(?:,"kind":"([^"\\]*)")?')

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with the log: where, and what."""

    segment: str
    line: int | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = [self.segment]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        return f"{', '.join(where)}: {self.message}"


@dataclass(frozen=True)
class SegmentResult:
    name: str
    first_seq: int | None
    last_seq: int | None
    records: int
    bytes: int
    checkpoint: str  # "signed", "unsigned", "open" (the live segment), "missing"
    key_id: str | None = None


INTACT, UNVERIFIED, FAILED = "intact", "unverified", "failed"


@dataclass(frozen=True)
class VerifyReport:
    """The result. ``status`` is the answer: ``intact`` (``ok``), ``unverified`` or ``failed``.

    ``consistent`` says only that nothing wrong was found in what could be checked; without a
    trusted key (``unverified``) that proves nothing, since a forger can make a log consistent.
    """

    path: str
    ok: bool
    records: int
    segments: tuple[SegmentResult, ...]
    problem: Problem | None
    head_seq: int
    head_hash: str
    signed_seq: int  # the last seq covered by a checkpoint
    keys: tuple[str, ...] = ()  # the trusted key ids
    warnings: tuple[str, ...] = field(default=())
    status: str = FAILED
    consistent: bool = False
    unverified_because: str = ""
    witness: dict[str, Any] | None = None  # the digest checked: name, seq, head_hash, at
    anchored_seq: int = 0  # the last seq a trusted digest from outside the log vouches for
    unanchored_records: int = 0
    unanchored_seconds: float | None = None  # from the first unanchored record to the last

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problem"] = None if self.problem is None else {**asdict(self.problem), "text": str(self.problem)}
        d["segments"] = [asdict(s) for s in self.segments]
        d["keys"], d["warnings"] = list(self.keys), list(self.warnings)
        return d


@dataclass(frozen=True)
class _Scan:
    """One segment's lines, checked on their own (the chain within; stitching is done after)."""

    count: int = 0
    first_seq: int | None = None
    first_prev: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    header: bytes | None = None  # the first line, parsed later for the header checks
    bad_line: int | None = None  # 1-based
    bad_seq: int | None = None
    bad_message: str = ""
    torn: int = 0  # bytes after the last newline
    size: int = 0
    # The time range of its records of each kind (``_format.note_time``), and the first record whose
    # time or kind cannot be told (its seq), if any.
    ts_ranges: dict[str | None, list[str]] = field(default_factory=dict)
    ts_unknown: int | None = None


def _note_line(ranges: dict[str | None, list[str]], line: bytes) -> None:
    """A record's kind and time when they are not where the writer puts them: the line parsed (rare)."""
    try:
        rec = json.loads(line)
    except ValueError:
        raise UnknownTime("unreadable") from None
    if isinstance(rec, dict):
        note_time(ranges, rec.get("kind"), rec.get("ts"))


def _diagnose(line: bytes, expect: int, prev: bytes | None) -> tuple[int | None, str]:
    parts = split_line(line)
    if parts is None:
        if not line:
            return None, "empty line where a record was expected"
        if b"\x00" in line:
            return None, "NUL bytes where a record was expected (corruption)"
        return None, "not a well-formed audit record (garbled or edited)"
    seq, p, h = parts
    if hashlib.sha256(line[:-SUFFIX_LEN]).hexdigest().encode("ascii") != h:
        return seq, "hash does not match the record's content: the record was edited"
    if seq != expect:
        if seq > expect:
            missing = f"record {expect}" if seq == expect + 1 else f"records {expect}..{seq - 1}"
            return seq, f"seq {seq} where {expect} was expected: {missing} deleted or moved"
        return seq, f"seq {seq} where {expect} was expected: a record inserted, repeated or moved here"
    if prev is not None and p != prev:
        return seq, (f"prev_hash does not match the hash of record {seq - 1}: the record before it was "
                     "altered, or one was inserted or removed")
    return seq, "malformed record"


def scan_bytes(data: bytes) -> _Scan:
    """Check the lines of one segment held in memory."""
    return _scan_lines(io.BytesIO(data))


def _scan_file(path: str) -> _Scan:
    with open(path, "rb", buffering=1024 * 1024) as f:
        return _scan_lines(f)


def _scan_lines(f: Iterable[bytes]) -> _Scan:
    """Check the lines of one segment (fast path: one prefix compare and one SHA-256 per line).

    Iterating line by line (rather than splitting the whole file) keeps memory flat and is faster:
    each line's memory is reused as soon as it has been checked.
    """
    it = iter(f)
    line0 = next(it, b"")
    if not line0.endswith(b"\n"):
        return _Scan(torn=len(line0), size=len(line0))
    first = split_line(line0[:-1])
    if first is None:
        _, msg = _diagnose(line0[:-1], 0, None)
        return _Scan(bad_line=1, bad_message=msg, size=len(line0) + sum(len(x) for x in it))
    seq, prev = first[0], first[1]
    first_seq, first_prev, header = seq, prev.decode(), line0[:-1]
    sha256 = hashlib.sha256
    count = size = 0
    ts_at = _TS_AT.match
    decision_at, after = _DECISION_AT, len(_DECISION_AT)
    decisions: list[bytes] = []  # the raw times of the records that start as decisions do
    times: dict[bytes, list[bytes]] = {}  # kind -> its canonical times, compared as text once the segment is read
    ranges: dict[str | None, list[str]] = {}  # those of records written otherwise (converted to the canonical form)
    unknown: int | None = None
    for line in itertools.chain((line0,), it):
        h = line[-67:-3]
        # One formatted prefix checks the start, seq and prev_hash at once; then the hash suffix.
        head = b'{"seq":%d,"prev_hash":"%s",' % (seq, prev)
        if (not line.startswith(head)
                or line[-SUFFIX_LEN - 1:-67] != HASH_KEY or not line.endswith(b'"}\n')
                or sha256(line[:-SUFFIX_LEN - 1]).hexdigest().encode() != h):
            last = (seq - 1, prev.decode()) if count else (None, None)
            if not line.endswith(b"\n"):  # the unterminated last line: a torn write, not a record
                return _Scan(count, first_seq, first_prev, last[0], last[1], header, torn=len(line),
                             size=size + len(line))
            bad_seq, msg = _diagnose(line[:-1], seq, prev if count else None)
            return _Scan(count, first_seq, first_prev, last[0], last[1], header, bad_line=count + 1,
                         bad_seq=bad_seq, bad_message=msg, size=size + len(line) + sum(len(x) for x in it))
        k = len(head)
        if line.startswith(decision_at, k) and line[k + after + 32] == 0x22:
            decisions.append(line[k + after:k + after + 32])
        elif (m := ts_at(line, k)) is not None and (kind := m.group(1) or m.group(3)) is not None:
            got = times.get(kind)
            if got is None:
                times[kind] = [m.group(2)]
            else:
                got.append(m.group(2))
        elif unknown is None:
            try:
                _note_line(ranges, line)
            except UnknownTime:
                unknown = seq
        size += len(line)
        count += 1
        prev = h
        seq += 1
    try:
        if decisions and b"".join(decisions).translate(_DIGITS) == _SHAPE * len(decisions):
            times.setdefault(b"decision", []).extend((min(decisions), max(decisions)))
        else:  # some decision's time is in another form: each is read as the writer reads it (rare)
            for t in decisions:
                note_time(ranges, "decision", t.decode("utf-8", "replace"))
        for kind, ts in times.items():
            note_time(ranges, kind.decode(), min(ts).decode())
            note_time(ranges, kind.decode(), max(ts).decode())
    except UnknownTime:  # the writer states no ranges then
        unknown = first_seq if unknown is None else min(unknown, first_seq)
    return _Scan(count, first_seq, first_prev, seq - 1, prev.decode(), header, size=size, ts_ranges=ranges,
                 ts_unknown=unknown)


class _Checker:
    """Walks the segments in order and stops at the first problem."""

    def __init__(self, keys: dict[str, Ed25519PublicKey],
                 rotations: Callable[[], list[tuple[int, PinnedKey]]] | None = None, log_id: str = "",
                 pinned: bool = False) -> None:
        self.keys = keys
        # Nothing trusted at all: signatures cannot be checked (unverified). A key pinned (by
        # fingerprint) whose key signs nothing here still makes every other key untrusted.
        self.trusting = bool(keys) or pinned
        self.unchecked = 0  # signed checkpoints whose signature could not be checked
        self._rotations = rotations
        self._log_id = log_id
        self.results: list[SegmentResult] = []
        self.records = 0
        self.head_seq, self.head_hash = 0, GENESIS
        self.signed_seq = 0
        self.prev_checkpoint: str | None = None
        self.warnings: list[str] = []

    def segment(self, name: str, scan: _Scan, cp_path: Path | None, *, last: bool,
                stitch: bool) -> Problem | None:
        # 1. Does it follow on from the segment before?
        if stitch and scan.first_seq is not None and (
                scan.first_seq != self.head_seq + 1 or scan.first_prev != self.head_hash):
            if scan.first_seq > self.head_seq + 1:
                msg = (f"first record is seq {scan.first_seq} but the log so far ends at seq {self.head_seq}: "
                       f"records {self.head_seq + 1}..{scan.first_seq - 1} are missing (deleted)")
            elif scan.first_seq != self.head_seq + 1:
                msg = (f"first record is seq {scan.first_seq} but the log so far ends at seq {self.head_seq}: "
                       "records repeated or reordered")
            else:
                msg = (f"prev_hash of the first record does not match the hash of seq {self.head_seq}: "
                       "the segment does not follow on from the one before")
            return Problem(name, 1, scan.first_seq, msg)
        # 2. Its lines.
        if scan.bad_line is not None:
            return Problem(name, scan.bad_line, scan.bad_seq, scan.bad_message)
        if scan.torn:
            if not last or cp_path is not None:
                return Problem(name, scan.count + 1, None,
                               f"{scan.torn} bytes after the last complete record (torn or appended garbage)")
            self.warnings.append(f"{name}: a torn last line ({scan.torn} bytes) left by a crash; it is not a "
                                 "record and is repaired the next time the log is opened")
        # 3. Its header.
        problem = self._header(name, scan)
        if problem:
            return problem
        # 4. Its checkpoint.
        status, kid = "open", None
        if cp_path is None:
            if not last:
                return Problem(name, None, scan.last_seq, "closed segment has no checkpoint (deleted?) although "
                               "later segments exist")
        else:
            problem, status, kid = self._checkpoint(name, scan, cp_path)
            if problem:
                return problem
        if scan.count:
            self.head_seq, self.head_hash = scan.last_seq or 0, scan.last_hash or GENESIS
        if cp_path is not None:
            self.signed_seq = self.head_seq
        self.records += scan.count
        self.results.append(SegmentResult(name, scan.first_seq, scan.last_seq, scan.count, scan.size, status, kid))
        return None

    def _header(self, name: str, scan: _Scan) -> Problem | None:
        if scan.header is None:
            return None
        try:
            header = json.loads(scan.header)
            data = header["data"] if header.get("kind") == KIND_SEGMENT else None
        except (ValueError, KeyError, TypeError):
            data = None
        if not isinstance(data, dict):
            return Problem(name, 1, scan.first_seq, "first record is not a segment header (audit.segment)")
        if data.get("segment") != name:
            return Problem(name, 1, scan.first_seq,
                           f"segment header names {data.get('segment')!r}: segment files renamed or swapped")
        if data.get("prev_checkpoint") != self.prev_checkpoint:
            return Problem(name, 1, scan.first_seq, "segment header names a previous checkpoint that is not the "
                           "one found: a checkpoint was deleted, replaced or re-ordered")
        return None

    def _checkpoint(self, name: str, scan: _Scan, path: Path) -> tuple[Problem | None, str, str | None]:
        cname = path.name
        try:
            cp = json.loads(path.read_bytes())
            if not isinstance(cp, dict):
                raise ValueError("not an object")
            checkpoint_payload(cp)
        except (OSError, ValueError, TypeError) as exc:
            return Problem(cname, None, None, f"checkpoint unreadable: {exc}"), "missing", None
        kid = cp.get("key_id")
        # The signature first: a checkpoint that is not authentic says nothing about the segment.
        signature = cp.get("signature")
        if signature is None:
            if self.keys:
                return Problem(cname, None, cp.get("last_seq"), "checkpoint is not signed"), "unsigned", None
            self.warnings.append(f"{cname}: checkpoint is not signed (no signing key configured)")
            status = "unsigned"
        elif not self.trusting:
            self.unchecked += 1
            status = "signed"
        else:
            public = self.keys.get(str(kid)) or self._rotated(str(kid), cp.get("last_seq"))
            if public is None:
                return (Problem(cname, None, cp.get("last_seq"), f"signed with key {kid}, which is not trusted: "
                                "not pinned in the configuration or the state store, not passed with "
                                "--public-key, not introduced by a signed rotation (a key in the log's keys/ "
                                "folder proves nothing)"), "signed", kid)
            if not isinstance(signature, str) or not check_signature(public, signature, checkpoint_payload(cp)):
                return (Problem(cname, None, cp.get("last_seq"), f"signature does not verify with public key "
                                f"{kid}: the checkpoint was altered or forged"), "signed", kid)
            status = "signed"
        damaged = cp.get("damaged")
        if damaged:
            why = damaged.get("problem") if isinstance(damaged, dict) else damaged
            return (Problem(name, None, scan.first_seq, f"the writer found this segment damaged when it reopened "
                            f"the log ({why}), sealed it and continued in the next segment"), status, kid)
        # Then the segment against what the checkpoint vouches for.
        expected = {
            "schema": CHECKPOINT_SCHEMA, "segment": name, "first_seq": scan.first_seq,
            "first_prev_hash": scan.first_prev, "prev_checkpoint": self.prev_checkpoint,
        }
        for k, v in expected.items():
            if cp.get(k) != v:
                return (Problem(cname, None, scan.first_seq,
                                f"checkpoint {k} is {cp.get(k)!r}, the log has {v!r}"), status, kid)
        last = cp.get("last_seq")
        if not isinstance(last, int):
            return Problem(cname, None, None, "checkpoint has no last_seq"), status, kid
        if scan.last_seq is None or last > scan.last_seq:
            have = scan.last_seq or 0
            return (Problem(name, scan.count + 1, have + 1,
                            f"segment ends at seq {have} but its checkpoint records {last}: records "
                            f"{have + 1}..{last} were removed (truncated)"), status, kid)
        if last < scan.last_seq:
            return (Problem(name, last - scan.first_seq + 2 if scan.first_seq else None, last + 1,
                            f"records after seq {last}, the last one its checkpoint covers, were appended to a "
                            "closed segment"), status, kid)
        if cp.get("head_hash") != scan.last_hash or cp.get("count") != scan.count or cp.get("bytes") != scan.size:
            return (Problem(name, scan.count, last, "the segment's last record, record count or size does not "
                            "match its checkpoint"), status, kid)
        problem = _range_problem(cname, cp, scan)
        if problem:
            return problem, status, kid
        self.prev_checkpoint = checkpoint_hash(cp)
        return None, status, kid

    def _rotated(self, kid: str, before_seq: Any) -> Ed25519PublicKey | None:
        """A key introduced by rotation records in the log (signed by a trusted key) before ``before_seq``."""
        if self._rotations is None:
            return None
        limit = before_seq if isinstance(before_seq, int) else 0
        pins = [p for seq, p in self._rotations() if seq <= limit]
        self.keys = trusted_by_rotation(pins, self.keys, self._log_id)
        return self.keys.get(kid)


def _range_problem(cname: str, cp: dict[str, Any], scan: _Scan) -> Problem | None:
    """What is wrong with a checkpoint's time ranges, if it states them: every record's time must lie in
    its kind's range (a query skips a segment whose ranges miss its own, so a range that leaves a
    record out hides it). A range wider than the records' hides nothing and is accepted; none (an
    older checkpoint, or ``null``: the writer could not tell) is nothing to check."""
    value = cp.get(TIME_RANGES)
    if value is None:
        return None
    if malformed_ranges(value):
        return Problem(cname, None, scan.first_seq, f"checkpoint {TIME_RANGES} is malformed: {value!r}"[:300])
    if scan.ts_unknown is not None:
        return Problem(cname, None, scan.ts_unknown, f"checkpoint states {TIME_RANGES} but the time or kind of "
                       f"record {scan.ts_unknown} cannot be told for sure (the writer states none then)")
    stated = {k: (lo, hi) for k, lo, hi in value}
    for kind, (lo, hi) in sorted(scan.ts_ranges.items(), key=lambda kv: kv[0] or ""):
        have = stated.get(kind)
        if have is None or lo < have[0] or hi > have[1]:
            said = f"{have[0]}..{have[1]}" if have else "no range"
            return Problem(cname, None, scan.first_seq, f"checkpoint {TIME_RANGES} gives kind {kind!r} {said}, "
                           f"leaving out records of the segment (that kind's times are {lo}..{hi}): a query for "
                           "their time would not find them; the checkpoint was altered or forged")
    return None


def rotation_records(directory: Path) -> list[tuple[int, PinnedKey]]:
    """``(seq, pinned key)`` of every ``audit.key_rotated`` record in the log (found by a byte search)."""
    marker = b'"kind":"%s"' % KIND_KEY_ROTATED.encode()
    out: list[tuple[int, PinnedKey]] = []
    segments, _ = list_segments(directory)
    for index in sorted(segments):
        with open(segments[index], "rb") as f:
            for line in f:
                if marker not in line:
                    continue
                try:
                    rec = json.loads(line)
                    d = rec["data"]
                    out.append((int(rec["seq"]), PinnedKey(str(d["fingerprint"]), str(d["public_key"]),
                                                           str(rec["ts"]), "rotation", str(d["previous"]),
                                                           str(d["signature"]))))
                except (ValueError, KeyError, TypeError):
                    continue  # not a well-formed rotation: it introduces nothing
    return out


@dataclass
class _Trusted:
    keys: dict[str, Ed25519PublicKey]
    warnings: list[str]
    digest: Digest | None = None
    witness_name: str = ""
    witness_error: str = ""
    log_id: str = ""
    pinned: bool = False  # some key is pinned (config or store), whether or not its public key is at hand


def _trusted(directory: Path, public_keys: Sequence[Path], trust: AuditTrust | None) -> _Trusted:
    """The keys trusted from outside the log, and the witness's latest digest."""
    keys: dict[str, Ed25519PublicKey] = {}
    for p in public_keys:
        k = load_public_key(Path(p))
        keys[key_id(k)] = k
    out = _Trusted(keys, [], log_id=trust.log_id if trust else "")
    if trust is None:
        return out
    for k in trust.public_keys:
        keys[key_id(k)] = k
    pins: list[PinnedKey] = []
    try:
        if trust.keys is not None:
            pins = trust.keys.pinned_keys(trust.log_id)
        if trust.witness is not None:
            out.witness_name = trust.witness.name
            out.digest = trust.witness.latest_digest(trust.log_id)
    except Exception as exc:  # any store error: nothing from outside the log can be relied on
        out.witness_error = f"the trust store could not be read ({type(exc).__name__}: {exc})"
        return out
    wanted = set(trust.fingerprints) | {p.fingerprint for p in pins if not p.signed_by}
    out.pinned = bool(wanted)
    candidates = [*keys_beside(directory).values(), *(p.key for p in pins)]
    for k in candidates:
        if fingerprint(k) in wanted:
            keys[key_id(k)] = k
    out.keys = trusted_by_rotation(pins, keys, trust.log_id)
    return out


def verify_log(
    path: Path,
    *,
    public_keys: Sequence[Path] = (),
    trust: AuditTrust | None = None,
    anchor: tuple[int, str] | None = None,
    progress: Progress | None = None,
    parallel_threshold: int = PARALLEL_THRESHOLD,
    uploaded_copy: bool = False,
) -> VerifyReport:
    """Verify the log directory (or one segment file) at ``path``; the report names the first problem.

    Trusted keys: ``public_keys`` and what ``trust`` pins (see the module docstring); the witness's
    latest digest (``trust.witness``) is checked by default, ``anchor`` (``seq, hash``) in addition.
    ``uploaded_copy``: ``path`` is what a sink uploaded (closed segments only), so a digest naming a
    segment newer than every segment there makes the result unverified (not uploaded yet?), not failed.
    """
    path = Path(path)
    if path.is_file():
        return _verify_one(path, public_keys, trust, progress)
    if not path.is_dir():
        raise AuditError(f"no audit log at {path}")
    t = _trusted(path, public_keys, trust)
    segments, checkpoints = list_segments(path)
    checker = _Checker(t.keys, lambda: rotation_records(path), t.log_id, t.pinned)
    checker.warnings.extend(t.warnings)
    order = sorted(segments)
    stray = [n for n in os.listdir(path) if n.endswith(".jsonl") and not SEGMENT_RE.match(n)]
    if stray:
        checker.warnings.append(f"files that are not segments were ignored: {', '.join(sorted(stray))}")

    def report(problem: Problem | None) -> VerifyReport:
        if problem is None and anchor is not None:
            problem = _check_anchor(path, anchor, checker.head_seq)
        witness: dict[str, Any] | None = None
        anchored, unanchored, seconds = 0, 0, None
        d = t.digest
        if d is not None:
            witness = {"name": t.witness_name, "log_id": d.log_id, "seq": d.seq, "head_hash": d.head_hash,
                       "segment": d.segment, "at": d.at, "key_id": d.key_id}
        if problem is None and d is not None and uploaded_copy and _newer_than_all(d.segment, segments):
            t.witness_error = (f"the witness's latest digest (seq {d.seq}) names {d.segment}, which is not in "
                               "this copy (not uploaded yet?); verify the local log, or again after it is closed")
        elif problem is None and d is not None:
            problem = _check_digest(path, d, t.witness_name, checker)
            if problem is None:
                anchored, unanchored = d.seq, checker.head_seq - d.seq
                seconds = _span(path, d.seq + 1, checker.head_seq) if unanchored else None
        status, because = _status(problem, checker, t, trust)
        return VerifyReport(str(path), status == INTACT, checker.records, tuple(checker.results), problem,
                            checker.head_seq, checker.head_hash, checker.signed_seq, tuple(sorted(checker.keys)),
                            tuple(checker.warnings), status, problem is None, because, witness, anchored,
                            unanchored, seconds)

    # Missing segments: a gap in the numbers, or checkpoints left without their segment.
    last_index = max([*order, *checkpoints], default=0)
    for index in range(1, last_index + 1):
        if index not in segments:
            what = ""
            if index in checkpoints:
                try:
                    cp = json.loads(checkpoints[index].read_bytes())
                    what = f" (records {cp.get('first_seq')}..{cp.get('last_seq')})"
                except (OSError, ValueError):
                    pass
            return report(Problem(segment_name(index), None, None,
                                  f"segment file is missing{what}: deleted"))
    scans = _scan_all([segments[i] for i in order], progress, parallel_threshold)
    for index, scan in zip(order, scans, strict=True):
        problem = checker.segment(segment_name(index), scan, checkpoints.get(index), last=index == order[-1],
                                  stitch=True)
        if problem:
            return report(problem)
    return report(None)


def _status(problem: Problem | None, checker: _Checker, t: _Trusted, trust: AuditTrust | None) -> tuple[str, str]:
    """``(status, why unverified)``: intact only with a trusted key and, when there is a witness, its digest."""
    if problem is not None:
        return FAILED, ""
    if t.witness_error:
        return UNVERIFIED, t.witness_error
    if not checker.trusting:
        return UNVERIFIED, ("no trusted key: nothing outside the log says which key may sign it; pin its "
                            "fingerprint in [audit] trusted_keys or the state store, or pass --public-key")
    if trust is not None and trust.witness is not None and t.digest is None and checker.head_seq > 0:
        return UNVERIFIED, (f"the witness ({t.witness_name}) holds no digest for log {t.log_id!r}: nothing "
                            "outside the log vouches for its end yet")
    if trust is None or trust.witness is None:
        checker.warnings.append("no witness: records cut off the end of the log cannot be detected")
    return INTACT, ""


def _newer_than_all(segment: str, segments: dict[int, Path]) -> bool:
    m = SEGMENT_RE.match(segment)
    return m is not None and int(m.group(1)) > max(segments, default=0)


def _check_digest(directory: Path, d: Digest, witness: str, checker: _Checker) -> Problem | None:
    """The log must hold record ``d.seq`` with hash ``d.head_hash``; the digest must be signed by a trusted key."""
    if checker.trusting and not d.verify(checker.keys):
        return Problem("witness", None, d.seq, f"the latest digest in the witness ({witness}) is signed with key "
                       f"{d.key_id}, which is not trusted or does not verify: the witness was tampered with")
    mine = first_hash(directory)
    if d.first_hash and d.first_hash != mine:
        return Problem("log", None, 1, (
            f"the witness's ({witness}) latest digest for log {d.log_id!r} (seq {d.seq}, published {d.at}) is of a "
            "log whose first record differs: this log was rewritten from its start, or another log publishes "
            "under the same [audit] log_id"))
    if d.seq > checker.head_seq:
        return Problem("log", None, checker.head_seq + 1, (
            f"the log ends at seq {checker.head_seq} but the witness ({witness}) holds a digest of seq {d.seq} "
            f"(segment {d.segment}, published {d.at}): records {checker.head_seq + 1}..{d.seq} were removed "
            "(cut off the end, or segments deleted)"))
    found = _find_line(directory, d.seq)
    if found is None:
        return Problem("log", None, d.seq, f"record {d.seq}, named by the witness digest, is not in the log")
    seg, n, line = found
    parts = split_line(line)
    if parts is None or parts[2].decode() != d.head_hash:
        return Problem(seg.name, n, d.seq, f"record {d.seq} is not the one the witness ({witness}) holds a digest "
                       f"of (published {d.at}): the log was rewritten")
    return None


def _find_line(directory: Path, seq: int) -> tuple[Path, int, bytes] | None:
    """``(segment, line number, line)`` of record ``seq``, searching the newest segments first."""
    segments, _ = list_segments(directory)
    for index in sorted(segments, reverse=True):
        with open(segments[index], "rb") as f:
            first = f.readline()
            parts = split_line(first.rstrip(b"\n"))
            if parts is None or parts[0] > seq:
                continue
            for n, line in enumerate([first, *f], start=1):
                parts = split_line(line.rstrip(b"\n"))
                if parts and parts[0] == seq:
                    return segments[index], n, line.rstrip(b"\n")
            return None
    return None


def _span(directory: Path, first: int, last: int) -> float | None:
    """Seconds from record ``first`` to record ``last`` (their ``ts``), when both can be read."""
    times = []
    for seq in (first, last):
        found = _find_line(directory, seq)
        try:
            times.append(datetime.fromisoformat(json.loads(found[2])["ts"]) if found else None)
        except (ValueError, KeyError, TypeError):
            times.append(None)
    if times[0] is None or times[1] is None:
        return None
    return max(0.0, (times[1] - times[0]).total_seconds())


def _check_anchor(directory: Path, anchor: tuple[int, str], head_seq: int) -> Problem | None:
    """The record ``seq`` noted earlier must still be there with the same hash."""
    seq, digest = anchor
    if seq > head_seq:
        return Problem("log", None, seq, f"the log ends at seq {head_seq}, before the anchor {seq}: records at "
                       "the end were removed")
    found = _find_line(directory, seq)
    if found is None:
        return Problem("log", None, seq, "the anchor record is not in the log")
    seg, n, line = found
    parts = split_line(line)
    if parts is None or parts[2].decode() != digest:
        return Problem(seg.name, n, seq, "record differs from the anchor noted earlier")
    return None


def _scan_all(paths: list[Path], progress: Progress | None, threshold: int) -> list[_Scan]:
    sizes = [p.stat().st_size for p in paths]
    workers = min(os.cpu_count() or 1, len(paths))
    if sum(sizes) < threshold or workers < 2 or "fork" not in get_all_start_methods():
        out = []
        for p, size in zip(paths, sizes, strict=True):
            out.append(_scan_file(str(p)))
            if progress:
                progress(size)
        return out
    # Big logs: one process per core; results come back in order, progress as they finish. Forked
    # (not spawned) so that no __main__ is re-imported: the children only read files and hash.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        out = []
        for scan, size in zip(pool.map(_scan_file, [str(p) for p in paths]), sizes, strict=True):
            out.append(scan)
            if progress:
                progress(size)
        return out


def _verify_one(path: Path, public_keys: Sequence[Path], trust: AuditTrust | None,
                progress: Progress | None) -> VerifyReport:
    """One segment file on its own: its lines, header and checkpoint (if beside it); no stitching."""
    m = SEGMENT_RE.match(path.name)
    if not m:
        raise AuditError(f"{path} is not an audit segment (segment-NNNNNNNN.jsonl)")
    t = _trusted(path.parent, public_keys, trust)
    checker = _Checker(t.keys, lambda: rotation_records(path.parent), t.log_id, t.pinned)
    checker.warnings.extend(t.warnings)
    checker.warnings.append("one segment on its own: not checked against the witness or the segments around it")
    scan = _scan_file(str(path))
    if progress:
        progress(scan.size)
    cp_path = path.with_name(checkpoint_name(int(m.group(1))))
    cp = None
    if cp_path.exists():
        try:
            cp = json.loads(cp_path.read_bytes())
        except (OSError, ValueError):
            cp = None
    if scan.header is not None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            checker.prev_checkpoint = json.loads(scan.header)["data"]["prev_checkpoint"]
    elif isinstance(cp, dict):
        checker.prev_checkpoint = cp.get("prev_checkpoint")
    problem = checker.segment(path.name, scan, cp_path if cp_path.exists() else None, last=True, stitch=False)
    status, because = _status(problem, checker, t, None)
    return VerifyReport(str(path), status == INTACT, checker.records, tuple(checker.results), problem,
                        checker.head_seq, checker.head_hash, checker.signed_seq, tuple(sorted(checker.keys)),
                        tuple(checker.warnings), status, problem is None, because)


__all__ = ["CHECKPOINT_RE", "FAILED", "INTACT", "UNVERIFIED", "Problem", "SegmentResult", "VerifyReport",
           "rotation_records", "scan_bytes", "verify_log"]
