"""The scaling series and the bulk commands of the bench, at tiny sizes (no timing is asserted).

What is checked: the replicated packs go through the real loader and never change a decision; the
series report one entry a size; a child's peak memory is its own (not the bench process's); the
review commands and the bulk commands run and report what they found; and the verdict rules (met,
missed, unresolved) for figures given by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import audit, bulk, scaling  # noqa: E402
from bench._common import Timer, child_env, compiled_child_env, run_child, run_warm  # noqa: E402


def _log(_: str) -> None:
    return None


@pytest.fixture(scope="module")
def timer() -> Timer:
    return Timer()


# -- rules ----------------------------------------------------------------------------------------------
def test_replicated_packs_load_through_the_real_loader(tmp_path: Path) -> None:
    import yaml

    from gatekeeper.policy import load_policies, shipped_policies_dir

    shipped = load_policies([shipped_policies_dir()])
    files = scaling.replicated_packs(3, tmp_path)
    policies = load_policies(files)
    # A rule may compile into several entries (one per stretch of unchanged country groups), so the
    # rules are counted by id: every shipped rule, three times over, each copy under its own id.
    defined = sum(len(yaml.safe_load(p.read_text(encoding="utf-8")).get("rules") or [])
                  for p in shipped_policies_dir().glob("*.yaml"))
    assert len({(r.pack_id, r.rule_id) for r in shipped.rules}) == defined
    ids = {(r.pack_id, r.rule_id) for r in policies.rules}
    assert len(ids) == 3 * defined and len({rule for _, rule in ids}) == len(ids)  # distinct ids
    assert len(files) == 3 * len(list(shipped_policies_dir().glob("*.yaml")))


def test_rules_series_keeps_the_shipped_decisions(timer: Timer) -> None:
    series = scaling.measure_rules(timer, 40, (1, 2))
    assert [s["copies"] for s in series] == [1, 2]
    assert series[1]["rules_in_force"] == 2 * series[0]["rules_in_force"] > 0
    for s in series:
        assert 0 <= s["plain"]["p50_us"] <= s["plain"]["p99_us"]
    rows = scaling.rule_rows(series)
    assert len(rows) == 2 and all(r.met is not None for r in rows)
    assert "x2 rules" in rows[-1].note


# -- profiles ---------------------------------------------------------------------------------------------
def test_profiles_series_measures_lookup_and_decide(timer: Timer) -> None:
    series = scaling.measure_profiles(timer, (30, 120), 20, 3)
    assert [s["profiles"] for s in series] == [30, 120]
    for s in series:
        assert 10 <= s["lookup_miss"]["n"] <= 20 and s["lookup_hit"]["n"] == 20
        assert s["decide_controlled"]["n"] == 5  # one call in each of 5 passes
        assert s["lookup_miss"]["p50_us"] > 0
    rows = scaling.profile_rows(series)
    assert rows[0].goal == "" and rows[0].met is None  # the base of the comparison
    assert "flat" in rows[1].goal and isinstance(rows[1].met, bool)


# -- child processes ------------------------------------------------------------------------------------
def test_a_child_reports_its_own_peak_memory_not_the_parents(tmp_path: Path) -> None:
    (tmp_path / "gk_bench_alloc.py").write_text(
        "import sys\nblock = bytearray(int(sys.argv[1]) * 1024 * 1024)\nblock[::4096] = b'x' * len(block[::4096])\n",
        encoding="utf-8")
    env = child_env(PYTHONPATH=str(tmp_path))
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"y" * len(ballast[::4096])  # the parent is now large; the small child must not look so
    small = run_child("gk_bench_alloc", ["1"], env=env)
    big = run_child("gk_bench_alloc", ["200"], env=env)
    del ballast
    assert small.exit == 0 and big.exit == 0, small.stderr + big.stderr
    assert 0 < small.peak_rss_mb < 100
    assert 200 <= big.peak_rss_mb < 300


def test_measured_children_read_compiled_bytecode_written_by_the_uncounted_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as this environment has it
    (tmp_path / "gk_bench_mod.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tmp_path / "gk_bench_probe.py").write_text(
        "import importlib.util, json, os, sys\n"
        "spec = importlib.util.find_spec('gk_bench_mod')\n"
        "print(json.dumps({'cached': spec.cached, 'exists': os.path.exists(spec.cached),\n"
        "                  'prefix': sys.pycache_prefix}))\n", encoding="utf-8")
    env = compiled_child_env(PYTHONPATH=str(tmp_path))
    assert "PYTHONDONTWRITEBYTECODE" not in env
    first = run_child("gk_bench_probe", [], env=env)
    assert first.exit == 0, first.stderr
    assert json.loads(first.stdout)["exists"] is False  # nothing compiled yet
    (tmp_path / "gk_bench_probe.py").write_text(
        "import gk_bench_mod\n" + (tmp_path / "gk_bench_probe.py").read_text(encoding="utf-8"), encoding="utf-8")
    run = run_warm("gk_bench_probe", [], env=env)
    found = json.loads(run.stdout)
    assert run.exit == 0 and found["exists"] is True, run.stderr
    assert found["prefix"] == env["PYTHONPYCACHEPREFIX"] and found["cached"].startswith(found["prefix"])
    assert not (tmp_path / "__pycache__").exists()  # nothing written into the source tree


def test_a_child_past_its_time_limit_is_killed(tmp_path: Path) -> None:
    (tmp_path / "gk_bench_sleep.py").write_text("import time\ntime.sleep(30)\n", encoding="utf-8")
    run = run_child("gk_bench_sleep", [], env=child_env(PYTHONPATH=str(tmp_path)), timeout=0.5)
    assert run.exit < 0 and run.seconds < 10 and run.peak_rss_mb == 0


@pytest.mark.slow
def test_review_commands_over_a_generated_log(tmp_path: Path) -> None:
    directory = audit.cached_log(150, _log, tmp_path)
    d = scaling.measure_review(directory)
    assert d["sidecars"] == d["segments"] >= 1
    assert d["summary"]["exit"] == 0 and d["summary"]["total"] == 150
    assert d["summary_filtered"]["exit"] == 0 and 0 < d["summary_filtered"]["total"] < 150
    q = d["query"]
    assert q["exit"] == 0 and q["returned"] == min(100, q["total"]) and 0 < q["total"] < 150
    assert all(d[k]["peak_rss_mb"] > 10 for k in ("summary", "summary_filtered", "query"))
    # The figure is the median of the counted runs, each of which is kept.
    assert len(q["runs_s"]) == scaling.REVIEW_RUNS and q["seconds"] == sorted(q["runs_s"])[scaling.REVIEW_RUNS // 2]
    assert q["load"] >= 0 and (q["dirty_mb"] is None or q["dirty_mb"] >= 0)


@pytest.mark.slow
def test_bulk_import_and_screening_load() -> None:
    d = bulk.measure((40, 400), 60, 120, _log)
    assert [e["rows"] for e in d["imports"]] == [40, 400]
    assert all(e["exit"] == 0 and e["peak_rss_mb"] > 10 for e in d["imports"]), d
    assert all({"lock_probes", "lock_wait_max_s", "lock_waits_over_timeout"} <= e.keys() for e in d["imports"]), d
    s = d["screening_load"]
    assert s["exit"] == 0 and s["profiles"] == 400 and s["entries"] == 60, s
    rows = bulk.rows(d)
    assert [r.section for r in rows] == ["bulk"] * 3
    assert "linear" in rows[1].goal and isinstance(rows[1].met, bool)


# -- verdicts from figures given by hand ----------------------------------------------------------------
def _cmd(seconds: float, mb: float, exit: int = 0, **extra: Any) -> dict[str, Any]:
    return {"seconds": seconds, "peak_rss_mb": mb, "exit": exit, "total": 100, "returned": 100, **extra}


def _review(n: int, seconds: float, mb: float) -> dict[str, Any]:
    return {"records": n, "sidecars": 2, "segments": 2, "startup": _cmd(0.1, 40),
            "summary": _cmd(seconds, mb), "summary_filtered": _cmd(seconds, mb), "query": _cmd(0.1, mb)}


def test_audit_verdicts_time_and_memory() -> None:
    rows = scaling.audit_rows([_review(1_000_000, 0.25, 100), _review(5_000_000, 1.4, 110)])
    assert [r.met for r in rows] == [True] * 6
    assert "memory flat" in rows[3].goal and "start-up alone" in rows[0].peer
    rows = scaling.audit_rows([_review(1_000_000, 0.25, 100), _review(5_000_000, 1.4, 300)])
    assert [r.met for r in rows[3:]] == [False] * 3  # memory grew x3
    rows = scaling.audit_rows([_review(1_000_000, 0.5, 100)])
    assert [r.met for r in rows] == [False, False, True]
    rows = scaling.audit_rows([_review(100_000, 0.5, 100)])  # the summary goals are at 1M and 5M
    assert [r.met for r in rows] == [None, None, True] and "not this size" in rows[0].goal


def test_audit_failed_command_is_reported() -> None:
    r = _review(1_000_000, 0.2, 100)
    r["query"] = {"seconds": 1.0, "peak_rss_mb": 50, "exit": 1, "error": "no audit log at /x"}
    rows = scaling.audit_rows([r])
    assert rows[2].gatekeeper == "failed" and rows[2].met is None and "no audit log" in rows[2].note


def test_bulk_verdicts() -> None:
    def imp(rows: int, seconds: float, mb: float, exit: int = 0) -> dict[str, Any]:
        return {"rows": rows, "bytes": rows * 70, **_cmd(seconds, mb, exit)}

    good = bulk.rows({"imports": [imp(100_000, 1.5, 90), imp(1_000_000, 15.0, 120)],
                      "screening_load": {"profiles": 1_000_000, "entries": 20_000, **_cmd(50, 300)}})
    assert [r.met for r in good] == [None, True, True]
    slow = bulk.rows({"imports": [imp(100_000, 1.0, 90), imp(1_000_000, 15.0, 120)]})
    assert slow[1].met is False and "x15.0 the time" in slow[1].note  # within 20 s but not linear
    fat = bulk.rows({"imports": [imp(100_000, 1.5, 90), imp(1_000_000, 15.0, 900)]})
    assert fat[1].met is False
    killed = bulk.rows({"imports": [imp(100_000, 1.5, 90)],
                        "screening_load": {"profiles": 1_000_000, "entries": 20_000, **_cmd(300, 0, -9),
                                           "error": "killed after the time limit"}})
    assert killed[1].met is False and killed[1].gatekeeper.startswith("killed after 300 s")
    failed = bulk.rows({"imports": [imp(100_000, 1.5, 90), imp(1_000_000, 2.0, 50, exit=1)]})
    assert failed[1].met is None and failed[1].gatekeeper.startswith("failed")
    probe = {"lock_probes": 400, "lock_wait_max_s": 0.4, "lock_waits_over_timeout": 0}
    brief = bulk.rows({"imports": [{**imp(100_000, 1.5, 90), **probe}, {**imp(1_000_000, 15.0, 120), **probe}]})
    assert [r.met for r in brief] == [True, True] and "waited at most 0.40 s" in brief[1].note
    held = {**probe, "lock_wait_max_s": 9.6, "lock_waits_over_timeout": 1}  # a writer would have failed
    long = bulk.rows({"imports": [{**imp(100_000, 1.5, 90), **held}, {**imp(1_000_000, 15.0, 120), **held}]})
    assert [r.met for r in long] == [False, False] and "wait < 5 s" in long[1].goal
