"""README's performance table is the bench's output: the block between the markers is what
``bench.report.readme_block`` renders from the published report (docs/bench-latest.json)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import __main__ as bench_main  # noqa: E402
from bench import report, screening  # noqa: E402
from bench._common import Row, machine  # noqa: E402


def _block(text: str) -> str:
    m = re.search(re.escape(report.BEGIN) + ".*?" + re.escape(report.END), text, re.S)
    assert m, "README.md has no bench markers"
    return m.group(0)


def test_readme_table_is_the_published_report() -> None:
    published = json.loads(report.PUBLISHED.read_text(encoding="utf-8"))
    assert _block(report.README.read_text(encoding="utf-8")) == report.readme_block(published)
    # The published run is named with its mode and covers sections of the bench (the stores section,
    # which needs a PostgreSQL server, is published apart in docs/benchmarks.md).
    assert published["mode"] in ("full", "quick")
    assert f"({published['mode']})" in _block(report.README.read_text(encoding="utf-8"))
    assert set(published["sections"]) <= set(bench_main.SECTIONS)
    assert {r["section"] for r in published["rows"]} >= {"engine", "audit", "scaling", "bulk"}


def _report(mode: str = "full") -> dict[str, Any]:
    rows = [Row("scaling", "engine with 13 rules", "p50 1 us", goal="< 2 us", met=True).as_dict(),
            Row("bulk", "accounts import", "killed after 300 s", goal="<= 20 s", met=False).as_dict()]
    return {"schema": "gatekeeper.bench/v1", "started": "2026-12-04T17:00:00+00:00", "seconds": 12.0,
            "mode": mode, "sections": ["scaling", "bulk"], "machine": machine(), "rows": rows,
            "results": {"big": "not published"}, "markdown": "not published"}


def test_write_readme_replaces_only_the_block(tmp_path: Path) -> None:
    readme, published = tmp_path / "README.md", tmp_path / "bench-latest.json"
    readme.write_text(f"# T\n\nbefore\n\n{report.BEGIN}\nold table\n{report.END}\n\nafter\n", encoding="utf-8")
    report.write_readme(_report(), readme, published)
    text = readme.read_text(encoding="utf-8")
    slim = json.loads(published.read_text(encoding="utf-8"))
    assert "results" not in slim and "markdown" not in slim  # the raw figures stay in bench/results
    assert text.startswith("# T\n\nbefore\n\n") and text.endswith("\n\nafter\n") and "old table" not in text
    assert _block(text) == report.readme_block(slim)
    assert "| Scaling | engine with 13 rules | p50 1 us |  | < 2 us | yes |" in text
    assert "| Bulk | accounts import | killed after 300 s |  | <= 20 s | **no** |" in text
    report.write_readme(slim, readme, published)  # rendering again changes nothing
    assert readme.read_text(encoding="utf-8") == text


def test_write_readme_needs_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no bench markers"):
        report.write_readme(_report(), readme, tmp_path / "p.json")
    assert readme.read_text(encoding="utf-8") == "# no markers\n" and not (tmp_path / "p.json").exists()


def test_readme_from_a_saved_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme, published, saved = tmp_path / "README.md", tmp_path / "bench-latest.json", tmp_path / "r.json"
    readme.write_text(f"{report.BEGIN}\n{report.END}\n", encoding="utf-8")
    saved.write_text(json.dumps(_report("quick")), encoding="utf-8")
    monkeypatch.setattr(report, "README", readme)
    monkeypatch.setattr(report, "PUBLISHED", published)
    assert bench_main.main(["--readme-from", str(saved)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "(quick)" in text and "Quick pass (--quick)" in text


def test_readme_refuses_a_smoke_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"{report.BEGIN}\n{report.END}\n", encoding="utf-8")
    monkeypatch.setattr(report, "README", readme)
    monkeypatch.setattr(report, "PUBLISHED", tmp_path / "p.json")
    monkeypatch.setattr(screening, "SCRIPT", tmp_path / "missing.py")  # a section that runs at once
    assert bench_main.main(["--smoke", "--only", "screening", "--readme", "--out", str(tmp_path / "r.json")]) == 1
    assert readme.read_text(encoding="utf-8") == f"{report.BEGIN}\n{report.END}\n"
    assert (tmp_path / "r.json").exists() and not (tmp_path / "p.json").exists()
