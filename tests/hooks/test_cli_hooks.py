"""``gatekeeper hooks test EVENT.json``: a recorded event replayed offline, as a dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gatekeeper.cli.main import app
from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import AZ_CHINA_HQ, CHINA_HQ, HOOK_PROFILES, audit_records, load_event

runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path, aws_credentials: None) -> Path:
    path = tmp_path / "gatekeeper.toml"
    path.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n[audit]\nurl = "file://audit"\n'
                    'signing_key = "audit-key.pem"\n[hooks]\non_deny = "terminate"\n', encoding="utf-8")
    gk = Gatekeeper(load_config(path))
    gk.store.profiles.put_profiles(list(HOOK_PROFILES))
    gk.close()
    return path


def write(tmp_path: Path, name: str, event: Any) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(event), encoding="utf-8")
    return p


def p5_event() -> dict[str, Any]:
    return load_event("run-instances-console.json", ACCOUNT=CHINA_HQ, INSTANCE_ID="i-0a1b2c3d4e5f60718",
                      INSTANCE_TYPE="p5.48xlarge", AMI="ami-12c6146b")


def test_a_recorded_p5_launch_replays_as_pending_with_its_plan_and_records_nothing(
        tmp_path: Path, config_file: Path) -> None:
    event = write(tmp_path, "event.json", p5_event())
    result = runner.invoke(app, ["hooks", "test", str(event), "--config", str(config_file)])
    assert result.exit_code == 3, result.output
    out = result.output
    assert "PENDING" in out and "dry run" in out and "Shenzhen Dragon Compute" in out
    assert "remediation: stop" in out and "i-0a1b2c3d4e5f60718" in out and "gatekeeper:decision=pending" in out
    # Nothing recorded, no case opened.
    assert audit_records(tmp_path) == []
    gk = Gatekeeper(load_config(config_file))
    assert gk.store.cases.list_cases() == []
    gk.close()


def test_json_output_carries_the_decision_and_the_actions(tmp_path: Path, config_file: Path) -> None:
    event = write(tmp_path, "event.json", p5_event())
    result = runner.invoke(app, ["hooks", "test", str(event), "--config", str(config_file), "--json"])
    assert result.exit_code == 3, result.output
    answer = json.loads(result.output)
    assert answer["status"] == "dry_run" and answer["decision"] == "pending" and answer["case_id"] is None
    assert [(a["action"], a["resource"]["id"]) for a in answer["plan"]["actions"]] == [
        ("tag", "i-0a1b2c3d4e5f60718"), ("stop", "i-0a1b2c3d4e5f60718")]


def test_without_resolve_nothing_is_read_and_the_unresolved_decision_shows(tmp_path: Path,
                                                                            config_file: Path) -> None:
    # A state change names no type: without --resolve the instance is not read from AWS.
    event = write(tmp_path, "state.json", load_event("instance-state-pending.json", ACCOUNT=CHINA_HQ,
                                                     INSTANCE_ID="i-0a1b2c3d4e5f60718"))
    result = runner.invoke(app, ["hooks", "test", str(event), "--config", str(config_file), "--json"])
    answer = json.loads(result.output)
    assert result.exit_code == 4 and answer["decision"] == "deny"
    assert "not read (dry run without --resolve)" in answer["request"]["unresolved"][0]
    assert answer["plan"]["verb"] == "stop"  # on_error, not on_deny's terminate
    # The same for an Event Grid event (the VM is not read from ARM).
    vm = load_event("azure-vm-write.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP="g", NAME="v",
                    PRINCIPAL_OID="0b0b0b0b-1111-4222-8333-444444444444", PRINCIPAL_UPN="a@example.cn")
    result = runner.invoke(app, ["hooks", "test", str(write(tmp_path, "vm.json", vm)), "--config",
                                 str(config_file), "--json"])
    answer = json.loads(result.output)
    assert answer["hook"] == "azure-function" and answer["decision"] == "deny"
    assert [a["action"] for a in answer["plan"]["actions"]] == ["tag", "deallocate"]


def test_an_array_of_events_exits_with_the_most_restrictive(tmp_path: Path, config_file: Path) -> None:
    t3 = load_event("run-instances-console.json", ACCOUNT=CHINA_HQ, INSTANCE_ID="i-1", INSTANCE_TYPE="t3.micro",
                    AMI="ami-12c6146b")
    failed = load_event("run-instances-failed.json", ACCOUNT=CHINA_HQ, AMI="ami-12c6146b")
    events = write(tmp_path, "events.json", [t3, failed, p5_event()])
    result = runner.invoke(app, ["hooks", "test", str(events), "--config", str(config_file), "--json"])
    answers = json.loads(result.output)
    assert [a.get("decision", a["status"]) for a in answers] == ["allow", "skipped", "pending"]
    assert result.exit_code == 3


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ("[]", "no events"),
])
def test_unreadable_files_are_errors(tmp_path: Path, config_file: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["hooks", "test", str(path), "--config", str(config_file)])
    assert result.exit_code == 1 and message in result.output


def test_a_malformed_or_unknown_event_is_an_error(tmp_path: Path, config_file: Path) -> None:
    for event in ({"hello": "world"}, {"id": "e", "detail-type": "AWS API Call via CloudTrail", "detail": 7}):
        result = runner.invoke(app, ["hooks", "test", str(write(tmp_path, "e.json", event)), "--config",
                                     str(config_file)])
        assert result.exit_code == 1 and "ERROR" in result.output
    assert audit_records(tmp_path) == []


def test_a_missing_file_is_an_error(tmp_path: Path, config_file: Path) -> None:
    result = runner.invoke(app, ["hooks", "test", str(tmp_path / "nope.json"), "--config", str(config_file),
                                 "--json"])
    assert result.exit_code == 1 and "cannot read" in json.loads(result.output)["error"]
