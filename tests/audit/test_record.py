"""The record schema: decision records (v2, each fact once) and event records, and back to a request for
replay, from v2 records and from v1 records written before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatekeeper.audit import SCHEMA, decision_record, event_record, request_from_record
from gatekeeper.audit.record import SCHEMA_V2, classified_items_from_record, decision_reasons
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import (
    AttachedAccelerator,
    ComputeItem,
    CustomerProfile,
    Outcome,
    ProvisioningRequest,
    ScreeningHit,
)
from tests.audit.conftest import make_decision, open_log


def test_decision_record_carries_what_the_issue_lists() -> None:
    d = make_decision(rules=(("cn-parent-deny", Outcome.DENY), ("kyc-flag", Outcome.FLAG)))
    rec = decision_record(d)
    assert rec["schema"] == SCHEMA_V2 == "gatekeeper.audit/v2" and rec["kind"] == "decision"
    assert rec["ts"] == "2025-03-01T12:00:00.000000+00:00" and rec["decision_id"] == "dec-1"
    assert rec["decision"] == "deny" and rec["policy_decision"] == "deny" and rec["mode"] == "enforce"
    assert (rec["source"], rec["provider"], rec["service"], rec["operation"], rec["region"]) == (
        "sdk", "aws", "ec2", "RunInstances", "us-east-1")
    assert rec["principal"] == "arn:aws:iam::1:user/dev"
    assert rec["legal_name"] == "Lion City AI Pte. Ltd." and "legal_name" not in rec["subject"]
    assert rec["subject"]["ultimate_parent_country"] == "CN"
    assert rec["countries"] == ["SG", "CN"] and rec["country"] == "SG" and rec["account_id"] == "222222222222"
    assert rec["items"][0]["accelerators"][0]["model"] == "H100"
    assert rec["items"][0]["export_class"] == "3A090.a" and rec["chips"] == ["H100"]
    assert rec["export_classes"] == ["3A090.a"]
    assert [r["id"] for r in rec["rules"]] == rec["rule_ids"] == ["cn-parent-deny", "kyc-flag"]
    assert rec["rules"][0]["pack"] == "us-ear-destinations" and rec["rules"][0]["pack_version"] == "2025.01"
    assert rec["rules"][0]["citation"] == "15 CFR 744.23"
    assert rec["licence_id"] is None and rec["case_id"] is None and rec["error"] is None
    json.dumps(rec)  # plain JSON


def test_decision_record_round_trips_to_the_request_and_profile() -> None:
    at = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    hit = ScreeningHit("EL", "e-1", "Lion City", 91.5, cleared=True)
    d = make_decision(at=at)
    req = ProvisioningRequest(
        "aws", "222222222222",
        (ComputeItem("p5.48xlarge", 2, choice="slot-1", path="Overrides[0]"),
         ComputeItem("m5.large", 1, (AttachedAccelerator("nvidia-h100-80gb", 2),))),
        region="eu-west-1", service="autoscaling", operation="CreateAutoScalingGroup", principal="p",
        source="lambda", resource_ids=("asg-1",), unresolved=("lt-1",), at=at)
    prof = CustomerProfile("aws", "222222222222", "L", "SG", "SG", "CN", "pending", True, (hit,))
    from dataclasses import replace

    rec = json.loads(json.dumps(decision_record(replace(d, request=req, profile=prof, items=()))))
    req2, prof2 = request_from_record(rec)
    assert req2 == req and prof2 == prof


def test_classified_items_round_trip() -> None:
    d = make_decision()
    rec = json.loads(json.dumps(decision_record(d)))
    assert classified_items_from_record(rec) == d.items


def test_request_from_a_non_decision_record_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a decision record"):
        request_from_record(event_record("case.opened", "alice", {}))
    rec = decision_record(make_decision())
    del rec["provider"]
    with pytest.raises(InvalidInputError, match="incomplete"):
        request_from_record(rec)
    v1 = json.loads(json.dumps(V1_RECORD))
    del v1["subject"]["provider"]
    with pytest.raises(InvalidInputError, match="incomplete"):
        request_from_record(rec)
    rec = decision_record(make_decision())
    rec["request"] = "x"
    with pytest.raises(InvalidInputError, match="no valid 'request'"):
        request_from_record(rec)


def test_event_record() -> None:
    rec = event_record("licence.drawn", "reviewer@example.com", {"licence_id": "L-1", "quantity": 8})
    assert rec["schema"] == SCHEMA and rec["kind"] == "licence.drawn" and rec["actor"] == "reviewer@example.com"
    assert rec["data"] == {"licence_id": "L-1", "quantity": 8} and datetime.fromisoformat(rec["ts"]).tzinfo


@pytest.mark.parametrize(("kind", "actor", "data", "field"), [
    ("Case Opened", "a", {}, "kind"),
    ("case", "a", {}, "kind"),
    ("decision", "a", {}, "kind"),
    ("case.opened", " ", {}, "actor"),
    ("case.opened", "a", [], "data"),
])
def test_event_record_refuses_bad_input(kind: str, actor: str, data: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as e:
        event_record(kind, actor, data)  # type: ignore[arg-type]
    assert e.value.field == field


def test_records_written_and_read_back(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        out = log.append(decision_record(make_decision()))
    assert out["ts"] == "2025-03-01T12:00:00.000000+00:00"  # the decision time, not the write time
    assert out["decision"] == "deny" and out["seq"] == 2


def test_each_fact_is_written_once() -> None:
    d = make_decision(rules=(("cn-parent-deny", Outcome.DENY), ("kyc-flag", Outcome.FLAG)))
    rec = decision_record(d)
    for flat in ("provider", "account_id", "region", "service", "operation", "principal", "source"):
        assert flat not in rec["request"], flat
    for flat in ("provider", "account_id", "legal_name", "country"):
        assert flat not in rec["subject"], flat
    assert "items" not in rec["request"]  # the classified items carry count, choice, path, attached
    rule_reasons = [r["reason"] for r in rec["rules"]]
    assert not set(rec["reasons"]) & set(rule_reasons)
    assert decision_reasons(rec) == list(d.reasons)  # nothing lost: every reason, in order


def test_a_typical_controlled_decision_record_is_under_a_kilobyte() -> None:
    rec = decision_record(make_decision(rules=(), outcome=Outcome.ALLOW))  # an allowed p5: no rule matched
    assert len(json.dumps(rec, separators=(",", ":"))) < 1000  # v1: about 1,500


def test_a_decision_that_failed_before_classifying_keeps_the_requested_items() -> None:
    from dataclasses import replace

    d = make_decision()
    failed = replace(d, items=())
    rec = json.loads(json.dumps(decision_record(failed)))
    assert rec["request"]["items"][0]["instance_type"] == d.request.items[0].instance_type
    req, _ = request_from_record(rec)
    assert req == d.request


V1_RECORD = {
    "schema": "gatekeeper.audit/v1", "kind": "decision", "ts": "2026-01-05T10:00:00.000000+00:00",
    "decision_id": "dec-v1", "decision": "pending", "policy_decision": "pending", "mode": "enforce", "source": "sdk",
    "provider": "aws", "service": "ec2", "operation": "RunInstances", "region": "us-east-1", "principal": "dev",
    "account_id": "222222222222", "legal_name": "Lion City AI Pte. Ltd.", "country": "SG", "countries": ["SG", "CN"],
    "chips": ["H100"], "export_classes": ["3A090.a"], "rule_ids": ["d5-parent"],
    "subject": {"provider": "aws", "account_id": "222222222222", "legal_name": "Lion City AI Pte. Ltd.",
                "country": "SG", "headquarters_country": "SG", "ultimate_parent_country": "CN",
                "kyc_status": "verified", "known": True, "screening_hits": []},
    "request": {"provider": "aws", "account_id": "222222222222", "region": "us-east-1", "service": "ec2",
                "operation": "RunInstances", "principal": "dev", "source": "sdk", "resource_ids": [],
                "unresolved": [], "at": "2026-01-05T10:00:00+00:00",
                "items": [{"instance_type": "p5.48xlarge", "count": 2, "choice": "", "path": "", "attached": []}]},
    "items": [{"instance_type": "p5.48xlarge", "count": 2, "known": True, "accelerated": True,
               "export_class": "3A090.a", "choice": "", "path": "", "accelerators": [
                   {"model": "H100", "per_instance": 8.0, "total": 16.0, "tpp": 15832.0, "pd": 19.4,
                    "export_class": "3A090.a", "confirmed": True, "named_by": []}]}],
    "rules": [{"id": "d5-parent", "pack": "p", "pack_version": "1", "decision": "pending", "citation": "c",
               "reason": "owned from CN"}],
    "reasons": ["owned from CN"], "licence_id": None, "case_id": "case-1", "error": None,
}


def test_version_1_records_written_before_still_replay() -> None:
    req, prof = request_from_record(V1_RECORD)
    assert (req.provider, req.account_id, req.region, req.operation) == ("aws", "222222222222", "us-east-1",
                                                                          "RunInstances")
    assert req.items == (ComputeItem("p5.48xlarge", 2),)
    assert prof.ultimate_parent_country == "CN" and prof.legal_name == "Lion City AI Pte. Ltd."
    assert classified_items_from_record(V1_RECORD)[0].accelerators[0].model == "H100"
    assert decision_reasons(V1_RECORD) == ["owned from CN"]
