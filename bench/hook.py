"""Hook cold start: a fresh process imports the Lambda handler and decides its first event, beside a
fresh process importing Cloud Custodian's policy loading with its EC2 resources.

Runs the hooks engineer's ``bench/bench_hook_cold_start.py`` (which owns the measurement: both peers
timed from the child's first statement, interleaved run by run) in a child process and folds its
report in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import ROOT, Row

GOAL_FRACTION = 1 / 3
SCRIPT = ROOT / "bench" / "bench_hook_cold_start.py"


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gk-bench-hook-") as tmp:
        out = Path(tmp) / "hook.json"
        proc = subprocess.run([sys.executable, str(SCRIPT), "--runs", str(runs), "--out", str(out)],
                              capture_output=True, text=True, cwd=ROOT, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed ({proc.returncode}): {proc.stderr[-1500:]}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    data["source"] = f"bench/{SCRIPT.name}"
    return data


def rows(d: dict[str, Any]) -> list[Row]:
    gk, c7n = d.get("gatekeeper_s"), d.get("c7n_s")
    if gk is None or c7n is None:
        return [Row("hook", "Lambda cold start (import + first decision)", "see JSON",
                    note=f"measured by {d.get('source', SCRIPT.name)}", data=d)]
    return [Row("hook", "Lambda handler cold start: import + first decision (fresh process)",
                f"{gk * 1000:.0f} ms ({d['ratio']:.2f} of c7n)",
                f"c7n policy loading with EC2 resources: {c7n * 1000:.0f} ms", "<= 1/3 of c7n",
                d["ratio"] <= GOAL_FRACTION,
                note=f"measured by {d.get('source', SCRIPT.name)}; CPU {d['gatekeeper_cpu_s'] * 1000:.0f} / "
                     f"{d['c7n_cpu_s'] * 1000:.0f} ms ({d['cpu_ratio']:.2f}); pydantic imported: "
                     f"{'yes' if d.get('gatekeeper_pydantic_imported') else 'no'}", data=d)]


RUNS = {"full": 7, "quick": 3, "smoke": 1}


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    runs = RUNS[mode]
    log(f"hook: cold start, {runs} fresh processes each ({SCRIPT.name})")
    d = measure(runs)
    return d, rows(d)
