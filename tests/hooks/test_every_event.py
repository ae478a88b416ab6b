"""Every self-contained row of the AWS spec as a CloudTrail record (the SDK request recorded in
CloudTrail's lowerCamel), through the hook as ``gatekeeper hooks test`` runs it: held or denied for a
China-headquartered customer, allowed for plain compute, for the same rows the wrapper decides."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.hooks import _aws
from gatekeeper.hooks.aws_lambda import AwsHook
from gatekeeper.providers.aws import SPEC
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import CHINA_HQ, load_event
from tests.providers.aws_samples import NO_PLAIN, SAMPLES, plain

ROWS = sorted(SAMPLES)


def camel(node: Any) -> Any:
    if isinstance(node, dict):
        return {(k[:1].lower() + k[1:]): camel(v) for k, v in node.items()}
    if isinstance(node, list):
        return [camel(v) for v in node]
    return node


def record(key: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
    op = SPEC.by_key[key]
    assert op.audit is not None
    event = load_event("run-instances-console.json", ACCOUNT=CHINA_HQ, AMI="ami-1", INSTANCE_ID="i-1",
                       INSTANCE_TYPE="t3.micro")
    event["detail"].update(eventSource=op.audit.source, eventName=op.name, requestParameters=camel(params),
                           responseElements=None)
    return event


@pytest.mark.parametrize("key", ROWS, ids=[f"{s}.{o}" for s, o in ROWS])
def test_every_event_is_decided_from_the_same_row(gk: Gatekeeper, key: tuple[str, str]) -> None:
    hook = AwsHook(gk, reader=_aws.NoReader(), dry_run=True)
    out = hook.handle(record(key, SAMPLES[key]))
    assert out.get("decision") in ("pending", "deny"), out
    assert any(i["instance_type"] for i in out["request"]["items"]) or out["request"]["unresolved"]
    if key not in NO_PLAIN:
        ok = hook.handle(record(key, plain(SAMPLES[key])))
        assert ok.get("decision", "allow") == "allow" or ok["status"] == "ignored", ok
