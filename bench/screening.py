"""Screening: 10,000 customers against a 20,000-entry restricted-party list.

Runs the screening engineer's ``bench/bench_screening.py`` (synthetic CSL-shaped list, 5% of the
customers listed names written differently) in a child process and folds its report in.
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

SCRIPT = ROOT / "bench" / "bench_screening.py"


def measure(entries: int, customers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gk-bench-screening-") as tmp:
        out = Path(tmp) / "screening.json"
        proc = subprocess.run([sys.executable, str(SCRIPT), "--entries", str(entries), "--customers", str(customers),
                               "--out", str(out)], capture_output=True, text=True, cwd=ROOT, check=False,
                              timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed ({proc.returncode}): {proc.stderr[-1500:]}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def rows(d: dict[str, Any]) -> list[Row]:
    if "error" in d:
        return [Row("screening", "screening", "not measured", note=d["error"][-300:], data=d)]
    what = f"{d.get('customers', '?'):,} customers x {d.get('entries', '?'):,} list entries"
    out = [Row("screening", f"screen {what} (in memory)",
               f"index {d.get('index_seconds', 0):.2f} s + match {d.get('match_seconds', 0):.2f} s "
               f"({d.get('customers_per_second') or 0:,.0f} customers/s, {d.get('matcher_hits', '?')} hits)",
               data=d)]
    if "store_load_seconds" in d:
        out.append(Row("screening", "screening load: parse list, replace entries, re-screen every profile (SQLite)",
                       f"{d['store_load_seconds']:.2f} s", data={}))
    return out


# (list entries, customers) per mode
COUNTS = {"full": (20_000, 10_000), "quick": (2_000, 1_000), "smoke": (200, 100)}


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    if not SCRIPT.exists():
        d: dict[str, Any] = {"error": f"{SCRIPT.name} is not in this checkout"}
        return d, rows(d)
    entries, customers = COUNTS[mode]
    log(f"screening: {customers:,} customers x {entries:,} entries ({SCRIPT.name})")
    d = measure(entries, customers)
    return d, rows(d)
