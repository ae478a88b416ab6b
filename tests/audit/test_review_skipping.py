"""Reviews that read only what they need give exactly what a full scan of the JSON gives.

The log is in time order across several closed segments (a record every 7 hours, about eight days a
segment) plus the open one, with events, a record without a readable time, and decisions whose days
straddle segment boundaries. The reference is the same log without sidecars: every review then parses
every segment's JSON. Filters hit no segment, one, two across a boundary, many, and the open one;
whole days (answered from the footers) and bounds that cut a day (the cut segments' rows read).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit._format import list_segments
from gatekeeper.audit._sidecar import (
    COLUMNS,
    SIDECAR_SCHEMA,
    check_sidecar,
    read_checkpoint,
    sidecar_matches,
    sidecar_path,
    write_missing,
)
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.review import AuditReader, Filters
from tests.audit.conftest import index_every
from tests.audit.test_review import generate

START = datetime(2025, 3, 1, tzinfo=UTC)  # generate()'s first decision; one every 7 hours


def _t(days: float) -> datetime:
    return START + timedelta(days=days)


def _closed(directory: Path) -> list[tuple[Path, Path]]:
    segments, checkpoints = list_segments(directory)
    return [(segments[i], checkpoints[i]) for i in sorted(checkpoints)]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plain, indexed): the same log without sidecars and with every closed segment's sidecar."""
    base = tmp_path_factory.mktemp("skipping")
    plain = base / "plain"
    with FileAuditLog(plain, signer=None, segment_max_bytes=30_000, sidecars=False) as log:
        for i, d in enumerate(generate(240)):
            log.append(decision_record(d))
            if i % 9 == 0:
                at = d.evaluated_at.isoformat()
                log.append({**event_record("case.opened", "gatekeeper", {"case_id": f"case-{i}"}), "ts": at})
            if i == 50:  # the same decision again two hours later: a group of two records in one day
                log.append({**decision_record(d), "decision_id": "dec-50-again",
                            "ts": (d.evaluated_at + timedelta(hours=2)).isoformat()})
            if i == 100:
                log.append({"kind": "note.bad", "ts": "not a time", "actor": "x", "data": {}})
    # The last segment stays open (no checkpoint), as while the writer appends.
    _, checkpoints = list_segments(plain)
    checkpoints[max(checkpoints)].unlink()
    indexed = base / "indexed"
    shutil.copytree(plain, indexed)
    assert len(index_every(_closed(indexed))) == len(_closed(indexed)) >= 6  # small segments, all indexed
    return plain, indexed


def _boundary(directory: Path, k: int) -> datetime:
    """The time of the first decision of closed segment ``k`` (0-based): a segment boundary."""
    seg, _ = _closed(directory)[k]
    for line in seg.read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "decision":
            return datetime.fromisoformat(rec["ts"])
    raise AssertionError("no decision in the segment")


# (id, filters given the indexed log's directory)
CASES: list[tuple[str, Callable[[Path], Filters]]] = [
    ("nothing", lambda d: Filters()),
    ("all kinds", lambda d: Filters(kind="all")),
    ("events", lambda d: Filters(kind="case.*")),
    ("deny", lambda d: Filters(decision="deny")),
    ("country CN, chip H100", lambda d: Filters(country="CN", chip="H100")),
    ("rule, provider", lambda d: Filters(rule="kyc-flag", provider="aws")),
    ("customer", lambda d: Filters(customer="Lion City")),
    ("before the log", lambda d: Filters(until=_t(-3))),
    ("after the log", lambda d: Filters(since=_t(400))),
    ("a gap inside one segment", lambda d: Filters(since=_t(10) + timedelta(hours=1),
                                                   until=_t(10) + timedelta(hours=2))),
    ("one day", lambda d: Filters(since=_t(12), until=_t(13))),
    ("one day, deny", lambda d: Filters(since=_t(12), until=_t(13), decision="deny")),
    ("a bound that cuts a group", lambda d: Filters(since=_t(14) + timedelta(hours=15), until=_t(15))),
    ("hours across a boundary", lambda d: Filters(since=_boundary(d, 2) - timedelta(hours=9),
                                                 until=_boundary(d, 2) + timedelta(hours=15))),
    ("from a boundary", lambda d: Filters(since=_boundary(d, 3))),
    ("up to a boundary", lambda d: Filters(until=_boundary(d, 3))),
    ("days over many segments", lambda d: Filters(since=_t(5), until=_t(50))),
    ("cut days over many segments", lambda d: Filters(since=_t(5.3), until=_t(50.6), country="CN")),
    ("customer over a range", lambda d: Filters(since=_t(5), until=_t(20), customer="Acme")),
    ("the open segment", lambda d: Filters(since=_t(68))),
    ("events in a range", lambda d: Filters(kind="case.*", since=_t(20), until=_t(40))),
    ("naive times", lambda d: Filters(since=datetime(2025, 3, 12), until=datetime(2025, 3, 20, 5))),
]


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_skipping_gives_what_a_full_scan_gives(logs: tuple[Path, Path], make: Callable[[Path], Filters],
                                                tmp_path: Path) -> None:
    plain, indexed = logs
    f = make(indexed)
    with AuditReader(plain) as full, AuditReader(indexed) as fast:
        assert not full.sidecars and len(fast.sidecars) == len(_closed(indexed))
        everything = full.query(f, limit=None)
        assert fast.query(f, limit=None) == everything
        assert fast.count(f) == full.count(f) == len(everything)
        for limit in (1, 3, 40):
            assert fast.query(f, limit=limit) == everything[:limit]
            assert fast.query(f, limit=limit, newest=True) == everything[::-1][:limit]
        assert fast.summary(f) == full.summary(f)
        if f.kind == "decision":
            assert fast.decision_records(f) == full.decision_records(f)
        assert fast.export(f, "csv", tmp_path / "a.csv") == full.export(f, "csv", tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_filters_exercise_their_cases(logs: tuple[Path, Path]) -> None:
    """The cases above mean what their names say (else the comparison proves little)."""
    plain, indexed = logs
    cases = dict(CASES)
    with AuditReader(plain) as r:
        assert r.count(cases["before the log"](indexed)) == r.count(cases["after the log"](indexed)) == 0
        assert r.count(cases["a gap inside one segment"](indexed)) == 0
        assert r.count(cases["one day"](indexed)) > 0 and r.count(cases["the open segment"](indexed)) > 0
        assert r.count(cases["hours across a boundary"](indexed)) >= 2
        assert next(x["decision_id"] for x in r.query(cases["a bound that cuts a group"](indexed), limit=None)) \
            == "dec-50-again"
        assert r.summary(Filters(kind="all"))["by_day"][-1]["day"] == "unknown"  # the record without a time
    with AuditReader(indexed) as r:
        boundary = cases["hours across a boundary"](indexed)
        seqs = [row["seq"] for row in r.query(boundary, limit=None)]
        segs = {i for i, (seg, cp) in enumerate(_closed(indexed)) for s in seqs
                if (c := read_checkpoint(cp)) and c["first_seq"] <= s <= c["last_seq"]}
        assert len(segs) == 2  # the range's records come from both sides of the boundary


def _reads(reader: AuditReader, f: Filters) -> tuple[int, int]:
    """(segments answered by their footers, segments whose rows are read) for ``f``."""
    grouped, scanned = reader._plan(f)
    return len(grouped), len(scanned)


def test_only_the_segments_in_range_are_read(logs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, indexed = logs
    n_closed = len(_closed(indexed))
    with AuditReader(indexed) as r:
        # Unfiltered, or on what the footers keep: every closed segment from its footer, the open one read.
        for f in (Filters(), Filters(decision="deny"), Filters(country="CN", chip="H100", provider="gcp"),
                  Filters(kind="all"), Filters(rule="kyc-flag")):
            grouped, scanned = _reads(r, f)
            assert scanned == 1 and grouped <= n_closed, f
        assert _reads(r, Filters()) == (n_closed, 1)
        # Whole days in one closed segment: its footer, no closed segment's rows (the open segment, whose
        # time range no footer states, is always read).
        assert _reads(r, Filters(since=_t(12), until=_t(13))) == (1, 1)
        assert _reads(r, Filters(until=_t(-3))) == (0, 1)
        assert _reads(r, Filters(since=_t(400))) == (0, 1)
        # A bound between two records of one group (decision 50 at 14 days 14:00, again at 16:00): the
        # segment it cuts is read; a bound that splits no group is answered from the footer.
        assert _reads(r, Filters(since=_t(14) + timedelta(hours=15), until=_t(15))) == (0, 2)
        assert _reads(r, Filters(since=_t(14) + timedelta(hours=13), until=_t(15))) == (1, 1)
        # A customer: only the segments in range are read.
        assert _reads(r, Filters(since=_t(12), until=_t(13), customer="Acme")) == (0, 2)
        assert _reads(r, Filters(customer="Acme"))[1] == n_closed + 1
        # A query with a limit stops at the first segment that holds enough.
        read: list[int] = []
        select = AuditReader._select

        def counting(self: AuditReader, f: Filters, parts: Any, limit: int | None, newest: bool) -> Any:
            read.append(len(parts))
            return select(self, f, parts, limit, newest)

        monkeypatch.setattr(AuditReader, "_select", counting)
        assert len(r.query(Filters(), limit=5)) == 5 and read == [1]
        read.clear()
        assert len(r.query(Filters(customer="Acme"), limit=5)) == 5 and sum(read) <= 2  # 1, then 2 more if short
        read.clear()
        newest = r.query(Filters(), limit=40, newest=True)
        # The open segment, then the newest closed segments, whose footers say how many they hold.
        assert read[0] == 1 and len(read) == 2 and sum(read) <= 3 and newest[0]["seq"] > newest[-1]["seq"]


def _refooter(side: Path, **changes: str | None) -> None:
    """Rewrite sidecar ``side`` with its footer's keys changed (None: removed), its rows kept."""
    con = duckdb.connect()
    meta = dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{side}')").fetchall())
    meta.update(changes)
    kv = ", ".join(f"{k}: '{v.replace(chr(39), chr(39) * 2)}'" for k, v in meta.items() if v is not None)
    tmp = side.with_name("tmp.parquet")
    con.execute(f"COPY (SELECT * FROM read_parquet('{side}')) TO '{tmp}' (FORMAT parquet, KV_METADATA {{{kv}}})")
    con.close()
    tmp.replace(side)


FILTERS = [Filters(), Filters(decision="flag"), Filters(since=_t(12), until=_t(13)),
           Filters(since=_t(30), country="SG"), Filters(kind="all")]


def _same(plain: Path, other: Path) -> None:
    with AuditReader(plain) as a, AuditReader(other) as b:
        for f in FILTERS:
            assert b.summary(f) == a.summary(f), f
            assert b.query(f, limit=None) == a.query(f, limit=None), f
            assert b.query(f, limit=4, newest=True) == a.query(f, limit=4, newest=True), f
            assert b.count(f) == a.count(f), f


@pytest.mark.parametrize("damage", ["missing", "truncated", "another head", "groups unparseable", "no groups",
                                    "no time range", "time range unparseable"])
def test_a_damaged_or_missing_sidecar_falls_back_on_the_json(logs: tuple[Path, Path], tmp_path: Path,
                                                            damage: str) -> None:
    plain, indexed = logs
    copy = tmp_path / "log"
    shutil.copytree(indexed, copy)
    (seg, _cp), (seg2, _) = _closed(copy)[2:4]
    side = sidecar_path(seg)
    if damage == "missing":
        side.unlink()
    elif damage == "truncated":
        side.write_bytes(side.read_bytes()[:200])
    elif damage == "another head":
        shutil.copy(sidecar_path(seg2), side)
    elif damage == "groups unparseable":
        _refooter(side, groups="[{broken")
    elif damage == "no groups":  # as a segment with more than GROUPS_MAX groups
        _refooter(side, groups=None)
    elif damage == "no time range":
        _refooter(side, ts_min=None, ts_max=None)
    else:
        _refooter(side, ts_min="yesterday")
    with AuditReader(copy) as r:
        if damage in ("missing", "truncated", "another head"):
            assert str(seg) in r.files and str(side) not in r.sidecars
        else:
            assert str(side) in r.sidecars  # its rows are still good: only the shortcut is lost
    _same(plain, copy)


def test_a_v1_sidecar_is_read_for_its_rows_and_rewritten_by_index(logs: tuple[Path, Path], tmp_path: Path) -> None:
    plain, indexed = logs
    copy = tmp_path / "log"
    shutil.copytree(indexed, copy)
    for seg, _ in _closed(copy)[:3]:
        _refooter(sidecar_path(seg), schema="gatekeeper.audit.columns/v1", ts_min=None, ts_max=None, groups=None,
                  summary="{}")
    with AuditReader(copy) as r:
        assert len(r.sidecars) == len(_closed(copy))
        assert _reads(r, Filters())[1] == 3 + 1  # the three v1 segments' rows and the open segment
    _same(plain, copy)
    for seg, _ in _closed(copy)[:3]:
        assert check_sidecar(seg, sidecar_path(seg), COLUMNS) is None  # its rows are right
    rewritten = write_missing(copy, COLUMNS, _closed(copy))
    assert sorted(p.name for p in rewritten) == sorted(sidecar_path(s).name for s, _ in _closed(copy)[:3])
    for seg, cp in _closed(copy):
        assert sidecar_matches(sidecar_path(seg), read_checkpoint(cp) or {}, current=True)
    with AuditReader(copy) as r:
        assert _reads(r, Filters()) == (len(_closed(copy)), 1)
    _same(plain, copy)


def test_index_check_validates_the_footers(logs: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.main import app

    _, indexed = logs
    copy = tmp_path / "log"
    shutil.copytree(indexed, copy)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "index", "--from", str(copy), "--check", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["problems"] == {}
    seg, _ = _closed(copy)[1]
    side = sidecar_path(seg)
    meta = dict(duckdb.connect().execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{side}')")
                .fetchall())
    assert meta["schema"] == SIDECAR_SCHEMA
    groups = json.loads(meta["groups"])
    # A forged footer hides a deny from every footer-answered summary: the check catches it.
    deny = next(g for g in groups if g["decision"] == "deny")
    forged = [{**g, "n": g["n"] - 1} if g is deny else g for g in groups]
    _refooter(side, groups=json.dumps([g for g in forged if g["n"] > 0]))
    bad = runner.invoke(app, ["audit", "index", "--from", str(copy), "--check", "--json"])
    assert bad.exit_code == 1
    assert "groups" in json.loads(bad.stdout)["problems"][seg.name]
