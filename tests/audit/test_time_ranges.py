"""A closed segment's time range in its signed checkpoint: written, checked by verify, used by queries.

The writer states the earliest and latest record time of each segment it wrote whole; verify checks
every record's time lies in the stated range (a forged range would hide records from a query); the
reader opens only the sidecars of segments whose range meets the query's. Old logs (checkpoints
without a range) and segments whose range is unknown are read as before. The reference for every
review is the same log with no range in any checkpoint and no sidecar: every segment's JSON parsed.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit._format import (
    GENESIS,
    KIND_SEGMENT,
    TIME_RANGES,
    UnknownTime,
    canonical,
    canonical_time,
    checkpoint_hash,
    checkpoint_ranges,
    encode_line,
    list_segments,
)
from gatekeeper.audit._keys import load_or_create_signer
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.audit.verify import verify_log
from tests.audit.conftest import index_every
from tests.audit.test_review import generate

START = datetime(2025, 3, 1, tzinfo=UTC)


def _checkpoints(directory: Path) -> list[Path]:
    _, cps = list_segments(directory)
    return [cps[i] for i in sorted(cps)]


def _resign(cp_path: Path, key: Path, change: Any) -> None:
    """Rewrite a checkpoint with ``change(payload)`` applied and signed again by ``key`` (the log's own
    key: what a holder of the key, or an old writer, could write)."""
    cp = json.loads(cp_path.read_bytes())
    payload = {k: v for k, v in cp.items() if k != "signature"}
    change(payload)
    sig = load_or_create_signer(key).sign(canonical(payload))
    cp_path.write_text(json.dumps({**payload, "signature": sig}, indent=2, sort_keys=True) + "\n")


def as_an_old_writer_wrote(src: Path, dst: Path, key: Path) -> None:
    """The records of log ``src`` written to ``dst`` as a writer before time ranges wrote them: the same
    records and segments, checkpoints without ``time_range`` (so a new chain: each segment header
    names the previous checkpoint), signed by ``key``, and every closed segment's sidecar."""
    signer = load_or_create_signer(key)
    dst.mkdir()
    segments, cps = list_segments(src)
    seq, prev, prev_cp = 0, GENESIS.encode(), None
    for i in sorted(segments):
        first_seq, first_prev, data = seq + 1, prev.decode(), b""
        for raw in segments[i].read_bytes().splitlines():
            rec = {k: v for k, v in json.loads(raw).items() if k not in ("seq", "prev_hash", "hash")}
            if rec.get("kind") == KIND_SEGMENT:
                rec["data"]["prev_checkpoint"] = prev_cp
            seq += 1
            line, prev = encode_line(seq, prev, orjson.dumps(rec)[1:-1])
            data += line
        (dst / segments[i].name).write_bytes(data)
        if i in cps:
            payload = {k: v for k, v in json.loads(cps[i].read_bytes()).items() if k not in ("signature", TIME_RANGES)}
            payload.update(first_seq=first_seq, first_prev_hash=first_prev, head_hash=prev.decode(), bytes=len(data),
                           prev_checkpoint=prev_cp)
            text = json.dumps({**payload, "signature": signer.sign(canonical(payload))}, indent=2, sort_keys=True)
            (dst / cps[i].name).write_text(text + "\n")
            prev_cp = checkpoint_hash(payload)
    _, cps = list_segments(dst)
    index_every([(dst / cps[i].name.replace(".checkpoint.json", ".jsonl"), cps[i]) for i in cps])


def json_only(src: Path, dst: Path) -> None:
    """``src`` without checkpoints or sidecars: a reader then parses every segment's JSON (the reference)."""
    dst.mkdir()
    for seg in src.glob("segment-*.jsonl"):
        shutil.copy(seg, dst / seg.name)


def _times(segment: Path) -> dict[str | None, list[datetime]]:
    """The times of the segment's records by kind (those Python reads)."""
    out: dict[str | None, list[datetime]] = {}
    for line in segment.read_text().splitlines():
        rec = json.loads(line)
        try:
            at = datetime.fromisoformat(rec["ts"])
        except ValueError:
            continue
        out.setdefault(rec.get("kind"), []).append(at if at.tzinfo else at.replace(tzinfo=UTC))
    return out


WIDE = ["2000-01-01T00:00:00.000000+00:00", "2099-01-01T00:00:00.000000+00:00"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """(new, old, new_json, old_json): a log of many segments whose records come partly out of time
    order (so that segments' ranges overlap), with events and a few records in other time forms; the
    same records as a writer before time ranges wrote them; and each without checkpoints or sidecars
    (the references: every segment's JSON parsed)."""
    base = tmp_path_factory.mktemp("ranges")
    new = base / "new"
    rng = random.Random(7)
    decisions = generate(400, seed=3)
    with FileAuditLog(new, signer=load_or_create_signer(base / "key.pem"), segment_max_bytes=25_000) as log:
        for i, d in enumerate(decisions):
            rec = decision_record(d)
            # Mostly in time order, with stragglers from up to ten days earlier or later.
            at = START + timedelta(hours=7 * i + rng.choice([0, 0, 0, rng.uniform(-240, 240)]))
            rec["ts"] = at.isoformat(timespec="microseconds")
            if i % 37 == 5:
                # Another offset, in the canonical length: verify's shape check sends it the slow way.
                rec["ts"] = at.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="microseconds")
            if i % 53 == 7:
                rec["ts"] = at.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")  # naive: UTC
            log.append(rec)
            if i % 9 == 0:
                log.append({**event_record("case.opened", "gatekeeper", {"case_id": f"case-{i}"}),
                            "ts": at.isoformat()})
            if i == 200:  # a time the reader reads but the writer cannot tell for sure: no range
                log.append({"kind": "note.odd", "ts": f"{at:%Y-%m-%d}T24:00:00", "actor": "x", "data": {}})
            if i == 300:  # not a time to the reader either, but the writer cannot tell that for sure
                log.append({"kind": "note.bad", "ts": "not a time", "actor": "x", "data": {}})
    assert len(_checkpoints(new)) >= 10
    # Small segments (25 kB) get no sidecar from the writer: index them, as a log of large ones has.
    index_every([(cp.with_name(cp.name.replace(".checkpoint.json", ".jsonl")), cp) for cp in _checkpoints(new)])
    old = base / "old"
    as_an_old_writer_wrote(new, old, base / "key.pem")
    assert not any(TIME_RANGES in json.loads(p.read_bytes()) for p in _checkpoints(old))
    json_only(new, base / "new_json")
    json_only(old, base / "old_json")
    return new, old, base / "new_json", base / "old_json"


def test_checkpoints_state_each_segments_range(logs: tuple[Path, Path, Path, Path]) -> None:
    new, *_ = logs
    segments, checkpoints = list_segments(new)
    unknown = 0
    for i in sorted(checkpoints):
        cp = json.loads(checkpoints[i].read_bytes())
        if cp[TIME_RANGES] is None:
            unknown += 1
            # only the segments with the odd times
            assert "T24:00:00" in segments[i].read_text() or "not a time" in segments[i].read_text()
            continue
        times = _times(segments[i])
        assert checkpoint_ranges(cp) == {k: (min(ts), max(ts)) for k, ts in times.items()}
        assert set(times) >= {"audit.segment", "decision"}
    assert unknown == 2


def test_new_and_old_logs_verify(logs: tuple[Path, Path, Path, Path]) -> None:
    new, old, *_ = logs
    for d in (new, old):
        report = verify_log(d, public_keys=[d.parent / "key.pem"])
        assert report.status == "intact", report.problem


def test_a_narrowed_range_fails_verify_even_signed(logs: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    new, *_ = logs
    copy = tmp_path / "log"
    shutil.copytree(new, copy)
    cp_path = next(p for p in _checkpoints(copy) if json.loads(p.read_bytes())[TIME_RANGES])
    ranges = json.loads(cp_path.read_bytes())[TIME_RANGES]
    k = next(n for n, r in enumerate(ranges) if r[0] == "decision")
    hidden = ranges[k][1]

    def narrow(payload: dict[str, Any]) -> None:
        lo = datetime.fromisoformat(payload[TIME_RANGES][k][1]) + timedelta(microseconds=1)
        payload[TIME_RANGES][k][1] = lo.isoformat(timespec="microseconds")

    _resign(cp_path, new.parent / "key.pem", narrow)
    report = verify_log(copy, public_keys=[new.parent / "key.pem"])
    assert report.status == "failed"
    assert report.problem is not None and report.problem.segment == cp_path.name
    assert "leaving out records" in report.problem.message and hidden in report.problem.message
    # Without the key, the same change breaks the signature.
    cp = json.loads(cp_path.read_bytes())
    cp[TIME_RANGES][k][2] = cp[TIME_RANGES][k][1]
    cp_path.write_text(json.dumps(cp))
    report = verify_log(copy, public_keys=[new.parent / "key.pem"])
    assert report.problem is not None and "signature does not verify" in report.problem.message


@pytest.mark.parametrize("value", [[["decision", "2025-03-01", "2025-04-01"]], [["decision", None, None]],
                                   [["decision", *reversed(WIDE)]], [["decision", *WIDE], ["decision", *WIDE]],
                                   [[1, *WIDE]], [["decision", WIDE[0]]], "2025", {"decision": WIDE}])
def test_a_malformed_range_fails_verify(logs: tuple[Path, Path, Path, Path], tmp_path: Path, value: Any) -> None:
    new, *_ = logs
    copy = tmp_path / "log"
    shutil.copytree(new, copy)
    cp_path = _checkpoints(copy)[2]
    _resign(cp_path, new.parent / "key.pem", lambda p: p.__setitem__(TIME_RANGES, value))
    report = verify_log(copy, public_keys=[new.parent / "key.pem"])
    assert report.problem is not None and report.problem.segment == cp_path.name
    assert "malformed" in report.problem.message


@pytest.mark.parametrize("change", ["wider", "none"])
def test_a_wider_or_no_range_hides_nothing_and_verifies(logs: tuple[Path, Path, Path, Path], tmp_path: Path,
                                                        change: str) -> None:
    """On the last checkpoint: any other one changed would no longer be the one the next segment's
    header names (verify reports that first)."""
    new, *_ = logs
    copy = tmp_path / "log"
    shutil.copytree(new, copy)
    last = _checkpoints(copy)[-1]
    if change == "wider":
        _resign(last, new.parent / "key.pem", lambda p: p.__setitem__(
            TIME_RANGES, [[k, *WIDE] for k, *_ in p[TIME_RANGES]] + [["extra.kind", *WIDE]]))
    else:
        _resign(last, new.parent / "key.pem", lambda p: p.__setitem__(TIME_RANGES, None))
    assert verify_log(copy, public_keys=[new.parent / "key.pem"]).status == "intact"


def test_a_range_over_an_unknown_time_fails_verify(logs: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    """The segment with a "T24:00:00" record has no range; one stated for it cannot be checked: refused."""
    new, *_ = logs
    copy = tmp_path / "log"
    shutil.copytree(new, copy)
    cp_path = next(p for p in _checkpoints(copy) if json.loads(p.read_bytes())[TIME_RANGES] is None)
    _resign(cp_path, new.parent / "key.pem", lambda p: p.__setitem__(
        TIME_RANGES, [[k, *WIDE] for k in (None, "audit.segment", "case.opened", "decision", "note.bad", "note.odd")]))
    report = verify_log(copy, public_keys=[new.parent / "key.pem"])
    assert report.problem is not None and "cannot be told" in report.problem.message


def test_a_query_reads_only_the_footers_of_segments_in_range(logs: tuple[Path, Path, Path, Path]) -> None:
    new, old, *_ = logs
    day = Filters(since=START + timedelta(days=40), until=START + timedelta(days=41))
    with AuditReader(new) as r:
        assert r.query(day, limit=100)
        unread = set(r._pending)
        assert len(unread) >= len(_checkpoints(new)) - 4  # only the segments around that day were opened
        for i in unread:  # and none of those left unread holds a decision of that day
            seg = new / f"segment-{i:08d}.jsonl"
            assert not [t for t in _times(seg).get("decision", []) if day.since <= t < day.until]  # type: ignore[operator]
    with AuditReader(old) as r:  # no ranges in the checkpoints: every footer is read, as before
        r.query(day, limit=100)
        assert not r._pending


def _rows(directory: Path, f: Filters, limit: int | None, newest: bool) -> str:
    with AuditReader(directory) as r:
        return json.dumps([r.query(f, limit=limit, newest=newest), r.count(f), r.summary(f)], default=str)


def _unhashed(rows: str) -> Any:
    """The rows without the chain's hashes (the old writer's chain differs: its headers name other checkpoints)."""
    out = json.loads(rows)
    for r in out[0]:
        r.pop("hash")
    return out


SPAN_H = 7 * 400 + 240
times = st.integers(min_value=-300, max_value=SPAN_H + 300).map(lambda h: START + timedelta(hours=h))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=st.none() | times, length=st.none() | st.integers(0, 2000),
       decision=st.none() | st.sampled_from(["allow", "deny", "pending"]), country=st.none() | st.sampled_from(["CN"]),
       kind=st.sampled_from(["decision", "all", "case.*", "note.*"]), limit=st.none() | st.integers(1, 150),
       newest=st.booleans(), until_only=st.booleans())
def test_same_results_as_reading_every_segment(logs: tuple[Path, Path, Path, Path], since: datetime | None,
                                               length: int | None, decision: str | None, country: str | None,
                                               kind: str, limit: int | None, newest: bool, until_only: bool) -> None:
    new, old, new_json, old_json = logs
    until = None if length is None else (since or START) + timedelta(hours=length)
    f = Filters(since=None if until_only else since, until=until, decision=decision, country=country, kind=kind)
    want = _rows(new_json, f, limit, newest)
    assert _rows(new, f, limit, newest) == want
    old_want = _rows(old_json, f, limit, newest)
    assert _rows(old, f, limit, newest) == old_want
    assert _unhashed(old_want) == _unhashed(want)


# -- the writer's reading of a time against the reader's (DuckDB) ------------------------------------
_fields = st.tuples(st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                    st.integers(0, 61), st.integers(0, 61), st.integers(0, 999_999),
                    st.sampled_from(["", "Z", "+00:00", "-05:30", "+14:00", "+24:00", "+0100"]),
                    st.sampled_from(["T", " "]), st.integers(0, 7))


@settings(max_examples=400, deadline=None)
@given(_fields)
def test_a_time_the_writer_reads_is_the_time_duckdb_reads(f: tuple[Any, ...]) -> None:
    y, mo, d, h, mi, s, us, off, sep, digits = f
    frac = f".{us:06d}"[:digits + 1] if digits else ""
    text = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    (theirs,) = con.execute("SELECT try_cast(? AS TIMESTAMPTZ)", [text]).fetchone()  # type: ignore[misc]
    try:
        ours = canonical_time(text)
    except UnknownTime:
        return  # the writer states no range then: nothing to agree on
    if ours is None:
        assert theirs is None
    else:
        assert theirs is not None and theirs.astimezone(UTC) == datetime.fromisoformat(ours)


@pytest.mark.parametrize(("value", "want"), [
    ("2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:00:00.000000+00:00"),
    ("2026-01-01T02:00:00+02:00", "2026-01-01T00:00:00.000000+00:00"),
    ("2026-01-01 00:00:00", "2026-01-01T00:00:00.000000+00:00"),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000000+00:00"),
    (None, None),
])
def test_canonical_time(value: Any, want: str | None) -> None:
    assert canonical_time(value) == want


@pytest.mark.parametrize("value", ["2026-01-01T24:00:00", "2026-1-1T00:00:00", " 2026-01-01T00:00:00",
                                   # UTC outside the calendar (an OverflowError, once uncaught)
                                   "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-05:30",
                                   "2026-02-30T00:00:00", "2026-01-01", 20260101, 1.5, True, ["x"], "not a time"])
def test_times_the_writer_cannot_tell(value: Any) -> None:
    with pytest.raises(UnknownTime):
        canonical_time(value)


def test_a_segment_the_writer_did_not_write_whole_states_no_range(tmp_path: Path) -> None:
    """A writer that continues an open segment (after a crash, or beside another process) does not
    know the times of the records it did not write: that checkpoint has no range; the next has."""
    signer = load_or_create_signer(tmp_path / "key.pem")
    first = FileAuditLog(tmp_path / "log", signer=signer, sidecars=False)
    first.append(event_record("case.opened", "x", {}))
    # (the writer "crashed": its fds are simply abandoned) Another writer continues its segment.
    with FileAuditLog(tmp_path / "log", signer=signer, sidecars=False) as second:
        second.append(event_record("case.opened", "x", {}))
    with FileAuditLog(tmp_path / "log", signer=signer, sidecars=False) as third:
        third.append(event_record("case.opened", "x", {}))
    cps = _checkpoints(tmp_path / "log")
    assert len(cps) == 2
    assert json.loads(cps[0].read_bytes())[TIME_RANGES] is None
    assert checkpoint_ranges(json.loads(cps[1].read_bytes())) is not None
    assert verify_log(tmp_path / "log", public_keys=[tmp_path / "key.pem"]).status == "intact"


def test_a_record_whose_time_falls_off_the_calendar_is_written_and_states_no_range(tmp_path: Path) -> None:
    """A ``ts`` whose UTC is outside the calendar (year 1 at +14:00) is the record's own business: the
    append succeeds and the segment's checkpoint states no time range, rather than the append failing."""
    signer = load_or_create_signer(tmp_path / "key.pem")
    with FileAuditLog(tmp_path / "log", signer=signer, sidecars=False) as log:
        rec = {**event_record("case.opened", "x", {}), "ts": "0001-01-01T00:00:00+14:00"}
        assert log.append(rec)["seq"] == 2  # after the segment's header
    [cp] = _checkpoints(tmp_path / "log")
    assert json.loads(cp.read_bytes())[TIME_RANGES] is None
    assert verify_log(tmp_path / "log", public_keys=[tmp_path / "key.pem"]).status == "intact"

