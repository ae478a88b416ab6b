"""The benchmark harness runs and reports well-formed figures (tiny counts; no timing is asserted).

Every benchmark is run with the smallest counts that exercise it: the engine beside cedarpy, decide(),
the AWS wrapper through a moto server, the audit log (appends, verify, summary), the hook cold start
and screening. What is checked is the shape of what they report, and the harness's own logic (the
percentile, the cache of generated logs, the command line, a failing section).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import __main__ as bench_main  # noqa: E402
from bench import audit, engine, hook, screening, stores, wrapper  # noqa: E402
from bench._common import Latency, Row, Timer, machine, percentile  # noqa: E402
from bench.report import markdown  # noqa: E402


def _log(_: str) -> None:
    return None


def _well_formed_latency(lat: Any, n: int) -> None:
    assert isinstance(lat, Latency)
    assert lat.n == n
    for v in (lat.p50_us, lat.p99_us, lat.mean_us):
        assert math.isfinite(v) and v >= 0
    assert lat.p50_us <= lat.p99_us


def _well_formed_rows(rows: list[Row], section: str) -> None:
    assert rows
    for r in rows:
        assert r.section == section and r.name
        assert r.met is None or isinstance(r.met, bool)
        assert (r.met is None) == (not r.goal) or r.goal  # a verdict only where there is a goal
        json.dumps(r.as_dict(), default=str)  # the JSON report can hold it


@pytest.fixture(scope="module")
def timer() -> Timer:
    return Timer()


# -- the harness's own logic ------------------------------------------------------------------------
def test_percentile_is_nearest_rank() -> None:
    xs = [float(i) for i in range(1, 101)]
    assert percentile(xs, 50) == 50.0
    assert percentile(xs, 99) == 99.0
    assert percentile(xs, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_timer_measures_its_overhead_and_reports_latency(timer: Timer) -> None:
    assert timer.overhead_ns > 0
    calls = []
    lat = timer.latency(lambda: calls.append(1), 50, warmup=7)
    _well_formed_latency(lat, 50)
    assert len(calls) == 57  # warm-up calls, then the timed ones


def test_compare_interleaves_passes_and_keeps_the_least_disturbed(timer: Timer) -> None:
    order: list[str] = []
    res = timer.compare({"a": (lambda: order.append("a"), 30), "b": (lambda: order.append("b"), 30)},
                        passes=3, warmup=0)
    assert order == ["a"] * 10 + ["b"] * 10 + ["b"] * 10 + ["a"] * 10 + ["a"] * 10 + ["b"] * 10
    for lat in res.values():
        _well_formed_latency(lat, 30)
        assert lat.passes == 3 and len(lat.pass_p50_us) == 3
        assert lat.p50_us == pytest.approx(min(lat.pass_p50_us), abs=1e-3)


def test_machine_names_cpu_cores_and_python() -> None:
    m = machine()
    assert m["cpu"] and m["cores"] >= 1 and m["python"].count(".") == 2


def test_markdown_table_has_a_line_per_row_and_escapes_pipes() -> None:
    rows = [Row("engine", "a | b", "1 us", "2 us", "< 2 us", True), Row("audit", "c", "3/s")]
    text = markdown(rows, machine(), mode="smoke", seconds=1.0)
    lines = text.splitlines()
    assert lines[0].startswith("| Area |") and len([x for x in lines if x.startswith("| ")]) == 3
    assert "a \\| b" in text and "| yes |" in text and "Smoke run" in text


# -- each benchmark, tiny -----------------------------------------------------------------------------
def test_engine_beside_cedarpy(timer: Timer) -> None:
    d = engine.measure_engine(timer, 300)
    for key in ("plain", "controlled", "cedar_plain", "cedar_controlled"):
        _well_formed_latency(d[key], 300)
    _well_formed_latency(d["batch"], 5)
    assert d["batch_size"] == 100 and d["rules_in_force"] > 0
    assert d["cedar_internal_us"]["authz_duration_micros"] >= 0
    _well_formed_rows(engine.rows(d, {}), "engine")


def test_decide_end_to_end(timer: Timer) -> None:
    d = engine.measure_decide(timer, 50, 5)
    _well_formed_latency(d["plain"], 50)
    _well_formed_latency(d["controlled_allowed"], 5)
    assert "controlled_pending" in d or d["controlled_pending_error"]
    assert d["audit_bytes"] > 0  # the controlled decisions were recorded
    _well_formed_rows(engine.rows({}, d), "decide")


@pytest.mark.slow
def test_decide_with_each_store_beside_sqlite(timer: Timer) -> None:
    d = stores.measure(timer, 5, _log)
    for path in ("allowed", "licensed"):
        measured = set(d[path])
        assert {"sqlite", "dynamodb"} <= measured and measured | set(d["missing"]) == set(stores.STORES)
        for lat in d[path].values():
            _well_formed_latency(lat, 5)
    rows = stores.rows(d)
    _well_formed_rows(rows, "stores")
    assert len(rows) == 2 * len(stores.STORES)


@pytest.mark.slow
def test_wrapper_through_moto_server() -> None:
    d = wrapper.measure(1, 2, _log)
    for label in ("plain", "controlled"):
        m = d[label]
        assert m["calls_per_client"] == 2
        assert m["median_without_us"] > 0 and m["median_with_us"] > 0
        lo, hi = m["ratio_ci95"]
        assert lo <= hi and m["ratio_from_gatekeeper_time"] >= 1.0
    assert d["controlled"]["gatekeeper_median_us"] > 0
    # The guard's CPU time: a decision and a record cost some, never more than the wall time around them.
    assert 0 < d["controlled"]["gatekeeper_cpu_median_us"] <= d["controlled"]["event_span_p99_us"]
    # Each allowed controlled call is recorded durably: at least one sync for the calls measured (an
    # fdatasync of the guard's, or the result of one the kernel ran, Linux AIO).
    c = d["controlled"]
    assert c["fsyncs"] + c["kernel_syncs"] >= 1 and (c["fsyncs"] == 0 or c["fsync_p50_us"] > 0)
    assert c["fsync_plain_p50_us"] > 0  # the unit of the guard's goal, measured in the run
    assert d["plain"]["fsyncs"] == d["plain"]["kernel_syncs"] == 0  # not recorded (record_all = false)
    rows = wrapper.rows(d)
    _well_formed_rows(rows, "wrapper")
    controlled = next(r for r in rows if "controlled" in r.name)
    assert "own time <= 2 fsyncs" in controlled.goal
    if controlled.data["guard_in_fsyncs"] > wrapper.GUARD_FSYNCS_GOAL:
        assert controlled.met is False


def test_audit_appends_verify_and_summary(tmp_path: Path) -> None:
    a = audit.measure_appends(3, 16)
    assert a["threads_1"]["records"] == 3 and a["threads_8"]["records"] == 16
    assert a["threads_64"]["records"] == 16 and a["threads_64"]["fsyncs"] >= 1
    for t in (1, 8, 64):  # the same appends with a no-op sync: the writer's CPU ceiling
        run = a[f"threads_{t}"]
        assert run["cpu_ceiling_per_second"] > 0 and run["cpu_us_per_record"] > 0
    assert a["threads_8"]["per_second"] > 0 and a["record_bytes"] > 500
    assert a["threads_8"]["fsyncs"] >= 1 and a["threads_8"]["records_per_fsync"] >= 1
    assert 0 < a["threads_1"]["fsync_p10_us"] <= a["threads_1"]["fsync_p50_us"]
    directory = audit.cached_log(120, _log, tmp_path)
    v = audit.measure_verify(directory)
    assert v["records"] >= 120 and v["per_second"] > 0
    h = audit.measure_hash_floor(directory)
    assert h["records"] == v["records"] and h["bytes"] == v["bytes"]  # every line of the log, hashed
    assert h["processes"] == v["processes"] == 1  # a small log: verify checks it in one process, and so the peer
    h2 = audit.measure_hash_floor(directory, processes=2)  # a big log's way: forked processes, same lines
    assert (h2["records"], h2["bytes"], h2["processes"]) == (h["records"], h["bytes"], 2)
    assert h2["per_second_per_process"] == pytest.approx(h2["per_second"] / 2)
    s = audit.measure_summary(directory)
    assert s["records"] == 120 and s["library_seconds"] > 0
    scan = audit.measure_duckdb_scan(directory)
    assert scan["records"] == 120
    rows = audit.rows({"appends": a, "verify": v, "hash_floor": h, "summary": s, "duckdb_scan": scan})
    _well_formed_rows(rows, "audit")
    by_name = {r.name: r for r in rows}
    eight = by_name["durable appends, 8 threads (group commit)"]
    # The 8-thread goal is a share of the run's own ceiling, 8 records an fsync.
    assert eight.data["ceiling_share"] == pytest.approx(
        a["threads_8"]["per_second"] / (8e6 / a["threads_8"]["fsync_p50_us"]))
    assert eight.met == (eight.data["ceiling_share"] >= audit.APPEND_CEILING_SHARE)
    assert by_name["durable appends, 64 threads (group commit)"].met == (
        a["threads_64"]["per_second"] >= audit.APPEND_GOAL)


def test_generated_log_is_cached_between_runs(tmp_path: Path) -> None:
    first = audit.cached_log(50, _log, tmp_path)
    stamp = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    messages: list[str] = []
    again = audit.cached_log(50, messages.append, tmp_path)
    assert again == first and not messages  # reused: nothing generated
    assert {p.name: p.stat().st_mtime_ns for p in again.iterdir()} == stamp
    (tmp_path / "audit-50" / "bench-complete.json").write_text("{not json", encoding="utf-8")
    audit.cached_log(50, messages.append, tmp_path)  # a broken marker: generated afresh
    assert messages and "generating" in messages[0]


@pytest.mark.slow
def test_hook_cold_start_beside_c7n() -> None:
    d = hook.measure(1)
    assert d["gatekeeper_decision"] == "allow" and d["source"] == "bench/bench_hook_cold_start.py"
    assert d["gatekeeper_s"] > 0 and d["c7n_s"] > 0 and d["ratio"] > 0
    # as packaged (the policy bundle beside the configuration): no SDK and no pydantic on the first event
    assert d["gatekeeper_boto3_imported"] is False and d["gatekeeper_pydantic_imported"] is False
    _well_formed_rows(hook.rows(d), "hook")


def test_screening() -> None:
    if not screening.SCRIPT.exists():
        pytest.skip("bench_screening.py is not in this checkout")
    d = screening.measure(200, 100)
    assert d["customers"] == 100 and d["entries"] == 200
    _well_formed_rows(screening.rows(d), "screening")


# -- the command --------------------------------------------------------------------------------------
def test_command_writes_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, md = tmp_path / "r.json", tmp_path / "t.md"
    status = bench_main.main(["--smoke", "--only", "engine", "--out", str(out), "--markdown", str(md),
                              "--cache", str(tmp_path / "cache")])
    assert status == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "smoke" and report["sections"] == ["engine"]
    assert report["machine"]["cpu"] and report["machine"]["cores"] >= 1
    assert {r["section"] for r in report["rows"]} == {"engine", "decide"}
    assert report["results"]["engine"]["plain"]["p50_us"] >= 0
    assert md.read_text(encoding="utf-8") == report["markdown"] == capsys.readouterr().out


def test_unknown_section_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.main(["--only", "engine,warp", "--out", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    assert not (tmp_path / "r.json").exists()


def test_a_failing_section_is_reported_and_the_others_still_run(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("moto would not start")

    monkeypatch.setattr(wrapper, "run", broken)
    monkeypatch.setattr(screening, "SCRIPT", tmp_path / "missing.py")
    out = tmp_path / "r.json"
    status = bench_main.main(["--smoke", "--only", "wrapper,screening", "--out", str(out)])
    assert status == 1
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "moto would not start" in report["results"]["wrapper"]["error"]
    assert [r["section"] for r in report["rows"]] == ["error", "screening"]
    assert "not in this checkout" in report["rows"][1]["note"]


def test_generated_log_is_in_time_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each generating round covers its own share of the 30 days (as a real log: later records, later times)."""
    from gatekeeper.audit.review import AuditReader, Filters

    monkeypatch.setattr(audit, "GENERATE_BATCH", 100)
    directory = audit.cached_log(300, _log, tmp_path)
    with AuditReader(directory) as reader:
        rows = reader.query(Filters(), limit=None)
    assert len(rows) == 300
    rounds = [sorted(str(r["ts"]) for r in rows if int(r["decision_id"][4:12], 16) == lo) for lo in (0, 100, 200)]
    assert [len(x) for x in rounds] == [100, 100, 100]
    assert rounds[0][-1] < rounds[1][0] and rounds[1][-1] < rounds[2][0]  # the rounds do not overlap in time
    assert rounds[0][0].startswith("2026-01-01") and rounds[2][-1] < "2026-01-31"
