"""``gatekeeper audit query`` and ``verify`` over a log whose checkpoints state their time ranges.

The command answers exactly as over the same segments read whole (no checkpoints, no sidecars), and
as over the same records written by a writer before time ranges; ``verify`` accepts both logs and
fails, naming the checkpoint, one whose range was narrowed and re-signed with the log's own key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit._format import TIME_RANGES, list_segments
from gatekeeper.audit._keys import load_or_create_signer
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.cli.audit import app
from tests.audit.test_review import generate
from tests.audit.test_time_ranges import _resign, as_an_old_writer_wrote, json_only

runner = CliRunner()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-ranges")
    new = base / "new"
    with FileAuditLog(new, signer=load_or_create_signer(base / "key.pem"), segment_max_bytes=20_000) as log:
        for i, d in enumerate(generate(150, seed=5)):
            log.append(decision_record(d))
            if i % 10 == 0:
                log.append({**event_record("case.opened", "x", {"i": i}), "ts": d.evaluated_at.isoformat()})
    out = {"new": new, "old": base / "old", "new_json": base / "new_json", "old_json": base / "old_json"}
    as_an_old_writer_wrote(new, out["old"], base / "key.pem")
    json_only(new, out["new_json"])
    json_only(out["old"], out["old_json"])
    return out


def _query(directory: Path, *args: str) -> Any:
    result = runner.invoke(app, ["query", "--from", str(directory), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("args", [
    ("--since", "2025-03-10", "--until", "2025-03-11"),
    ("--since", "2025-03-10T05:00:00+00:00", "--until", "2025-03-20T13:00:00+00:00", "--limit", "7"),
    ("--since", "2025-03-30",),
    ("--until", "2025-03-04", "--kind", "all"),
    ("--since", "2025-03-05", "--until", "2025-03-09", "--kind", "case.*", "--limit", "3"),
    ("--since", "2026-01-01",),
])
def test_query_gives_what_reading_every_segment_gives(logs: dict[str, Path], args: tuple[str, ...]) -> None:
    want = _query(logs["new_json"], *args)
    assert _query(logs["new"], *args) == want
    assert _query(logs["old"], *args) == _query(logs["old_json"], *args)
    old = _query(logs["old"], *args)  # the same records: only the chain's hashes differ
    assert [{k: v for k, v in r.items() if k != "hash"} for r in old["records"]] == \
        [{k: v for k, v in r.items() if k != "hash"} for r in want["records"]] and old["total"] == want["total"]


def test_verify_accepts_both_and_names_a_narrowed_range(logs: dict[str, Path], tmp_path: Path) -> None:
    key = str(logs["new"].parent / "key.pem")
    for name in ("new", "old"):
        # No witness in the test's default store: "unverified" (exit 1), nothing wrong found.
        result = runner.invoke(app, ["verify", "--from", str(logs[name]), "--public-key", key, "--json"])
        report = json.loads(result.stdout)
        assert report["consistent"] and report["problem"] is None and report["status"] == "unverified", result.output
    copy = tmp_path / "log"
    shutil.copytree(logs["new"], copy)
    _, cps = list_segments(copy)
    cp = cps[min(cps)]

    def narrow(payload: dict[str, Any]) -> None:
        for r in payload[TIME_RANGES]:
            if r[0] == "decision":
                r[1] = r[2]  # only the last decision left in range: the others hidden from a query

    _resign(cp, logs["new"].parent / "key.pem", narrow)
    shown = _query(copy, "--since", "2025-03-01", "--until", "2025-03-02")
    assert shown["total"] < _query(logs["new"], "--since", "2025-03-01", "--until", "2025-03-02")["total"]
    result = runner.invoke(app, ["verify", "--from", str(copy), "--public-key", key, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert report["status"] == "failed" and cp.name in text and "leaving out records" in text
