"""``gatekeeper screening`` commands, run through typer against a temporary store and audit log."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gatekeeper.cli._common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from gatekeeper.cli.screening import app
from gatekeeper.config import load_config
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.screening.conftest import CSV_LIST, JSON_LIST
from tests.terminal import on_a_terminal

PROFILES = [
    CustomerProfile("aws", "111111111111", "Huawei Technologies Co Ltd", "CN", "CN", "CN", "verified"),
    CustomerProfile("aws", "222222222222", "Acme Corp", "US", "US", "US", "verified"),
    CustomerProfile("gcp", "sugon-bakery", "Sugon GmbH", "DE", "DE", "DE", "verified"),
]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "gatekeeper.toml"
    path.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n[audit]\nurl = "file://audit"\n'
                    'signing_key = "audit-key.pem"\n', encoding="utf-8")
    gk = Gatekeeper(load_config(path))
    gk.store.profiles.put_profiles(PROFILES)
    gk.close()
    return path


def run(cfg: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--config", str(cfg)])
    return result


def out_json(result: Any) -> Any:
    # Log lines may share stdout until logging is configured; the JSON document is the last block.
    text = result.stdout
    start = min(i for i in (text.find("{\n"), text.find("[\n"), text.find("[]")) if i >= 0)
    return json.loads(text[start:])


def test_load_then_hits_then_clear_then_hits(cfg: Path) -> None:
    r = run(cfg, "load", str(CSV_LIST), "--date", "2026-11-01", "--by", "carol", "--json")
    assert r.exit_code == EXIT_OK, r.output
    doc = out_json(r)
    assert doc["list_date"] == "2026-11-01" and doc["lists"]["EL"] == 9
    assert doc["profiles_screened"] == 3 and doc["open_hits"] == 2

    r = run(cfg, "hits", "--json")
    hits = out_json(r)
    assert {(h["account_id"], h["entry_id"]) for h in hits} == {
        ("111111111111", "el-huawei-0001"), ("sugon-bakery", "el-sugon-0004")}
    assert all(h["status"] == "open" and h["explanation"]["pairs"] for h in hits)

    r = run(cfg, "clear", "sugon-bakery", "el-sugon-0004", "--by", "alice", "--reason", "bakery", "--json")
    assert r.exit_code == EXIT_OK, r.output
    assert out_json(r)["status"] == "cleared"

    assert [h["entry_id"] for h in out_json(run(cfg, "hits", "--json"))] == ["el-huawei-0001"]
    every = out_json(run(cfg, "hits", "--all", "--json"))
    assert {h["entry_id"]: h["status"] for h in every} == {"el-huawei-0001": "open", "el-sugon-0004": "cleared"}
    assert next(h for h in every if h["status"] == "cleared")["cleared_reason"] == "bakery"
    audit = [json.loads(line) for seg in sorted((cfg.parent / "audit").glob("*.jsonl"))
             for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]
    events = {r["kind"]: r for r in audit if r.get("kind", "").startswith("screening.")}
    assert events["screening.list_loaded"]["actor"] == "carol"
    assert events["screening.hit_cleared"]["actor"] == "alice"
    assert events["screening.hit_cleared"]["data"]["reason"] == "bakery"


def test_hits_table_shows_account_list_entry_score_and_explanation(cfg: Path) -> None:
    run(cfg, "load", str(JSON_LIST))
    r = run(cfg, "hits")
    assert r.exit_code == EXIT_OK
    for text in ("aws:111111111111", "Huawei Technologies Co Ltd", "EL", "el-huawei-0001", "HUAWEI=HUAWEI"):
        assert text in r.stdout


def test_load_of_malformed_file_names_the_row_and_exits_1(cfg: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    lines = CSV_LIST.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace("Dawning Information Industry Co., Ltd.", "")
    bad.write_text("\n".join(lines), encoding="utf-8")
    r = run(cfg, "load", str(bad), "--json")
    assert r.exit_code == EXIT_ERROR
    assert "row 5, field 'name'" in out_json(r)["error"]
    assert out_json(run(cfg, "lists", "--json")) == []


def test_bad_date_is_refused(cfg: Path) -> None:
    r = run(cfg, "load", str(CSV_LIST), "--date", "01/11/2026")
    assert r.exit_code == EXIT_ERROR and "YYYY-MM-DD" in r.output


def test_clear_needs_by_and_reason(cfg: Path) -> None:
    r = CliRunner().invoke(app, ["clear", "sugon-bakery", "el-sugon-0004", "--reason", "x", "--config", str(cfg)])
    assert r.exit_code == 2  # usage error: --by missing


def test_clear_of_unknown_hit_exits_1(cfg: Path) -> None:
    run(cfg, "load", str(CSV_LIST))
    r = run(cfg, "clear", "222222222222", "el-huawei-0001", "--by", "alice", "--reason", "x", "--json")
    assert r.exit_code == EXIT_ERROR and "no screening hit" in out_json(r)["error"]


def test_check_explains_a_score(cfg: Path) -> None:
    run(cfg, "load", str(CSV_LIST))
    r = run(cfg, "check", "Shenzen Huawei Technologies", "--country", "CN", "--json")
    assert r.exit_code == EXIT_OK
    doc = out_json(r)
    assert doc["normalized"] == ["SHENZEN", "HUAWEI", "TECHNOLOGY"]
    top = doc["matches"][0]
    assert top["entry_id"] == "el-huawei-0001" and top["hit"] is True
    assert top["explanation"]["country"]["effect"] > 0
    r = run(cfg, "check", "Acme Corp", "--country", "US")
    assert r.exit_code == EXIT_OK and "no list entry shares a word" in r.stdout
    r = run(cfg, "check", "Huawei", "--country", "China")
    assert r.exit_code == EXIT_ERROR


def test_lists_shows_what_was_loaded(cfg: Path) -> None:
    run(cfg, "load", str(JSON_LIST), "--date", "2026-10-15")
    doc = out_json(run(cfg, "lists", "--json"))
    assert {x["list"]: x["list_date"] for x in doc} == {c: "2026-10-15" for c in ("DPL", "EL", "MEU", "SDN", "UVL")}
    r = run(cfg, "lists")
    assert "Entity List" in r.stdout and "2026-10-15" in r.stdout


def test_accounts_import_screens_the_imported_profiles(cfg: Path, tmp_path: Path) -> None:
    from gatekeeper.cli.accounts import app as accounts_app

    run(cfg, "load", str(CSV_LIST))
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
        "aws,999999999999,Hik-Vision Digital Technology,CN,CN,CN,verified\n", encoding="utf-8")
    r = CliRunner().invoke(accounts_app, ["import", str(accounts), "--config", str(cfg)])
    assert r.exit_code == EXIT_OK, r.output
    hits = out_json(run(cfg, "hits", "--json"))
    assert ("999999999999", "el-hikvision-0006") in {(h["account_id"], h["entry_id"]) for h in hits}


def _store_with(tmp_path: Path, profiles: list[CustomerProfile]) -> Path:
    tmp_path.mkdir()
    path = tmp_path / "gatekeeper.toml"
    path.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n[audit]\nurl = "file://audit"\n'
                    'signing_key = "audit-key.pem"\n', encoding="utf-8")
    gk = Gatekeeper(load_config(path))
    gk.store.profiles.put_profiles(profiles)
    gk.close()
    return path


def test_load_on_workers_reports_and_stores_what_one_process_does(tmp_path: Path) -> None:
    """``--workers 2`` over 1,200 profiles (three chunks: the workers are forked) against ``--workers 1``."""
    many = [replace(p, account_id=f"{p.account_id}-{i}") for i in range(400) for p in PROFILES]
    outputs = []
    for workers in ("1", "2"):
        cfg = _store_with(tmp_path / workers, many)
        r = run(cfg, "load", str(CSV_LIST), "--date", "2026-11-01", "--workers", workers, "--json")
        assert r.exit_code == EXIT_OK, r.output
        hits = out_json(run(cfg, "hits", "--json"))
        outputs.append((out_json(r), [{k: v for k, v in h.items() if not k.endswith("_at")} for h in hits]))
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["profiles_screened"] == 1200 and len(outputs[0][1]) == 800


def test_a_negative_worker_count_is_a_usage_error(cfg: Path) -> None:
    r = run(cfg, "load", str(CSV_LIST), "--workers", "-1")
    assert r.exit_code == EXIT_USAGE and "--workers" in r.output
    assert out_json(run(cfg, "lists", "--json")) == []


def test_load_on_a_terminal_shows_progress_while_workers_screen(tmp_path: Path) -> None:
    """On a terminal the load draws a progress bar (rich refreshes it from a thread) while the
    workers are forked: it completes and prints its table (was: a TypeError from the lazy console)."""
    many = [replace(p, account_id=f"{p.account_id}-{i}") for i in range(400) for p in PROFILES]
    cfg = _store_with(tmp_path / "tty", many)
    code, text = on_a_terminal(["screening", "load", str(CSV_LIST), "--workers", "2", "--config", str(cfg)],
                               cwd=cfg.parent)
    assert code == EXIT_OK, text[-2000:]
    assert "re-screened" in text and "1200" in text
