"""Bulk commands: ``gatekeeper accounts import`` of 100k and 1M rows, ``gatekeeper screening load`` over 1M profiles.

Each command runs as the user runs it (the CLI, a TOML configuration naming a SQLite store and a
file audit log) in a child process, so that its own time and peak memory are measured, over data
generated into a temporary directory:

- the accounts file is a CSV of the README's header; the legal names are drawn like the screening
  benchmark's customers (``bench/bench_screening.py``): mostly company names, 5% of them listed
  names written differently. Import is measured with no list loaded (the common first import), at
  two sizes a factor of ten apart: the time ratio says whether it grows linearly.
- ``screening load`` loads a CSL-shaped list (the same generator) into the store the larger import
  filled, which re-screens every stored profile against it.
- while each import runs, another writer (``LockProbe``: a thread of the bench's own process, on its
  own connection) takes SQLite's write lock every 20 ms, as the deciding process recording a case or
  a reviewer would: the longest it waited is how long the import held the lock at a stretch, and
  every wait past the store's 5 s busy timeout is a writer that would have failed.
"""

from __future__ import annotations

import csv
import random
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import Row, child_env, run_child

CLI = "gatekeeper.cli.main"
# Issue 19's goals.
IMPORT_GOAL_S, IMPORT_GOAL_MB, IMPORT_GOAL_ROWS = 20.0, 150.0, 1_000_000
LINEAR_MAX_RATIO = 12.0  # x10 rows may take at most x12 the time to count as linear
LOAD_GOAL_S, LOAD_GOAL_PROFILES = 60.0, 1_000_000
BUSY_TIMEOUT_S = 5.0  # the store's default busy timeout: a writer waiting longer fails


def write_config(directory: Path) -> Path:
    cfg = directory / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{directory}/state.db"\ncreate = true\n'
                   f'[audit]\nurl = "file://{directory}/audit"\nsigning_key = "{directory}/key.pem"\n',
                   encoding="utf-8")
    return cfg


def write_accounts(path: Path, n: int, entries: list[dict[str, str]], seed: int) -> None:
    """``n`` account rows (README's CSV header), named like the screening benchmark's customers."""
    from bench.bench_screening import make_customers
    from gatekeeper.accounts import CSV_HEADER

    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        step = 50_000
        for lo in range(0, n, step):
            for p in make_customers(min(step, n - lo), entries, rng):
                w.writerow((p.provider, f"{lo + int(p.account_id):012d}", p.legal_name, p.country,
                            p.headquarters_country, p.ultimate_parent_country, p.kyc_status))


def write_list(path: Path, entries: list[dict[str, str]]) -> None:
    from gatekeeper.screening.parse import CSV_COLUMNS

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(entries)


class LockProbe:
    """Another writer on ``db`` while a command runs: ``BEGIN IMMEDIATE; COMMIT`` every ``every`` seconds
    (once the file exists), with a busy timeout longer than any import, each wait timed."""

    def __init__(self, db: Path, every: float = 0.02) -> None:
        self.db, self.every = db, every
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self.db.exists() and not self._stop.wait(self.every):
            pass
        if self._stop.is_set():
            return
        conn = sqlite3.connect(self.db, timeout=3600, isolation_level=None)
        try:
            while not self._stop.wait(self.every):
                t0 = time.perf_counter()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:  # the file is not a database yet (being created)
                    continue
                self.waits.append(time.perf_counter() - t0)
                conn.execute("COMMIT")
        finally:
            conn.close()

    def figures(self) -> dict[str, Any]:
        return {"lock_probes": len(self.waits), "lock_wait_max_s": round(max(self.waits, default=0.0), 3),
                "lock_waits_over_timeout": sum(w > BUSY_TIMEOUT_S for w in self.waits)}


def _measured(args: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    run = run_child(CLI, args, env=env or child_env(), timeout=timeout)
    out: dict[str, Any] = run.data()
    if run.exit != 0:
        out["error"] = ("killed after the time limit" if run.exit < 0 else run.stderr.strip()[-1500:]) or \
            run.stdout.strip()[-1500:]
        out["timeout_s"] = timeout
    return out


def measure(sizes: tuple[int, int], entries: int, timeout: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Import ``sizes[0]`` then ``sizes[1]`` rows into fresh stores; then load a list of ``entries`` into the larger."""
    from bench.bench_screening import make_list

    listed = make_list(entries, random.Random(7))
    d: dict[str, Any] = {"entries": entries, "imports": []}
    with tempfile.TemporaryDirectory(prefix="gk-bench-bulk-") as tmp:
        base = Path(tmp)
        for n in sizes:
            work = base / f"import-{n}"
            work.mkdir()
            accounts = work / "accounts.csv"
            write_accounts(accounts, n, listed, seed=n)
            log(f"bulk: accounts import of {n:,} rows ({accounts.stat().st_size / 1e6:,.0f} MB)")
            d["imports"].append({"rows": n, "bytes": accounts.stat().st_size,
                                 **measure_import(work, accounts, timeout)})
        big = d["imports"][-1]
        if big["exit"] == 0:
            work = base / f"import-{sizes[-1]}"
            lst = work / "consolidated.csv"
            write_list(lst, listed)
            log(f"bulk: screening load of {entries:,} entries over {sizes[-1]:,} profiles")
            d["screening_load"] = {"profiles": sizes[-1], "entries": entries, **_measured(
                ["screening", "load", str(lst), "--date", "2026-12-01", "--by", "bench",
                 "--config", str(work / "gatekeeper.toml"), "--json"], timeout)}
    return d


def measure_import(work: Path, accounts: Path, timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``accounts import`` of ``accounts`` into a fresh store in ``work`` (its config written there), with
    another writer taking the store's write lock meanwhile (``LockProbe``)."""
    cfg = write_config(work)
    with LockProbe(work / "state.db") as probe:
        out = _measured(["accounts", "import", str(accounts), "--config", str(cfg), "--json"], timeout, env)
    return {**out, **probe.figures()}


def _figure(e: dict[str, Any]) -> str:
    if e["exit"] != 0:
        return f"failed after {e['seconds']:.1f} s" if e["exit"] > 0 else f"killed after {e['seconds']:.0f} s"
    forked = e.get("children_peak_rss_mb", 0.0)
    workers = f" (its workers: up to {forked:,.0f} MB each, shared pages counted in each)" if forked else ""
    return f"{e['seconds']:.2f} s, peak RSS {e['peak_rss_mb']:,.0f} MB{workers}"


def _verdict(e: dict[str, Any], goal_met: bool) -> bool | None:
    """Met/missed from the figures; missed if the command was killed at the time limit (past any goal
    here); unresolved if it failed (the error is in the note)."""
    if e["exit"] == 0:
        return goal_met
    return False if e["exit"] < 0 else None


def rows(d: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    imports = d.get("imports", [])
    first = imports[0] if imports else None
    for e in imports:
        goals: list[str] = []
        checks: list[bool] = []
        note = "the command in a child process, no list loaded"
        if e["rows"] == IMPORT_GOAL_ROWS:
            goals.append(f"<= {IMPORT_GOAL_S:g} s, <= {IMPORT_GOAL_MB:g} MB")
            checks.append(e["exit"] == 0 and e["seconds"] <= IMPORT_GOAL_S and e["peak_rss_mb"] <= IMPORT_GOAL_MB)
        if first is not None and e is not first:
            grow = e["rows"] / first["rows"]
            limit = LINEAR_MAX_RATIO * grow / 10
            goals.append(f"linear: time <= x{limit:g} for x{grow:g} rows")
            if first["exit"] == 0 and e["exit"] == 0:
                ratio = e["seconds"] / max(first["seconds"], 1e-9)
                checks.append(ratio <= limit)
                note += (f"; x{ratio:.1f} the time and x{e['peak_rss_mb'] / max(first['peak_rss_mb'], 1e-9):.1f} "
                         f"the memory of {first['rows']:,} rows")
        if "lock_wait_max_s" in e:
            goals.append(f"other writers wait < {BUSY_TIMEOUT_S:g} s")
            checks.append(e["exit"] == 0 and e["lock_waits_over_timeout"] == 0)
            note += (f"; another writer waited at most {e['lock_wait_max_s']:.2f} s for the write lock "
                     f"({e['lock_probes']:,} tries)")
        if not goals:
            goals.append(f"(goals at {IMPORT_GOAL_ROWS:,} rows, and x10 rows linear)")
        met = _verdict(e, all(checks)) if checks or e["exit"] != 0 else None
        if e["exit"] != 0:
            note = e.get("error", "")[-300:]
        out.append(Row("bulk", f"`accounts import`, {e['rows']:,} rows ({e['bytes'] / 1e6:,.0f} MB CSV)",
                       _figure(e), goal=", ".join(goals), met=met, note=note, data=e))
    s = d.get("screening_load")
    if s:
        at_goal = s["profiles"] == LOAD_GOAL_PROFILES
        goal = f"<= {LOAD_GOAL_S:g} s" + ("" if at_goal else f" at {LOAD_GOAL_PROFILES:,} profiles (not this size)")
        met = _verdict(s, s["seconds"] <= LOAD_GOAL_S) if at_goal else None
        note = "parse the list, replace the entries, re-screen every stored profile; the command in a child process"
        if s["exit"] != 0:
            note = s.get("error", "")[-300:]
        out.append(Row("bulk", f"`screening load` of {s['entries']:,} entries, re-screening {s['profiles']:,} "
                       "profiles", _figure(s), goal=goal, met=met, note=note, data=s))
    return out


# (the two import sizes, list entries, time limit of one command in seconds) per mode
COUNTS: dict[str, tuple[tuple[int, int], int, float]] = {
    "full": ((100_000, 1_000_000), 20_000, 300.0),
    "quick": ((10_000, 100_000), 2_000, 300.0),
    "smoke": ((100, 1_000), 200, 120.0),
}


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    sizes, entries, timeout = COUNTS[mode]
    d = measure(sizes, entries, timeout, log)
    return d, rows(d)
