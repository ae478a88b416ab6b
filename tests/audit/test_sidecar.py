"""Columnar sidecars: review reads them for closed segments and gets exactly what the JSON gives."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit._format import list_segments
from gatekeeper.audit._sidecar import (
    COLUMNS,
    MIN_BYTES,
    MIN_RECORDS,
    SIDECAR_SCHEMA,
    check_sidecar,
    read_checkpoint,
    segment_wanted,
    sidecar_matches,
    sidecar_path,
    wanted,
    write_missing,
    write_sidecar,
)
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.review import AuditReader, Filters
from tests.audit.conftest import index_every, open_log
from tests.audit.test_review import generate


def _closed(directory: Path) -> list[tuple[Path, Path]]:
    segments, checkpoints = list_segments(directory)
    return [(segments[i], checkpoints[i]) for i in sorted(checkpoints)]


@pytest.fixture(params=["all closed", "last open"])
def two_logs(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """The same log twice: ``with_sidecars`` has every closed segment's sidecar, ``plain`` none;
    with "last open", the last segment has no checkpoint (as while the writer is appending)."""
    with FileAuditLog(tmp_path / "audit", signer=None, segment_max_bytes=30_000, sidecars=False) as log:
        for i, d in enumerate(generate(150)):
            log.append(decision_record(d))
            if i % 10 == 0:
                log.append(event_record("case.opened", "gatekeeper", {"case_id": f"case-{i}"}))
    plain = tmp_path / "audit"
    if request.param == "last open":
        _, checkpoints = list_segments(plain)
        checkpoints[max(checkpoints)].unlink()
    with_sidecars = tmp_path / "audit-columns"
    shutil.copytree(plain, with_sidecars)
    written = index_every(_closed(with_sidecars))  # small segments: write_missing would skip them
    assert len(written) == len(_closed(with_sidecars)) >= 3
    return plain, with_sidecars


FILTERS = [Filters(), Filters(kind="all"), Filters(decision="deny"), Filters(country="CN"), Filters(chip="H100"),
           Filters(since=datetime(2025, 3, 10, tzinfo=UTC), until=datetime(2025, 3, 20, tzinfo=UTC)),
           Filters(customer="Lion City"), Filters(rule="kyc-flag"), Filters(kind="case.*")]


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_sidecars_give_the_same_query_summary_and_records(two_logs: tuple[Path, Path], filters: Filters) -> None:
    plain, with_sidecars = two_logs
    with AuditReader(plain) as a, AuditReader(with_sidecars) as b:
        assert not a.sidecars and len(b.sidecars) == len(_closed(with_sidecars))
        assert len(b.files) == len(list_segments(with_sidecars)[0]) - len(b.sidecars)
        assert a.query(filters, limit=None) == b.query(filters, limit=None)
        assert a.summary(filters) == b.summary(filters)
        assert a.count(filters) == b.count(filters) > 0 or a.count(filters) == 0 == b.count(filters)
        if filters.kind == "decision":
            assert a.decision_records(filters) == b.decision_records(filters)


def test_a_sidecar_that_names_another_head_is_ignored(two_logs: tuple[Path, Path]) -> None:
    plain, with_sidecars = two_logs
    (seg, cp), (seg2, _) = _closed(with_sidecars)[:2]
    # The second segment's sidecar put in place of the first's: its metadata names another head.
    shutil.copy(sidecar_path(seg2), sidecar_path(seg))
    assert not sidecar_matches(sidecar_path(seg), read_checkpoint(cp) or {})
    with AuditReader(with_sidecars) as r, AuditReader(plain) as p:
        assert str(seg) in r.files and str(sidecar_path(seg)) not in r.sidecars
        assert r.query(Filters(kind="all"), limit=None) == p.query(Filters(kind="all"), limit=None)


def test_a_truncated_sidecar_is_ignored(two_logs: tuple[Path, Path]) -> None:
    _, with_sidecars = two_logs
    seg, _ = _closed(with_sidecars)[0]
    side = sidecar_path(seg)
    side.write_bytes(side.read_bytes()[:100])
    with AuditReader(with_sidecars) as r:
        assert str(seg) in r.files


def test_check_sidecar_catches_altered_rows_with_the_metadata_kept(two_logs: tuple[Path, Path]) -> None:
    _, with_sidecars = two_logs
    seg, cp = _closed(with_sidecars)[0]
    side = sidecar_path(seg)
    assert check_sidecar(seg, side, COLUMNS) is None
    # A forged sidecar: one decision flipped to allow, written with the genuine checkpoint's metadata.
    forged = side.with_name("forged.parquet")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN seq = (SELECT min(seq) FROM read_parquet('{side}') "
                 f"WHERE decision = 'deny') THEN 'allow' ELSE decision END AS decision) FROM read_parquet('{side}')) "
                 f"TO '{forged}' (FORMAT parquet)")
    con.close()
    checkpoint = read_checkpoint(cp)
    assert checkpoint is not None
    write_sidecar(seg, checkpoint, COLUMNS)  # the genuine one again, then swap the rows in
    problem = check_sidecar(seg, forged, COLUMNS)
    assert problem is not None and "differ" in problem


def test_the_writer_writes_sidecars_for_closed_segments(tmp_path: Path) -> None:
    # Segments past MIN_BYTES, then a last one closed by close() with what is left: small.
    with open_log(tmp_path, segment_max_bytes=MIN_BYTES + 4096) as log:
        for d in generate(150):
            log.append(decision_record(d))
    directory = tmp_path / "audit"
    closed = _closed(directory)
    assert len(closed) >= 3
    small = closed[-1][0]
    assert small.stat().st_size < MIN_BYTES and (read_checkpoint(closed[-1][1]) or {})["count"] < MIN_RECORDS
    closed = closed[:-1]
    import threading
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(t.name.startswith("gatekeeper-sidecar-") for t in threading.enumerate()):
        time.sleep(0.05)
    for seg, cp in closed:
        assert sidecar_matches(sidecar_path(seg), read_checkpoint(cp) or {}), seg.name
        assert check_sidecar(seg, sidecar_path(seg), COLUMNS) is None
    assert not sidecar_path(small).exists()
    with AuditReader(directory) as r:
        assert len(r.sidecars) == len(closed) and r.count(Filters()) == 150 and str(small) in r.files


def test_cli_index_writes_missing_sidecars_and_check_reports_forgery(mixed: tuple[Path, Path, list[Path]]) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.main import app

    _, plain, small = mixed
    runner = CliRunner()
    first = runner.invoke(app, ["audit", "index", "--from", str(plain), "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert len(out["written"]) == out["closed_segments"] - len(small) == 2 and out["problems"] == {}
    assert out["small"] == len(small)
    again = json.loads(runner.invoke(app, ["audit", "index", "--from", str(plain), "--json"]).stdout)
    assert again["written"] == []  # nothing stale: nothing rewritten
    seg = next(s for s, _ in _closed(plain) if s.name not in {x.name for x in small})
    side = sidecar_path(seg)
    con = duckdb.connect()
    forged = side.with_name("x.parquet")
    meta = dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{side}')").fetchall())
    kv = ", ".join(f"{k}: '{v}'" for k, v in meta.items())
    con.execute(f"COPY (SELECT * REPLACE ('Someone Else' AS legal_name) FROM read_parquet('{side}')) TO '{forged}' "
                f"(FORMAT parquet, KV_METADATA {{{kv}}})")
    con.close()
    forged.replace(side)
    checked = runner.invoke(app, ["audit", "index", "--from", str(plain), "--check", "--json"])
    assert checked.exit_code == 1
    assert seg.name in json.loads(checked.stdout)["problems"]


def _refooter(side: Path, target: Path, **changes: str | None) -> None:
    """Copy sidecar ``side`` to ``target`` with its footer's keys changed (None: removed), rows kept."""
    con = duckdb.connect()
    meta = dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{side}')").fetchall())
    meta.update(changes)
    kv = ", ".join(f"{k}: '{v.replace(chr(39), chr(39) * 2)}'" for k, v in meta.items() if v is not None)
    con.execute(f"COPY (SELECT * FROM read_parquet('{side}')) TO '{target}' (FORMAT parquet, KV_METADATA {{{kv}}})")
    con.close()


def _footer(side: Path) -> dict[str, str]:
    con = duckdb.connect()
    try:
        return dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{side}')").fetchall())
    finally:
        con.close()


def test_the_footer_groups_and_time_range_are_checked(two_logs: tuple[Path, Path]) -> None:
    _, with_sidecars = two_logs
    seg, _ = _closed(with_sidecars)[0]
    side = sidecar_path(seg)
    meta = _footer(side)
    assert meta["schema"] == SIDECAR_SCHEMA and meta["ts_min"] and meta["ts_max"]
    groups = json.loads(meta["groups"])
    assert sum(g["n"] for g in groups) == int(meta["count"])  # every record in one group
    more = [{**groups[0], "n": groups[0]["n"] + 1}, *groups[1:]]
    moved = [{**groups[0], "decision": "allow" if groups[0]["decision"] != "allow" else "deny"}, *groups[1:]]
    forged: dict[str, dict[str, str | None]] = {
        "a group's count": {"groups": json.dumps(more)},
        "a group's decision": {"groups": json.dumps(moved)},
        "a group dropped": {"groups": json.dumps(groups[1:])},
        "the groups dropped": {"groups": None},
        "the groups unparseable": {"groups": "[{not json"},
        "the time range": {"ts_max": "2025-03-01T00:00:00+00:00"},
    }
    for what, change in forged.items():
        target = side.with_name(f"forged-{len(what)}.parquet")
        _refooter(side, target, **change)
        problem = check_sidecar(seg, target, COLUMNS)
        assert problem is not None, what
        assert "groups" in problem or "time range" in problem or "unreadable" in problem, (what, problem)


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """(log, json_only, small): a log written by the writer (sidecars on) whose closed segments are in
    turn small (a few records, each a log opened and closed, as the Lambda hook does per event) and
    large (past ``MIN_RECORDS``), its last segment open; the same log without any sidecar; and the
    small closed segments."""
    directory = tmp_path / "audit"
    records = [decision_record(d) for d in generate(2 * MIN_RECORDS + 40)]
    big, small = records[:2 * MIN_RECORDS], records[2 * MIN_RECORDS:]
    chunks = [small[0:1], big[:MIN_RECORDS], small[1:4], small[4:6], big[MIN_RECORDS:], small[6:9], small[9:20]]
    for i, chunk in enumerate(chunks):
        with open_log(tmp_path, trust=True) as log:  # each close seals a segment: header + the chunk
            log.append_many(chunk)
            if i % 2:
                log.append(event_record("case.opened", "gatekeeper", {"case_id": f"case-{i}"}))
    with open_log(tmp_path, trust=True) as log:
        log.append_many(small[20:])
    _, checkpoints = list_segments(directory)
    checkpoints[max(checkpoints)].unlink()  # the last segment open, as while the writer appends
    closed = _closed(directory)
    small_segments = [seg for seg, cp in closed if not segment_wanted(seg, read_checkpoint(cp) or {})]
    assert len(small_segments) == len(closed) - 2 >= 5
    json_only = tmp_path / "json-only"
    shutil.copytree(directory, json_only, ignore=shutil.ignore_patterns("*.columns.parquet"))
    return directory, json_only, small_segments


def test_a_small_segment_gets_no_sidecar_and_is_read_from_its_json(mixed: tuple[Path, Path, list[Path]]) -> None:
    directory, json_only, small = mixed
    closed = _closed(directory)
    for seg, cp in closed:
        checkpoint = read_checkpoint(cp) or {}
        if seg in small:
            assert not sidecar_path(seg).exists() and checkpoint["count"] < MIN_RECORDS, seg.name
            assert seg.stat().st_size < MIN_BYTES
        else:
            assert sidecar_matches(sidecar_path(seg), checkpoint, current=True), seg.name
    with AuditReader(directory) as r, AuditReader(json_only) as plain:
        assert sorted(r.sidecars) == sorted(str(sidecar_path(s)) for s, _ in closed if s not in small)
        assert {str(s) for s in small} <= set(r.files) and not plain.sidecars
        for f in [*FILTERS, Filters(kind="audit.*")]:
            assert r.query(f, limit=None) == plain.query(f, limit=None), f
            assert r.query(f, limit=5) == plain.query(f, limit=5), f
            assert r.summary(f) == plain.summary(f), f
            assert r.count(f) == plain.count(f), f
        assert r.count(Filters()) == 2 * MIN_RECORDS + 40


def test_write_missing_and_index_leave_small_segments_alone(mixed: tuple[Path, Path, list[Path]]) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.main import app

    directory, json_only, small = mixed
    # Nothing to back-fill in the log the writer wrote, and nothing at the next run either.
    assert write_missing(directory, COLUMNS, _closed(directory)) == []
    assert not any(sidecar_path(s).exists() for s in small)
    # The JSON-only copy: only the large segments are back-filled, once.
    written = write_missing(json_only, COLUMNS, _closed(json_only))
    assert len(written) == 2 and write_missing(json_only, COLUMNS, _closed(json_only)) == []
    runner = CliRunner()
    out = runner.invoke(app, ["audit", "index", "--from", str(directory), "--check", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"closed_segments": len(small) + 2, "written": [], "small": len(small),
                                      "problems": {}}
    text = runner.invoke(app, ["audit", "index", "--from", str(directory), "--check"])
    assert text.exit_code == 0 and f"{len(small)} too small for one" in text.stdout and "2 checked" in text.stdout
    # A small segment's sidecar written anyway (an earlier release wrote one for every segment) is
    # still read and still checked: a forged one is caught.
    seg = small[0]
    cp = read_checkpoint(seg.with_name(seg.name.replace(".jsonl", ".checkpoint.json")))
    assert cp is not None
    side = write_sidecar(seg, cp, COLUMNS)
    with AuditReader(directory) as r:
        assert str(side) in r.sidecars
    _refooter(side, side.with_name("forged.parquet"), ts_max="2025-03-01T00:00:00+00:00")
    side.with_name("forged.parquet").replace(side)
    checked = runner.invoke(app, ["audit", "index", "--from", str(directory), "--check", "--json"])
    assert checked.exit_code == 1 and list(json.loads(checked.stdout)["problems"]) == [seg.name]
    # A large segment whose sidecar went missing is still back-filled.
    large = next(s for s, _ in _closed(directory) if s not in small)
    sidecar_path(large).unlink()
    assert write_missing(directory, COLUMNS, _closed(directory)) == [sidecar_path(large)]


def test_verify_does_not_ask_for_the_sidecars_of_small_segments(mixed: tuple[Path, Path, list[Path]]) -> None:
    from tests.audit.conftest import verify

    directory, _, small = mixed
    assert small
    report = verify(directory)
    assert report.status == "intact" and report.problem is None and report.warnings == (), report
    assert report.records > 2 * MIN_RECORDS + 40


@pytest.mark.parametrize(("count", "nbytes", "want"), [
    (MIN_RECORDS - 1, MIN_BYTES - 1, False), (MIN_RECORDS, 0, True), (1, MIN_BYTES, True), (0, 0, False),
    (None, 10, True), ("12", 10, True), (True, 10, True),
])
def test_which_segments_want_a_sidecar(count: object, nbytes: int, want: bool) -> None:
    assert wanted(count, nbytes) is want
