"""CLI contracts: check (exit codes, --json shape), catalog, policy, accounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatekeeper.cli.main import app

runner = CliRunner()
CSV = Path(__file__).resolve().parents[2] / "gatekeeper" / "demo" / "data" / "customers.csv"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                 '[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n',
                 encoding="utf-8")
    result = runner.invoke(app, ["accounts", "import", str(CSV), "--config", str(f)])
    assert result.exit_code == 0, result.output
    return f


def check(cfg: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["check", "--json", "--config", str(cfg), *args])
    return result.exit_code, json.loads(result.stdout)


def test_check_allow_for_verified_us_customer(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "aws", "--account", "111111111111", "--instance-type", "p4d.24xlarge")
    assert code == 0 and out["decision"] == "allow"
    [acc] = out["accelerators"]  # type: ignore[misc]
    assert acc["model"] == "A100" and acc["export_class"] == "3A090.a" and acc["tpp"] == 4992 and acc["count"] == 8
    assert out["case_id"] is None and out["rules"] == []


def test_check_deny_exit_code_and_reasons(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "azure", "--account", "44444444-4444-4444-4444-444444444444",
                      "--instance-type", "standard_nc4as_t4_v3", "--region", "westeurope")
    assert code == 4 and out["decision"] == "deny"
    assert out["rules"][0]["id"] == "embargoed-customer"  # type: ignore[index]
    assert "15 CFR 746" in out["rules"][0]["citation"]  # type: ignore[index]


def test_check_flag_exits_zero(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "aws", "--account", "333333333333", "--instance-type", "g4dn.xlarge")
    assert code == 0 and out["decision"] == "flag"


def test_check_plain_type(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "gcp", "--account", "acme-analytics-prod", "--instance-type", "e2-medium")
    assert code == 0 and out["decision"] == "allow" and out["accelerators"] == []


def test_check_plain_type_for_an_embargoed_customer_is_denied(cfg: Path) -> None:
    # An embargo covers every service: the Iranian customer is denied a plain VM too.
    code, out = check(cfg, "--provider", "gcp", "--account", "persian-gulf-compute", "--instance-type", "e2-medium")
    assert code == 4 and out["decision"] == "deny" and out["accelerators"] == []
    assert [r["id"] for r in out["rules"]] == ["embargoed-customer"]  # type: ignore[index]


def test_check_names_the_review_policy_and_the_rules_dates(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "aws", "--account", "222222222222", "--instance-type", "p5e.48xlarge",
                      "--dry-run")
    assert code == 3 and out["decision"] == "pending" and out["review_policy"] == "presumption of denial"
    rules = {r["id"]: r for r in out["rules"]}  # type: ignore[union-attr]
    assert rules["d5-macau-3a090"]["effective_from"] == "2023-11-17"
    assert rules["d5-macau-3a090"]["review_policy"] is None
    assert rules["d5-outside-china-macau"]["review_policy"] == "presumption of denial"
    assert rules["d5-outside-china-macau"]["effective_from"] == "2026-01-15"
    text = runner.invoke(app, ["check", "--config", str(cfg), "--provider", "aws", "--account", "222222222222",
                               "--instance-type", "p5e.48xlarge", "--dry-run"]).stdout
    assert "licence review policy: presumption of denial" in text and "from 2026-01-15" in text


def test_check_attached_gcp_accelerator(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "gcp", "--account", "persian-gulf-compute", "--instance-type",
                      "n1-standard-8", "--attach", "nvidia-tesla-t4:2")
    assert code == 4 and out["accelerators"][0]["model"] == "T4"  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "oracle", "--account", "1", "--instance-type", "x"], "provider"),
        (["--provider", "aws", "--account", "1", "--instance-type", "x", "--count", "-1"], "count"),
        (["--provider", "aws", "--account", " ", "--instance-type", "x"], "account"),
        (["--provider", "gcp", "--account", "p", "--instance-type", "n1-standard-1", "--attach", "t4:x"], "attach"),
    ],
)
def test_check_bad_input(cfg: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["check", "--config", str(cfg), *args])
    assert result.exit_code == 1 and message in result.output


def test_check_bad_config(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('mode = "loose"\n', encoding="utf-8")
    result = runner.invoke(app, ["check", "--config", str(f), "--provider", "aws", "--account", "1",
                                 "--instance-type", "t3.micro"])
    assert result.exit_code == 1 and "mode" in result.output


def test_catalog_show_names_bandwidth_review_policy_and_dates() -> None:
    result = runner.invoke(app, ["catalog", "show", "p5e.48xlarge", "--on", "2026-06-01", "--json"])
    out = json.loads(result.stdout)
    assert out["memory_bandwidth"] == 4800 and "H200" in out["bandwidth_source"]
    review = {s["subject"]: s for s in out["licence_review"]["subjects"]}
    china = review["China (located, headquartered and owned)"]
    assert china["review_policy"] == "case-by-case" and china["decision"] == "pending"
    [h200] = [r for r in china["rules"] if r["id"] == "china-macau-h200-class-case-by-case"]
    assert h200["effective_from"] == "2026-01-15" and "91 FR 1684" in h200["citation"]
    assert review["Russia (D:5 outside China)"]["review_policy"] == "presumption of denial"
    before = json.loads(runner.invoke(app, ["catalog", "show", "p5e.48xlarge", "--on", "2025-06-01", "--json"]).stdout)
    assert {s["review_policy"] for s in before["licence_review"]["subjects"]} == {"presumption of denial"}
    text = runner.invoke(app, ["catalog", "show", "trn1.32xlarge"]).stdout
    assert "TF32 at 32 bits: TPP 6,080" in text and "rests on this choice" in text
    bad = runner.invoke(app, ["catalog", "show", "p5e.48xlarge", "--on", "2026-13-01"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_catalog_show_and_list() -> None:
    out = json.loads(runner.invoke(app, ["catalog", "show", "Standard_ND96ISR_H100_V5", "--json"]).stdout)
    assert out["chip"].startswith("H100") and out["export_class"] == "3A090.a" and out["provider"] == "azure"
    unknown = runner.invoke(app, ["catalog", "show", "p9.96xlarge", "--provider", "aws", "--json"])
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["guesses"][0]["export_class"] == "unknown"
    rows = json.loads(runner.invoke(app, ["catalog", "list", "--provider", "gcp", "--controlled", "--json"]).stdout)
    assert rows and all(r["provider"] == "gcp" for r in rows)
    assert all(r["export_class"] != "none" or r["named_by"] for r in rows)
    assert "e2-medium" not in {r["instance_type"] for r in rows}


def test_policy_validate_and_test(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["policy", "validate", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True
    tested = runner.invoke(app, ["policy", "test", "--json"])
    assert tested.exit_code == 0 and json.loads(tested.stdout)["failed"] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: '1'\ntitle: t\ncitation: c\neffective_from: 2024-01-01\nrules:\n"
                   "  - id: r\n    decision: pending\n    citation: c\n    reason: r\n"
                   "    when: {item: {colour: red}}\n",
                   encoding="utf-8")
    out = runner.invoke(app, ["policy", "validate", str(bad), "--json"])
    assert out.exit_code == 1
    err = json.loads(out.stdout)
    assert (err["line"], err["rule"], err["field"]) == (11, "r", "rules.0.when.item.colour")
    failing = tmp_path / "failing.yaml"
    failing.write_text(bad.read_text().replace("{item: {colour: red}}", "{item: {export_class: [3A090.a]}}")
                       + "tests:\n  - name: wrong\n    request: {instance_type: p4d.24xlarge}\n    expect: allow\n",
                       encoding="utf-8")
    assert runner.invoke(app, ["policy", "test", str(failing)]).exit_code == 1


def test_accounts_show(cfg: Path) -> None:
    out = runner.invoke(app, ["accounts", "show", "222222222222", "--config", str(cfg), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["ultimate_parent_country"] == "CN"
    missing = runner.invoke(app, ["accounts", "show", "000", "--config", str(cfg)])
    assert missing.exit_code == 1 and "unverified foreign" in missing.output


def test_check_pending_opens_a_case_and_dry_run_does_not(cfg: Path) -> None:
    args = ("--provider", "aws", "--account", "222222222222", "--instance-type", "p4d.24xlarge")
    code, what_if = check(cfg, *args, "--dry-run")
    assert code == 3 and what_if["decision"] == "pending" and what_if["case_id"] is None
    code, out = check(cfg, *args)
    assert code == 3 and out["decision"] == "pending"
    assert out["rules"][0]["id"] == "d5-macau-3a090"  # type: ignore[index]
    assert "742.6" in out["rules"][0]["citation"]  # type: ignore[index]
    case_id = out["case_id"]
    assert isinstance(case_id, str) and case_id.startswith("case-")
    code, again = check(cfg, *args)
    assert again["case_id"] == case_id  # the open case is joined, not duplicated
    listed = runner.invoke(app, ["cases", "list", "--json", "--config", str(cfg)])
    assert listed.exit_code == 0 and case_id in listed.stdout


def test_accounts_import_with_owners(tmp_path: Path) -> None:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                 '[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n',
                 encoding="utf-8")
    owners = tmp_path / "owners.csv"
    owners.write_text("provider,account_id,owner_name,owner_country,share,screening_lists\n"
                      "aws,333333333333,Listed Holdings,CN,55,EL\n", encoding="utf-8")
    result = runner.invoke(app, ["accounts", "import", str(CSV), "--owners", str(owners), "--config", str(f)])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["accounts", "show", "333333333333", "--json", "--config", str(f)]).stdout)
    assert shown["owners"] == [{"name": "Listed Holdings", "country": "CN", "share": 55.0, "screening_lists": ["EL"]}]
    text = runner.invoke(app, ["accounts", "show", "333333333333", "--config", str(f)]).stdout
    assert "Listed Holdings (CN, 55 %) on EL" in text
    owners.write_text("provider,account_id,owner_name,owner_country,share,screening_lists\n"
                      "aws,999999999999,Nobody,CN,55,EL\n", encoding="utf-8")
    bad = runner.invoke(app, ["accounts", "import", str(CSV), "--owners", str(owners), "--config", str(f)])
    assert bad.exit_code != 0 and "row 2" in bad.output and "not in the imported profiles" in bad.output


def test_policy_validate_names_each_packs_basis_and_suspension() -> None:
    out = json.loads(runner.invoke(app, ["policy", "validate", "--json"]).stdout)
    packs = {p["id"]: p for p in out["packs"]}
    assert packs["us-iaas-kyc"]["basis"] == "company policy"
    assert packs["ai-diffusion-2025"]["basis"] == "rescinded"
    assert packs["us-licence-review-policy"]["basis"] == "regulation"
    assert packs["us-affiliates-rule"]["suspended"][0]["from"] == "2025-11-10"
    assert "Federal Register" in packs["us-affiliates-rule"]["status_note"]
    text = runner.invoke(app, ["policy", "validate"]).stdout
    assert "suspended 2025-11-10" in text and "company policy" in text
