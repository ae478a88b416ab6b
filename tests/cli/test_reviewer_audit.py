"""The reviewers' commands when the audit log cannot be written: a clear error, exit 1, nothing changed.

``cases approve``, ``cases deny``, ``licences revoke`` and ``screening clear`` run through the real
``gatekeeper`` app against a home whose audit log cannot be opened (its folder replaced by a file,
as a wrong mount would leave it). Each exits 1 with ``error: ... was not <done>: its audit record
(...) could not be written, so nothing was changed`` (``{"error", "type": "AuditError"}`` with
``--json``), no traceback, and the store is as it was; with the log back, the same command succeeds
and writes its record once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gatekeeper.cli._common import EXIT_ERROR, EXIT_OK, EXIT_PENDING
from gatekeeper.cli.main import app
from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from tests.screening.conftest import CSV_LIST
from tests.screening.test_store import SUGON_DE
from tests.workflow.test_cli import REQUESTER, check, import_profiles, write_config

runner = CliRunner()
EXPIRES = "2099-01-01"


def run(cfg: Path, *args: str) -> Any:
    return runner.invoke(app, [*args, "--config", str(cfg)])


def _records(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for seg in sorted((home / "audit").glob("segment-*.jsonl"))
            for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]


def _state(home: Path) -> tuple[Any, ...]:
    s = open_store("sqlite:///state.db", base_dir=home)
    try:
        cases = tuple(s.cases.get_case(c.case_id) for c in s.cases.list_cases())
        hits = tuple(sorted((h.entry_id, h.status, h.cleared_by) for h in s.screening.hits(("open", "cleared"))))
        return cases, tuple(s.licences.list_licences()), hits
    finally:
        s.close()


class _BrokenLog:
    """The audit folder replaced by a file while the block runs (the log cannot be opened), then put back."""

    def __init__(self, home: Path) -> None:
        self.folder, self.aside = home / "audit", home / "audit.aside"

    def __enter__(self) -> None:
        self.folder.rename(self.aside)
        self.folder.write_text("not a folder\n", encoding="utf-8")

    def __exit__(self, *_: object) -> None:
        self.folder.unlink()
        self.aside.rename(self.folder)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_config(tmp_path)
    import_profiles("sqlite:///state.db", tmp_path)
    gk = Gatekeeper(load_config(tmp_path / "gatekeeper.toml"))
    try:
        gk.store.profiles.put_profiles([SUGON_DE])
        from gatekeeper.screening import load_list

        load_list(gk, CSV_LIST)
    finally:
        gk.close()
    return tmp_path


def _case(cfg: Path) -> str:
    code, out = check(cfg, REQUESTER)
    assert code == EXIT_PENDING and out["case_id"]
    return str(out["case_id"])


COMMANDS: dict[str, tuple[Callable[[str], list[str]], str, list[str]]] = {
    # name: (the command's arguments given the case id, what the error says, the records it writes)
    "approve": (lambda c: ["cases", "approve", c, "--licence", "L-2", "--expires", EXPIRES, "--by", "alice"],
                "case {case} was not approved", ["case.approved", "licence.issued"]),
    "deny": (lambda c: ["cases", "deny", c, "--by", "carol", "--reason", "military end user"],
             "case {case} was not denied", ["case.denied"]),
    "revoke": (lambda c: ["licences", "revoke", "L-1", "--by", "bob", "--reason", "end-use check failed"],
               "licence L-1 was not revoked", ["licence.revoked"]),
    "clear": (lambda c: ["screening", "clear", "sugon-bakery", "el-sugon-0004", "--by", "alice", "--reason",
                         "German bakery"],
              "the hit of gcp:sugon-bakery on entry 'el-sugon-0004' was not cleared", ["screening.hit_cleared"]),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_reviewer_command_whose_record_cannot_be_written_fails_cleanly(home: Path, name: str,
                                                                         as_json: bool) -> None:
    cfg = home / "gatekeeper.toml"
    case_id = _case(cfg)
    if name == "revoke":
        assert run(cfg, "cases", "approve", case_id, "--licence", "L-1", "--expires", EXPIRES, "--by",
                   "alice").exit_code == EXIT_OK
    args, says, kinds = COMMANDS[name]
    argv = [*args(case_id), *(["--json"] if as_json else [])]
    before, written = _state(home), len(_records(home))
    with _BrokenLog(home):
        result = run(cfg, *argv)
        assert result.exit_code == EXIT_ERROR
        assert isinstance(result.exception, SystemExit)  # typer.Exit: no traceback
        assert "Traceback" not in result.output
        message = (says.format(case=case_id) + ": its audit record (" + kinds[0] + ") could not be written, so "
                   "nothing was changed")
        if as_json:
            out = json.loads(result.stdout)
            assert out["type"] == "AuditError" and out["error"].startswith(message)
            assert "cannot open the audit log" in out["error"]
        else:
            assert "error:" in result.stderr and message in " ".join(result.stderr.split())
        assert _state(home) == before
    assert len(_records(home)) == written
    again = run(cfg, *args(case_id))
    assert again.exit_code == EXIT_OK, again.output
    # (a process opening the log adds its own ``audit.segment`` record)
    assert [r["kind"] for r in _records(home)[written:] if not r["kind"].startswith("audit.")] == kinds
