"""The cloud-neutral spec vocabulary: recasing into the audit shape, lookups, path walking."""

from __future__ import annotations

import pytest

from gatekeeper.providers import (
    Affected,
    Audit,
    Existing,
    Operation,
    ProviderSpec,
    Ref,
    Slot,
    Source,
    lower_camel,
    recase,
    sdk_paths,
    snake_to_camel,
)


def test_recase_keeps_the_path_syntax() -> None:
    assert recase("A.B[].C+D|$.E.F", lower_camel) == "a.b[].c+d|$.e.f"
    assert recase("node_pool.initial_node_count", snake_to_camel) == "nodePool.initialNodeCount"


_OP = Operation(
    "ec2", "RunInstances",
    (Slot(sources=(Source(type=("InstanceType",), refs=(Ref("launch_template", "LaunchTemplate"),)),),
          count=("MaxCount", "MinCount")),),
    ids=("ClientToken",),
    audit=Audit("ec2.amazonaws.com", root="requestParameters",
                affected=(Affected("ec2:instance", "responseElements.instancesSet.items[].instanceId"),)),
)
_UPDATE = Operation("autoscaling", "UpdateAutoScalingGroup",
                    base=Existing("asg", (("name", "AutoScalingGroupName"),),
                                  (Slot(sources=(Source(type=("InstanceType",)),), count=("MaxSize",)),),
                                  when=("MaxSize",)))


def test_spec_indexes_operations_and_events_and_derives_event_slots() -> None:
    spec = ProviderSpec("aws", (_OP, _UPDATE), casing=lower_camel)
    assert spec.operation("ec2", "RunInstances") is _OP
    assert spec.event_operation("ec2.amazonaws.com", "RunInstances") is _OP
    assert spec.event_operation("ec2.amazonaws.com", "Nope") is None
    (slot,) = spec.event_slots(_OP)
    assert slot.count == ("maxCount", "minCount")
    assert slot.sources[0].type == ("instanceType",) and slot.sources[0].refs[0].at == "launchTemplate"
    base = spec.event_base(_UPDATE)
    assert base is not None and base.keys == (("name", "autoScalingGroupName"),) and base.when == ("maxSize",)
    assert spec.services == ("ec2", "autoscaling")


def test_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        ProviderSpec("aws", (_OP, _OP))


def test_sdk_paths_lists_every_path_read() -> None:
    paths = set(sdk_paths(_OP)) | set(sdk_paths(_UPDATE))
    assert {"InstanceType", "LaunchTemplate", "MaxCount", "MinCount", "ClientToken", "AutoScalingGroupName",
            "MaxSize"} <= paths
