"""The reviewer CLI: ``gatekeeper cases``, ``gatekeeper licences``, ``gatekeeper store init``.

Bad input (unknown case, past expiry date, self-approval, bad date, bad status) exits 1 with a clear
error and changes nothing; the happy path goes blocked -> approved -> allowed -> revoked -> blocked.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gatekeeper.cli import cases, licences, store
from gatekeeper.cli.main import app as main_app
from gatekeeper.stores.testing import LocalDynamoDB

runner = CliRunner()
CSV = Path(__file__).resolve().parents[2] / "gatekeeper" / "demo" / "data" / "customers.csv"
CN_PARENT = "222222222222"
REQUESTER = "dev@lioncity"


def _app() -> typer.Typer:
    """``gatekeeper`` with the workflow groups (as main.GROUPS registers them once the lead adds them)."""
    from gatekeeper.cli import main

    if all(g in main.GROUPS for g in ("cases", "licences", "store")):
        return main.app
    app = typer.Typer()
    app.callback()(main._main)  # the same start-up as ``gatekeeper`` (logging to stderr)
    app.add_typer(cases.app, name="cases")
    app.add_typer(licences.app, name="licences")
    app.add_typer(store.app, name="store")
    return app


APP = _app()


def run(cfg: Path, *args: str) -> Any:
    return runner.invoke(APP, [*args, "--config", str(cfg)])


def run_json(cfg: Path, *args: str) -> tuple[int, Any]:
    result = runner.invoke(APP, [*args, "--json", "--config", str(cfg)])
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else None)


def check(cfg: Path, principal: str = REQUESTER) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(main_app, ["check", "--json", "--config", str(cfg), "--provider", "aws", "--account",
                                      CN_PARENT, "--instance-type", "p4d.24xlarge", "--region", "us-east-1",
                                      "--principal", principal])
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else None)


def write_config(tmp_path: Path, store_url: str = "sqlite:///state.db") -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text(f'[store]\nurl = "{store_url}"\ncreate = true\n[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n',
                 encoding="utf-8")
    return f


def import_profiles(store_url: str, base_dir: Path) -> None:
    # Straight to the store (``accounts import`` is the accounts engineer's to test, and also screens).
    from gatekeeper.accounts import read_profiles
    from gatekeeper.stores import open_store

    s = open_store(store_url, base_dir=base_dir)
    s.profiles.put_profiles(read_profiles(CSV))
    s.close()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = write_config(tmp_path)
    import_profiles("sqlite:///state.db", tmp_path)
    return f


@pytest.fixture
def case_id(cfg: Path) -> str:
    code, out = check(cfg)
    assert code == 3 and out["decision"] == "pending" and out["case_id"]
    return str(out["case_id"])


def _state(cfg: Path) -> tuple[Any, ...]:
    from gatekeeper.stores import open_store

    s = open_store("sqlite:///state.db", base_dir=cfg.parent)
    try:
        return (tuple(s.cases.get_case(c.case_id) for c in s.cases.list_cases()),
                tuple(s.licences.list_licences()), sorted(p.name for p in (cfg.parent / "audit").iterdir()),
                sum(f.stat().st_size for f in (cfg.parent / "audit").glob("segment-*.jsonl")))
    finally:
        s.close()


def test_list_and_show(cfg: Path, case_id: str) -> None:
    code, listed = run_json(cfg, "cases", "list", "--status", "open")
    assert code == 0 and [c["case_id"] for c in listed] == [case_id]
    assert listed[0]["customer"] == "Lion City AI Pte. Ltd." and listed[0]["requests"] == 1
    assert run_json(cfg, "cases", "list", "--status", "approved") == (0, [])
    table = run(cfg, "cases", "list")
    assert table.exit_code == 0 and case_id in table.stdout and "open" in table.stdout

    code, shown = run_json(cfg, "cases", "show", case_id)
    assert code == 0 and shown["status"] == "open" and shown["profile"]["ultimate_parent_country"] == "CN"
    assert shown["accelerators"][0]["model"] == "A100" and shown["requests"][0]["principal"] == REQUESTER
    human = run(cfg, "cases", "show", case_id)
    assert human.exit_code == 0
    for text in ("A100", "3A090.a", "4,992", "d5-macau-3a090", "15 CFR 742.6", REQUESTER):
        assert text in human.stdout, text


@pytest.mark.parametrize(("args", "message"), [
    (["cases", "approve", "case-nope", "--licence", "L-1", "--expires", "2099-01-01", "--by", "alice"],
     "no case 'case-nope'"),
    (["cases", "approve", "{case}", "--licence", "L-1", "--expires", "2001-01-01", "--by", "alice"],
     "the expiry date 2001-01-01 is in the past"),
    (["cases", "approve", "{case}", "--licence", "L-1", "--expires", "2099-13-01", "--by", "alice"],
     "is not a date"),
    (["cases", "approve", "{case}", "--licence", "L-1", "--expires", "2099-01-01", "--by", REQUESTER],
     "separation of duties"),
    (["cases", "approve", "{case}", "--licence", "L 1", "--expires", "2099-01-01", "--by", "alice"],
     "licence number"),
    (["cases", "approve", "{case}", "--licence", "L-1", "--expires", "2099-01-01", "--by", "alice",
      "--quantity", "-1"], "the quantity must be a positive"),
    (["cases", "deny", "{case}", "--by", "alice", "--reason", " "], "a reason must say why"),
    (["cases", "deny", "case-nope", "--by", "alice", "--reason", "x"], "no case"),
    (["cases", "list", "--status", "pending"], "--status must be one of open, approved, denied"),
    (["cases", "show", "case-nope"], "no case 'case-nope'"),
    (["cases", "export", "case-nope"], "no case"),
    (["licences", "show", "L-404"], "no licence 'L-404'"),
    (["licences", "revoke", "L-404", "--by", "bob", "--reason", "x"], "no licence"),
    (["licences", "list", "--state", "bogus"], "--state must be one of"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(cfg: Path, case_id: str, args: list[str],
                                                        message: str) -> None:
    before = _state(cfg)
    argv = [a.replace("{case}", case_id) for a in args]
    result = run(cfg, *argv)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "error:" in result.stderr
    code, out = run_json(cfg, *argv)
    assert code == 1 and message in out["error"]
    assert _state(cfg) == before


def test_approve_allow_revoke(cfg: Path, case_id: str, tmp_path: Path) -> None:
    result = run(cfg, "cases", "approve", case_id, "--licence", "D123", "--expires", "2099-12-31", "--by", "alice",
                 "--quantity", "16", "--conditions", "no re-export")
    assert result.exit_code == 0, result.output
    assert "licence D123 issued" in result.stdout and "16 accelerators" in result.stdout

    code, out = check(cfg)
    assert code == 0 and out["decision"] == "allow" and out["licence_id"] == "D123"

    code, shown = run_json(cfg, "licences", "show", "D123")
    assert code == 0 and shown["remaining"] == 8 and shown["drawn"] == 8 and shown["state"] == "active"
    assert shown["approvers"] == ["alice"] and shown["conditions"] == "no re-export"
    human = run(cfg, "licences", "list")
    assert human.exit_code == 0 and "D123" in human.stdout and "8 of 16" in human.stdout
    assert [x["number"] for x in run_json(cfg, "licences", "list", "--state", "active")[1]] == ["D123"]

    result = run(cfg, "licences", "revoke", "D123", "--by", "bob", "--reason", "end user changed")
    assert result.exit_code == 0 and "revoked" in result.stdout
    assert run_json(cfg, "licences", "show", "D123")[1]["state"] == "revoked"
    code, out = check(cfg)
    assert code == 3 and "licence D123 was revoked (end user changed)" in " ".join(out["reasons"])
    # Revoking twice is an error that changes nothing.
    again = run(cfg, "licences", "revoke", "D123", "--by", "bob", "--reason", "again")
    assert again.exit_code == 1 and "already revoked" in again.stderr


def test_deny(cfg: Path, case_id: str) -> None:
    code, out = run_json(cfg, "cases", "deny", case_id, "--by", "carol", "--reason", "parent on Entity List")
    assert code == 0 and out["case"]["status"] == "denied" and out["denial_reason"] == "parent on Entity List"
    code, listed = run_json(cfg, "cases", "list", "--status", "denied")
    assert [c["case_id"] for c in listed] == [case_id]
    approve = run(cfg, "cases", "approve", case_id, "--licence", "L-1", "--expires", "2099-01-01", "--by", "alice")
    assert approve.exit_code == 1 and "is denied" in approve.stderr


def test_two_approvers_from_the_cli(tmp_path: Path) -> None:
    f = write_config(tmp_path)
    f.write_text(f.read_text() + "[workflow]\napprovals_required = 2\n", encoding="utf-8")
    import_profiles("sqlite:///state.db", tmp_path)
    case = check(f)[1]["case_id"]
    terms = ["--licence", "D9", "--expires", "2099-01-01"]
    first = run(f, "cases", "approve", case, *terms, "--by", "alice")
    assert first.exit_code == 0 and "1 of 2" in first.stdout
    assert check(f)[0] == 3
    code, out = run_json(f, "cases", "approve", case, *terms, "--by", "bob")
    assert code == 0 and out["licence"]["approvers"] == ["alice", "bob"] and out["approvals"] == 2
    assert check(f)[0] == 0


def test_export_packet(cfg: Path, case_id: str, tmp_path: Path) -> None:
    md = run(cfg, "cases", "export", case_id)
    assert md.exit_code == 0
    for text in ("# Licence application packet", "Lion City AI Pte. Ltd.", "Ultimate parent: China (CN)",
                 "| A100 | 3A090.a | 4A090.a | 4,992 | 6.04 |", "Quantity requested: **8 accelerators**",
                 "15 CFR 742.6(a)(6)(iii)(A)", "us-east-1: United States", REQUESTER):
        assert text in md.stdout, text
    out = tmp_path / "packet.json"
    result = run(cfg, "cases", "export", case_id, "--format", "json", "--output", str(out))
    assert result.exit_code == 0 and out.exists()
    packet = json.loads(out.read_text())
    assert packet["schema"] == "gatekeeper.licence-application/v1"
    [item] = packet["items"]
    assert (item["eccn"], item["tpp"], item["pd"], item["largest_request"]) == ("3A090.a", 4992.0, 6.04, 8)
    assert [c["code"] for c in packet["end_user"]["countries"]] == ["SG", "SG", "CN"]
    assert packet["request_history"][0]["principal"] == REQUESTER
    bad = run(cfg, "cases", "export", case_id, "--output", str(tmp_path / "missing-dir" / "x.md"))
    assert bad.exit_code == 1 and "cannot write" in bad.stderr


def test_store_init_sqlite(cfg: Path, tmp_path: Path) -> None:
    code, out = run_json(cfg, "store", "init")
    assert code == 0 and out["store"] == "sqlite:///state.db"
    assert any("licences" in line for line in out["tables"]) and any("cases" in line for line in out["tables"])


def test_store_init_dynamodb(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> None:
    prefix = f"gk-{uuid.uuid4().hex[:12]}"
    f = write_config(tmp_path, local_dynamodb.url(prefix))
    code, out = run_json(f, "store", "init")
    assert code == 0
    assert [line.split(" (")[0] for line in out["tables"]][:3] == [
        f"created DynamoDB table {prefix}-profiles", f"created DynamoDB table {prefix}-cases",
        f"created DynamoDB table {prefix}-licences"]
    code, again = run_json(f, "store", "init")
    assert code == 0 and all(line.endswith("exists") for line in again["tables"])
    # The whole flow works on the tables it made.
    import_profiles(local_dynamodb.url(prefix), tmp_path)
    case = check(f)[1]["case_id"]
    assert run(f, "cases", "approve", case, "--licence", "L-1", "--expires", "2099-01-01", "--by", "a").exit_code == 0
    assert check(f)[0] == 0


def test_store_init_dynamodb_down(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = write_config(tmp_path, f"dynamodb://gk-x?region=us-east-1&endpoint_url=http://127.0.0.1:{port}"
                               f"&max_attempts=1")
    result = run(f, "store", "init")
    assert result.exit_code == 1 and "DynamoDB unavailable" in result.stderr


def test_store_init_postgresql_and_the_whole_flow(local_postgres: Any, tmp_path: Path) -> None:
    from tests.stores.backends import postgres_url

    url = postgres_url(local_postgres)
    f = write_config(tmp_path, url)
    code, out = run_json(f, "check", "--provider", "aws", "--account", "222222222222", "--instance-type",
                         "p4d.24xlarge")
    # Nothing is created at start-up: the decision is denied fail-closed, saying what to run.
    assert code == 1 and out["decision"] == "deny" and "run 'gatekeeper store init'" in " ".join(out["reasons"])
    code, out = run_json(f, "store", "init")
    assert code == 0 and out["store"] == url and any("applied migration 1" in line for line in out["tables"])
    import_profiles(url, tmp_path)
    code, pending = check(f)
    assert code == 3 and pending["case_id"]
    assert run(f, "cases", "approve", pending["case_id"], "--licence", "L-1", "--expires", "2099-01-01", "--by",
               "a").exit_code == 0
    code, allowed = check(f)
    assert code == 0 and allowed["licence_id"] == "L-1"


def test_store_init_postgresql_down(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = write_config(tmp_path, f"postgresql://gk@127.0.0.1:{port}/gk?connect_timeout=2&pool_timeout=2")
    result = run(f, "store", "init")
    assert result.exit_code == 1 and "unavailable" in result.stderr and "Traceback" not in result.stderr
