"""``accounts import`` is recorded before it is committed: profiles decide requests, so an import
names in the audit log the file (and its SHA-256) it stored; an import that fails is voided by an
``accounts.import_failed`` record, and one whose record cannot be written changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gatekeeper.cli._common import EXIT_ERROR, EXIT_OK
from gatekeeper.cli.main import app
from gatekeeper.stores import open_store
from tests.cli.test_reviewer_audit import _BrokenLog, _records
from tests.workflow.test_cli import write_config

runner = CliRunner()
HEADER = "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"


def _csv(path: Path, rows: int, last: str = "") -> Path:
    lines = [f"aws,{k:012d},Company {k} Inc.,US,US,US,verified\n" for k in range(1, rows + 1)]
    path.write_text(HEADER + "".join(lines) + last, encoding="utf-8")
    return path


def _profiles(home: Path) -> list[Any]:
    s = open_store("sqlite:///state.db", base_dir=home)
    try:
        return list(s.profiles.list_profiles())
    finally:
        s.close()


def _import(cfg: Path, f: Path) -> Any:
    return runner.invoke(app, ["accounts", "import", str(f), "--config", str(cfg)])


def test_an_import_is_recorded_with_the_file_it_stored(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    f = _csv(tmp_path / "accounts.csv", 3)
    res = _import(cfg, f)
    assert res.exit_code == EXIT_OK, res.output
    recs = [r for r in _records(tmp_path) if r["kind"].startswith("accounts.")]
    assert [r["kind"] for r in recs] == ["accounts.import"]
    assert recs[0]["data"]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert recs[0]["data"]["file"] == str(f) and recs[0]["actor"].startswith("cli:")
    assert len(_profiles(tmp_path)) == 3


def test_a_bad_row_further_on_voids_the_record_and_stores_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    _import(cfg, _csv(tmp_path / "first.csv", 2))
    before = _profiles(tmp_path)
    # Past the first batch, so the store is open and the record written when the bad row is read.
    from gatekeeper.accounts import BATCH_ROWS

    f = _csv(tmp_path / "accounts.csv", BATCH_ROWS + 5, last="aws,999999999999,Bad Row Ltd,ZZ,US,US,verified\n")
    res = _import(cfg, f)
    assert res.exit_code == EXIT_ERROR and "Traceback" not in res.output
    assert f"row {BATCH_ROWS + 7}" in res.output  # the header is row 1
    assert _profiles(tmp_path) == before
    recs = [r for r in _records(tmp_path) if r["kind"].startswith("accounts.")]
    assert [r["kind"] for r in recs] == ["accounts.import", "accounts.import", "accounts.import_failed"]
    assert recs[2]["data"]["voids"] == [recs[1]["seq"]] and "InvalidInputError" in recs[2]["data"]["error"]


def test_an_import_whose_record_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    _import(cfg, _csv(tmp_path / "first.csv", 2))  # the log exists
    before = _profiles(tmp_path)
    with _BrokenLog(tmp_path):
        res = runner.invoke(app, ["accounts", "import", str(_csv(tmp_path / "more.csv", 5)), "--json",
                                  "--config", str(cfg)])
    assert res.exit_code == EXIT_ERROR and "Traceback" not in res.output
    assert json.loads(res.stdout)["type"] == "AuditError"
    assert _profiles(tmp_path) == before
