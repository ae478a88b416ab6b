"""One spec, every surface: parity between the adapter, the hook, the deploy rule and remediation;
malformed CloudTrail input is a clear, audited error (never a traceback), also under fuzzing."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.adapters.aws import _install
from gatekeeper.hooks import _aws, _core, aws_lambda
from gatekeeper.hooks.aws_lambda import AwsHook
from gatekeeper.hooks.remediation import KINDS
from gatekeeper.providers.aws import SPEC, event_pattern
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import CHINA_HQ, load_event


def test_every_spec_operation_is_guarded_by_the_adapter_and_caught_by_the_hook() -> None:
    guarded = {(s, name) for s, names in _install._OPS_BY_SERVICE.items() for name in names}
    assert guarded == set(SPEC.by_key)
    # every operation has an audit side the hook reads, and the deploy rule forwards its events
    assert {op.key for op in SPEC.by_event.values()} == set(SPEC.by_key)
    assert set(event_pattern()["detail"]["eventName"]) == {op.audit.name or op.name for op in SPEC.by_event.values()
                                                           if op.audit}


def test_every_affected_kind_has_a_remediation_and_its_executors() -> None:
    for op in SPEC.operations:
        assert op.audit is not None and op.audit.affected, f"{op.name}: nothing to put right"
        for a in op.audit.affected:
            spec = KINDS.get(a.kind)
            assert spec is not None, f"{op.name}: {a.kind} has no remediation"
            for action in {spec.stop, spec.terminate} - {""}:
                assert (a.kind, action) in _aws.EXECUTORS, (a.kind, action)
            if spec.taggable:
                assert (a.kind, "tag") in _aws.EXECUTORS, (a.kind, "tag")


def _event() -> dict[str, Any]:
    return load_event("run-instances-console.json", ACCOUNT=CHINA_HQ, AMI="ami-1", INSTANCE_ID="i-1",
                      INSTANCE_TYPE="p5.48xlarge")


def _run_instances(**request: Any) -> dict[str, Any]:
    event = _event()
    event["detail"]["requestParameters"] = request
    event["detail"]["responseElements"] = None
    return event


@pytest.mark.parametrize("bad", ["9" * 5000, 1e308, -3, "lots", {"n": 1}], ids=["digits", "1e308", "neg", "word",
                                                                               "object"])
def test_a_malformed_count_is_decided_fail_closed_and_the_instance_stopped(moto: None, gk: Gatekeeper,
                                                                           bad: Any) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    iid = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1,
                            MaxCount=1)["Instances"][0]["InstanceId"]
    event = _event()
    event["detail"]["requestParameters"]["instancesSet"]["items"][0]["maxCount"] = bad
    event["detail"]["responseElements"]["instancesSet"]["items"][0]["instanceId"] = iid
    event["detail"]["responseElements"]["instancesSet"]["items"][0]["instanceType"] = {"bad": "shape"} \
        if isinstance(bad, dict) else "t3.micro"
    out = aws_lambda.handler(event, None)
    assert out["decision"] == "deny", out
    unresolved = " ".join(out["request"]["unresolved"])
    assert "malformed" in unresolved and len(json.dumps(out)) < 20_000
    assert out["plan"]["verb"] == "stop"  # [hooks] on_error: the safe, reversible remediation
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("stopping", "stopped")


_scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | \
    st.sampled_from(["p5.48xlarge", "t3.micro", "9" * 50, "1e308"])
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["instanceType", "InstanceType", "maxCount", "items", "item", "launchTemplate", "instancesSet",
                     "launchTemplateId", "maxSize", "autoScalingGroupName", "instanceIds"]), inner, max_size=4),
    max_leaves=15)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted({op.name for op in SPEC.operations})), request=_json, response=_json)
def test_fuzzed_cloudtrail_events_never_raise_out_of_the_hook(gk: Gatekeeper, name: str, request: Any,
                                                             response: Any) -> None:
    op = next(o for o in SPEC.operations if o.name == name)
    assert op.audit is not None
    event = copy.deepcopy(_event())
    event["detail"].update(eventName=name, eventSource=op.audit.source, requestParameters=request,
                           responseElements=response)
    out = AwsHook(gk, reader=_aws.NoReader(), dry_run=True).handle(event)
    assert out["status"] in {_core.ERROR, _core.IGNORED, _core.DECIDED, "remediated", "duplicate"} or "decision" in out


def test_a_pending_decision_with_nothing_to_act_on_is_an_error(gk: Gatekeeper) -> None:
    # A RunInstances record whose response names no instance: the request is decided, nothing can be put right.
    event = _run_instances(instanceType="p5.48xlarge", instancesSet={"items": [{"maxCount": 2}]})
    out = AwsHook(gk, reader=_aws.NoReader()).handle(event)
    assert out["status"] == _core.ERROR and out["decision"] == "pending"
    assert "no resource to act on" in out["reason"]
