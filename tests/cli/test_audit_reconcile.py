"""``gatekeeper audit reconcile``: reviewer records without their change, through the real app.

Reviewers' commands run through the CLI and all match (exit 0); a record written as a crash would
leave it (in the log, never committed) is listed with what the store holds instead (exit 1), in the
table and with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gatekeeper.cli._common import EXIT_ERROR, EXIT_OK
from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper
from tests.cli.test_reviewer_audit import EXPIRES, _case, home, run

__all__ = ["home"]  # the fixture


def test_reconcile_lists_a_record_whose_change_never_committed(home: Path) -> None:
    cfg = home / "gatekeeper.toml"
    case_id = _case(cfg)
    assert run(cfg, "cases", "approve", case_id, "--licence", "L-1", "--expires", EXPIRES, "--by",
               "alice").exit_code == EXIT_OK
    assert run(cfg, "screening", "clear", "sugon-bakery", "el-sugon-0004", "--by", "alice", "--reason",
               "German bakery").exit_code == EXIT_OK
    clean = run(cfg, "audit", "reconcile")
    assert clean.exit_code == EXIT_OK, clean.output
    assert ("3 reviewer records: 3 matched by their change in the store, 0 voided by a failure record, 0 without "
            "their change") in " ".join(clean.stdout.split())

    gk = Gatekeeper(load_config(cfg))
    try:  # what a crash between the record and the commit leaves behind
        stray = gk.record_event("licence.revoked", "bob", {"licence_number": "L-1", "by": "bob",
                                                          "at": gk.clock().isoformat()})
    finally:
        gk.close()
    table = run(cfg, "audit", "reconcile")
    assert table.exit_code == EXIT_ERROR
    flat = " ".join(table.stdout.split())
    assert "licence.revoked" in flat and "the licence is not revoked in the store" in flat
    assert "4 reviewer records: 3 matched" in flat and "1 without their change" in flat
    out = run(cfg, "audit", "reconcile", "--json")
    assert out.exit_code == EXIT_ERROR
    data = json.loads(out.stdout)
    assert data["checked"] == 4 and data["matched"] == 3 and data["voided"] == 0
    assert [(u["seq"], u["kind"], u["actor"], u["about"]) for u in data["unmatched"]] == [
        (stray["seq"], "licence.revoked", "bob", "licence L-1")]


def test_reconcile_of_a_missing_log_is_a_clear_error(home: Path) -> None:
    result = run(home / "gatekeeper.toml", "audit", "reconcile", "--from", str(home / "nowhere"), "--json")
    assert result.exit_code == EXIT_ERROR
    assert "Traceback" not in result.output and json.loads(result.stdout)["error"]
