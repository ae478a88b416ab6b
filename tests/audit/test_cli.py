"""``gatekeeper audit`` through typer's CliRunner: verify, query, summary, export, replay."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from gatekeeper.audit import decision_record
from gatekeeper.cli.audit import app
from gatekeeper.model import Outcome
from gatekeeper.policy import shipped_policies_dir
from tests.audit.conftest import make_decision, open_log, segment_lines
from tests.audit.test_replay import AFTER_RESCISSION, CASES, write_cases

runner = CliRunner()
DIFFUSION = str(shipped_policies_dir() / "ai-diffusion-2025.yaml")


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[audit]\nurl = "file://audit"\nsigning_key = "key.pem"\n', encoding="utf-8")
    write_cases(tmp_path)  # six decisions, keyed with tmp_path/key.pem, in tmp_path/audit
    return f


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def run_json(*args: str) -> tuple[int, object]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_verify_intact(cfg: Path) -> None:
    code, out = run("verify", "--config", str(cfg))
    assert code == 0 and "intact" in out and "7 records in 1 segments" in out and "segment-00000001.jsonl" in out
    code, js = run_json("verify", "--config", str(cfg), "--public-key", str(cfg.parent / "key.pem"))
    assert code == 0 and js["ok"] is True and js["records"] == 7 and js["problem"] is None  # type: ignore[index]
    assert js["signed_seq"] == js["head_seq"] == 7  # type: ignore[index]


def test_verify_names_the_first_bad_record(cfg: Path) -> None:
    seg = cfg.parent / "audit" / "segment-00000001.jsonl"
    lines = segment_lines(seg)
    lines[3] = lines[3].replace(b'"decision":"allow"', b'"decision":"deny!"')
    seg.write_bytes(b"".join(lines))
    code, out = run("verify", "--config", str(cfg))
    assert code == 1 and "FAILED" in out and "segment-00000001.jsonl, line 4, seq 4" in out and "edited" in out
    code, js = run_json("verify", "--config", str(cfg))
    assert code == 1 and js["ok"] is False  # type: ignore[index]
    assert js["problem"]["segment"] == "segment-00000001.jsonl" and js["problem"]["line"] == 4  # type: ignore[index]
    assert js["problem"]["seq"] == 4  # type: ignore[index]


def test_verify_from_a_copy_and_a_segment_file(cfg: Path, tmp_path: Path) -> None:
    code, out = run("verify", "--config", str(cfg), "--from", str(tmp_path / "audit" / "segment-00000001.jsonl"))
    assert code == 0 and "intact" in out
    code, out = run("verify", "--from", str(tmp_path / "nowhere"))
    assert code == 1 and "no audit log" in out


def test_verify_anchor(cfg: Path) -> None:
    _, js = run_json("verify", "--config", str(cfg))
    anchor = f"{js['head_seq']}:{js['head_hash']}"  # type: ignore[index]
    assert run("verify", "--config", str(cfg), "--anchor", anchor)[0] == 0
    code, out = run("verify", "--config", str(cfg), "--anchor", "7:abc")
    assert code == 1 and "--anchor must be SEQ:HASH" in out
    code, out = run("verify", "--config", str(cfg), "--anchor", f"99:{'0' * 64}")
    assert code == 1 and "before the anchor" in out


def test_verify_remote_needs_s3(cfg: Path) -> None:
    code, out = run("verify", "--config", str(cfg), "--remote")
    assert code == 1 and "--remote needs an s3://, azblob:// or gs:// audit URL" in out


def test_query(cfg: Path) -> None:
    code, js = run_json("query", "--config", str(cfg))
    assert code == 0 and js["total"] == len(CASES)  # type: ignore[index]
    assert [r["decision_id"] for r in js["records"]] == [c[0] for c in CASES]  # type: ignore[index]
    code, js = run_json("query", "--config", str(cfg), "--decision", "deny")
    assert [r["decision_id"] for r in js["records"]] == ["dec-cn"]  # type: ignore[index]
    code, js = run_json("query", "--config", str(cfg), "--country", "CN", "--chip", "h100", "--limit", "1")
    assert js["total"] == 2 and [r["decision_id"] for r in js["records"]] == ["dec-cn"]  # type: ignore[index]
    code, js = run_json("query", "--config", str(cfg), "--since", "2026-01-11")
    assert js["total"] == 0  # type: ignore[index]
    code, out = run("query", "--config", str(cfg), "--rule", "kyc-flag")
    assert code == 0 and "1 of 1 records" in out and "kyc-flag" in out and "acct-dec-de" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--decision", "maybe"], "unknown decision"),
    (["--country", "China"], "alpha-2"),
    (["--since", "last week"], "bad date/time"),
    (["--limit", "0"], "at least 1"),
])
def test_query_bad_input(cfg: Path, args: list[str], message: str) -> None:
    code, out = run("query", "--config", str(cfg), *args)
    assert code == 1 and message in out


def test_summary(cfg: Path) -> None:
    code, js = run_json("summary", "--config", str(cfg))
    assert code == 0 and js["total"] == 6  # type: ignore[index]
    by_dec = {d["decision"]: d["count"] for d in js["by_decision"]}  # type: ignore[index]
    assert by_dec == {"allow": 4, "deny": 1, "flag": 1}
    assert {d["chip"]: d["count"] for d in js["by_chip"]} == {"H100": 2, "A100": 2, "L40S": 1}  # type: ignore[index]
    assert js["by_day"] == [{"day": "2026-01-10", "allow": 4, "flag": 1, "pending": 0, "deny": 1,  # type: ignore[index]
                             "total": 6}]
    code, out = run("summary", "--config", str(cfg))
    assert code == 0 and "6 decisions" in out and "by chip" in out and "by day" in out and "2026-01-10" in out


def test_export(cfg: Path, tmp_path: Path) -> None:
    code, out = run("export", "--config", str(cfg), "--format", "csv", "--output", str(tmp_path / "a.csv"))
    assert code == 0 and "exported 6 records" in out
    assert (tmp_path / "a.csv").read_text().count("\n") == 7
    code, js = run_json("export", "--config", str(cfg), "--format", "parquet", "--output", str(tmp_path / "a.pq"),
                        "--decision", "allow")
    assert code == 0 and js == {"exported": 4, "format": "parquet", "output": str(tmp_path / "a.pq")}
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'a.pq'}')").fetchall() == [(4,)]
    code, out = run("export", "--config", str(cfg), "--format", "xlsx", "--output", str(tmp_path / "a.x"))
    assert code == 1 and "csv or parquet" in out
    code, out = run("export", "--config", str(cfg))
    assert code == 1 and "--output PATH is required" in out


def test_replay(cfg: Path) -> None:
    code, js = run_json("replay", "--config", str(cfg), "--policies", DIFFUSION)
    assert code == 0 and js["records"] == 6 and js["changed"] == 4  # type: ignore[index]
    assert js["transitions"] == {"allow -> pending": 1, "allow -> deny": 1, "flag -> allow": 1}  # type: ignore[index]
    code, out = run("replay", "--config", str(cfg), "--policies", DIFFUSION)
    assert code == 0 and "6 decisions replayed, 4 would change" in out and "tier2-licence" in out
    code, js = run_json("replay", "--config", str(cfg), "--policies", DIFFUSION, "--honour-dates")
    assert js["transitions"] == {"deny -> allow": 1, "flag -> allow": 1}  # type: ignore[index]
    code, js = run_json("replay", "--config", str(cfg), "--policies", DIFFUSION, "--as-of", "2025-03-01", "--all")
    assert len(js["rows"]) == 6  # type: ignore[index,arg-type]
    code, out = run("replay", "--config", str(cfg), "--policies", DIFFUSION, "--as-of", "March")
    assert code == 1 and "--as-of must be YYYY-MM-DD" in out
    code, out = run("replay", "--config", str(cfg), "--policies", str(cfg.parent / "none.yaml"))
    assert code == 1 and "no policy file" in out


def test_config_errors(tmp_path: Path) -> None:
    code, out = run("verify", "--config", str(tmp_path / "missing.toml"))
    assert code == 1 and "cannot read config" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[audit]\nurl = "ftp://x"\n')
    code, out = run("query", "--config", str(bad))
    assert code == 1 and "unknown audit log URL scheme" in out


def test_end_to_end_with_the_service(tmp_path: Path) -> None:
    """Decisions made by `gatekeeper check` are audited; the log verifies and answers queries."""
    from gatekeeper.cli.main import app as main_app

    f = tmp_path / "gatekeeper.toml"
    f.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                 '[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n')
    csv = tmp_path / "c.csv"
    csv.write_text("provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
                   "aws,222222222222,Lion City AI Pte. Ltd.,SG,SG,CN,verified\n"
                   "aws,111111111111,Acme Analytics Inc.,US,US,US,verified\n")
    assert runner.invoke(main_app, ["accounts", "import", str(csv), "--config", str(f)]).exit_code == 0
    for acct in ("222222222222", "111111111111"):
        runner.invoke(main_app, ["check", "--config", str(f), "--provider", "aws", "--account", acct,
                                 "--instance-type", "p5.48xlarge"])
    code, js = run_json("query", "--config", str(f))
    assert code == 0 and js["total"] == 2  # type: ignore[index]
    decisions = {r["account_id"]: r["decision"] for r in js["records"]}  # type: ignore[index]
    assert decisions["111111111111"] == "allow" and decisions["222222222222"] in ("deny", "pending")
    code, out = run("verify", "--config", str(f))
    assert code == 0 and "intact" in out


def test_append_then_verify_roundtrip_through_the_cli(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision(outcome=Outcome.FLAG, rules=(("r", Outcome.FLAG),),
                                                 at=AFTER_RESCISSION)))
    code, js = run_json("summary", "--from", str(tmp_path / "audit"))
    assert code == 0 and js["by_rule"] == [{"rule": "r", "count": 1}]  # type: ignore[index]
