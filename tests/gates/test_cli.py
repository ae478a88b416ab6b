"""``gatekeeper plan check`` and ``gatekeeper guardrails export|diff`` from the command line: output
formats, exit codes, bad input, and --apply over HTTP against moto's server."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from gatekeeper.cli.main import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "docs" / "examples" / "plan-aws.json"
CSV = ROOT / "gatekeeper" / "demo" / "data" / "customers.csv"

# The parts of SARIF 2.1.0 (OASIS) that code-scanning UIs require of a log.
SARIF_SUBSET = {
    "type": "object", "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"}, "$schema": {"type": "string"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name", "rules"],
                    "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {
                        "type": "object", "required": ["id", "shortDescription"]}}}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["ruleId", "level", "message", "locations"],
                    "properties": {"level": {"enum": ["none", "note", "warning", "error"]},
                                   "message": {"type": "object", "required": ["text"]},
                                   "locations": {"type": "array", "minItems": 1}}}},
            }}},
    },
}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                 '[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n', encoding="utf-8")
    result = runner.invoke(app, ["accounts", "import", str(CSV), "--config", str(f)])
    assert result.exit_code == 0, result.output
    return f


def plan_check(cfg: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", "check", str(PLAN), "--config", str(cfg), *args])
    return result.exit_code, result.stdout


def test_table_and_pending_exit_code(cfg: Path) -> None:
    code, out = plan_check(cfg)
    assert code == 3, out
    assert "aws_autoscaling_group.trainers" in out and "PENDING" in out and "Lion City AI" in out
    assert "known only after apply" in out


def test_json_report(cfg: Path) -> None:
    code, out = plan_check(cfg, "--json")
    doc = json.loads(out)
    assert code == 3 and doc["decision"] == "pending"
    by = {r["address"]: r for r in doc["resources"]}
    assert by["aws_instance.web"]["decision"] == "allow"
    asg = by["aws_autoscaling_group.trainers"]
    assert asg["decision"] == "pending" and asg["operation"] == "autoscaling:CreateAutoScalingGroup"
    assert asg["detail"]["case_id"] and asg["detail"]["request"]["source"] == "plan"
    assert asg["detail"]["items"][0]["instance_type"] == "p5.48xlarge"
    assert doc["counts"] == {"allow": 1, "flag": 0, "pending": 3, "deny": 0, "error": 0}


def test_sarif_report(cfg: Path) -> None:
    code, out = plan_check(cfg, "--format", "sarif")
    doc = json.loads(out)
    jsonschema.validate(doc, SARIF_SUBSET)
    results = doc["runs"][0]["results"]
    assert code == 3 and len(results) == 3  # the plain instance is not a finding
    rules = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    for r in results:
        assert r["level"] == "error" and rules[r["ruleIndex"]] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(PLAN)
        assert len(r["partialFingerprints"]["gatekeeperResource/v1"]) == 64
    assert len({r["partialFingerprints"]["gatekeeperResource/v1"] for r in results}) == len(results)
    assert "us-cloud-advanced-compute/d5-macau-3a090" in rules


def test_junit_report_to_a_file(cfg: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "plan.xml"
    code, out = plan_check(cfg, "--format", "junit", "--output", str(out_file), "--dry-run")
    assert code == 3 and "PENDING" in out  # the table still prints
    root = ET.fromstring(out_file.read_text(encoding="utf-8"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "3"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["aws_instance.web"].find("failure") is None
    assert cases["aws_autoscaling_group.trainers"].find("failure").get("type") == "pending"


@pytest.mark.parametrize(("account", "code"), [("111111111111", 0), ("444444444444", 4)])
def test_account_override_exit_codes(cfg: Path, account: str, code: int) -> None:
    got, out = plan_check(cfg, "--provider", "aws", "--account", account, "--dry-run", "--json")
    assert got == code, out
    assert json.loads(out)["decision"] == {0: "flag", 4: "deny"}[code] or code == 0


def test_bad_input(cfg: Path, tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["plan", "check", str(bad), "--config", str(cfg), "--json"])
    assert result.exit_code == 1 and "not JSON" in json.loads(result.stdout)["error"]
    result = runner.invoke(app, ["plan", "check", str(PLAN), "--config", str(cfg), "--provider", "aws"])
    assert result.exit_code == 1 and "go together" in result.output
    result = runner.invoke(app, ["plan", "check", str(PLAN), "--config", str(cfg), "--format", "xml"])
    assert result.exit_code == 2


def test_guardrails_export_then_diff_after_a_licence(cfg: Path, tmp_path: Path) -> None:
    out = tmp_path / "guardrails"
    result = runner.invoke(app, ["guardrails", "export", "--cloud", "aws", "--out", str(out), "--on", "2026-12-04",
                                 "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (out / "aws" / "manifest.json").exists() and doc["artifacts"]
    for a in doc["artifacts"]:
        assert json.loads((out / "aws" / f"{a['name']}.json").read_text()) == a["content"]
    same = runner.invoke(app, ["guardrails", "diff", "--cloud", "aws", "--out", str(out), "--on", "2026-12-04",
                               "--config", str(cfg), "--json"])
    assert same.exit_code == 0 and json.loads(same.stdout)["changed"] is False
    # the China-owned customer's country changes: its guardrail goes, the diff says so
    moved = tmp_path / "moved.csv"
    moved.write_text("provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
                     "aws,222222222222,Lion City AI Pte. Ltd.,SG,SG,SG,verified\n", encoding="utf-8")
    assert runner.invoke(app, ["accounts", "import", str(moved), "--config", str(cfg)]).exit_code == 0
    changed = runner.invoke(app, ["guardrails", "diff", "--cloud", "aws", "--out", str(out), "--on", "2026-12-04",
                                  "--config", str(cfg)])
    assert changed.exit_code == 0 and "222222222222" in changed.stdout and "Lion City" in changed.stdout


def test_guardrails_bad_cloud_and_date(cfg: Path) -> None:
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "oracle", "--config", str(cfg)])
    assert r.exit_code == 1 and "aws, azure or gcp" in r.output
    r = runner.invoke(app, ["guardrails", "diff", "--cloud", "aws", "--on", "tomorrow", "--config", str(cfg)])
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.output
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "aws", "--ou", "root=1", "--config", str(cfg)])
    assert r.exit_code == 1 and "ou-ID=MEMBER" in r.output
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "gcp", "--folder", "folders/1=", "--config", str(cfg)])
    assert r.exit_code == 1 and "folders/ID=MEMBER" in r.output


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    import urllib.request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its backends per process: start from an empty organization state
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    yield url
    server.stop()


def _organization(moto_server: str, tmp_path: Path) -> tuple[Any, str, Path]:
    """An AWS organization on moto with one member account, and a config (store, audit log under
    ``tmp_path/audit2``) whose one customer is that account: the client, the account id, the config."""
    import boto3

    org = boto3.client("organizations", endpoint_url=moto_server)
    org.create_organization(FeatureSet="ALL")
    org.enable_policy_type(RootId=org.list_roots()["Roots"][0]["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    acct = org.create_account(AccountName="lion", Email="l@example.com")["CreateAccountStatus"]["AccountId"]
    only = tmp_path / "only.csv"
    only.write_text("provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
                    f"aws,{acct},Lion City AI Pte. Ltd.,SG,SG,CN,verified\n", encoding="utf-8")
    cfg2 = tmp_path / "org.toml"
    cfg2.write_text('[store]\nurl = "sqlite:///org.db"\ncreate = true\n'
                    '[audit]\nurl = "file://audit2"\nsigning_key = "k2.pem"\n')
    assert runner.invoke(app, ["accounts", "import", str(only), "--config", str(cfg2)]).exit_code == 0
    return org, acct, cfg2


def test_guardrails_apply_over_http(cfg: Path, tmp_path: Path, moto_server: str) -> None:
    org, acct, cfg2 = _organization(moto_server, tmp_path)
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "aws", "--apply", "--endpoint", moto_server,
                            "--out", str(tmp_path / "g"), "--config", str(cfg2), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert any(line.startswith("attached") for line in doc["applied"])
    pols = org.list_policies_for_target(TargetId=acct, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert any(p["Name"].startswith("gatekeeper-export-control-") for p in pols)
    records = [json.loads(line) for f in sorted((tmp_path / "audit2").glob("segment-*.jsonl"))
               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    # The change is audited: what is about to be applied before the cloud is touched, then what was done.
    [applying, applied] = [r for r in records if r["kind"].startswith("guardrails.")]
    assert applying["kind"] == "guardrails.applying" and applied["kind"] == "guardrails.applied"
    assert applied["data"]["intent"] == applying["seq"] and acct in json.dumps(applied["data"]["changes"])
    assert applying["data"]["cloud"] == "aws" and applying["data"]["diff"] == doc["diff"]


def test_guardrails_are_not_applied_when_the_audit_log_cannot_be_written(cfg: Path, tmp_path: Path,
                                                                        moto_server: str) -> None:
    org, _, cfg2 = _organization(moto_server, tmp_path)
    shutil.rmtree(tmp_path / "audit2")  # the import's record made it; now the log cannot be opened
    (tmp_path / "audit2").write_text("not a folder\n", encoding="utf-8")
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "aws", "--apply", "--endpoint", moto_server,
                            "--out", str(tmp_path / "g"), "--config", str(cfg2), "--json"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    out = json.loads(r.stdout)
    assert out["type"] == "AuditError" and out["error"].startswith(
        "the aws guardrails were not applied: its audit record (guardrails.applying) could not be written")
    names = [p["Name"] for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]]
    assert not any(n.startswith("gatekeeper-export-control-") for n in names)


def test_guardrails_over_the_limits_are_written_but_never_applied(cfg: Path, tmp_path: Path, moto_server: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from gatekeeper.gates.guardrails import aws

    monkeypatch.setattr(aws, "MAX_SCP_CHARS", 1000)  # far too many SCPs for one account
    org = boto3.client("organizations", endpoint_url=moto_server)
    org.create_organization(FeatureSet="ALL")
    r = runner.invoke(app, ["guardrails", "export", "--cloud", "aws", "--apply", "--endpoint", moto_server,
                            "--out", str(tmp_path / "g"), "--config", str(cfg)])
    assert r.exit_code == 1 and "not applied" in r.stdout and "problem" in r.stdout
    assert (tmp_path / "g" / "aws" / "manifest.json").exists()
    names = [p["Name"] for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]]
    assert not any(n.startswith(aws.POLICY_PREFIX) for n in names)


def test_a_corrupt_manifest_is_a_clear_error(cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "g" / "aws").mkdir(parents=True)
    (tmp_path / "g" / "aws" / "manifest.json").write_text("{oops", encoding="utf-8")
    r = runner.invoke(app, ["guardrails", "diff", "--cloud", "aws", "--out", str(tmp_path / "g"), "--config", str(cfg)])
    assert r.exit_code == 1 and "not a guardrails manifest" in r.output


def test_a_resource_without_subject_is_an_error_in_every_format(cfg: Path, tmp_path: Path) -> None:
    from tests.gates.plan._plans import Res, plan

    doc = plan(Res("aws_instance", "x", {"instance_type": "t3.micro"}))  # no provider block: whose is it?
    path = tmp_path / "nosubject.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    base = ["plan", "check", str(path), "--config", str(cfg)]
    table = runner.invoke(app, base)
    assert table.exit_code == 1 and "ERROR" in table.stdout and "1 error" in table.stdout
    out = runner.invoke(app, [*base, "--json"])
    doc = json.loads(out.stdout)
    assert out.exit_code == 1 and doc["decision"] == "error"
    assert "--provider aws --account" in doc["resources"][0]["error"]
    junit = runner.invoke(app, [*base, "--format", "junit"])
    suite = ET.fromstring(junit.stdout).find("testsuite")
    assert junit.exit_code == 1 and suite is not None and suite.get("errors") == "1"
    assert suite.find("testcase/error") is not None
    sarif = json.loads(runner.invoke(app, [*base, "--format", "sarif"]).stdout)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "gatekeeper/error"
