"""Following references through read-only AWS calls, with the caller's credentials, cached; failing closed.

Against moto (in-process for most, both transports where the reads themselves are the point).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

import gatekeeper
from gatekeeper.adapters.aws import ExportControlDenied, ExportLicensePending, _resolver
from gatekeeper.adapters.aws._resolver import caller_of, custom_endpoint
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI, GPU, PLAIN, groups, template_versions, templates
from tests.adapters.aws.conftest import CN_HQ, US, Aws, Sent, TeeAudit


def ec2_request(aws: Aws, **params: Any) -> Any:
    return gatekeeper.aws.translate(aws.raw("ec2"), "RunInstances", {"MaxCount": 1, **params})


@pytest.mark.parametrize("version", ["$Latest", "2", None, "$Default"])
def test_launch_template_versions_by_name_and_id(inproc: Aws, gk: Gatekeeper, version: str | None) -> None:
    ctx = template_versions(inproc)  # gk-mixed: v1 plain (the default), v2 A100
    spec: dict[str, str] = {"LaunchTemplateId": ctx["mixed_id"]}
    if version is not None:
        spec["Version"] = version
    by_id = ec2_request(inproc, LaunchTemplate=spec)
    by_name = ec2_request(inproc, LaunchTemplate={"LaunchTemplateName": "gk-mixed",
                                                  **({"Version": version} if version is not None else {})})
    expected = GPU if version in ("$Latest", "2") else PLAIN
    for req in (by_id, by_name):
        assert [i.instance_type for i in req.items] == [expected] and not req.unresolved
    assert by_id.items[0].path.endswith(f"v{'2' if expected == GPU else '1'}).InstanceType")


def test_switching_the_default_version_changes_what_default_launches(inproc: Aws, gk: Gatekeeper) -> None:
    ctx = template_versions(inproc)
    protected = gatekeeper.aws.protect(inproc.raw("ec2"))
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        protected.modify_launch_template(LaunchTemplateId=ctx["mixed_id"], DefaultVersion="2")
    inproc.raw("ec2").modify_launch_template(LaunchTemplateId=ctx["mixed_id"], DefaultVersion="2")
    _resolver.RESOLVER.clear()
    req = ec2_request(inproc, LaunchTemplate={"LaunchTemplateId": ctx["mixed_id"]})
    assert [i.instance_type for i in req.items] == [GPU]


def test_missing_template_is_denied_with_the_reason(aws: Aws, audit: TeeAudit) -> None:
    sent = Sent()
    ec2 = aws.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=US), pytest.raises(ExportControlDenied) as info:
        ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "does-not-exist"}, MinCount=1, MaxCount=1)
    reasons = " ".join(info.value.response["Gatekeeper"]["reasons"])
    assert "does-not-exist" in reasons and "not found" in reasons and "denied fail-closed" in reasons
    assert sent.operations == []
    record = audit.decisions[-1]
    assert record["decision"] == "deny" and record["request"]["unresolved"]
    assert "gatekeeper.unresolved" in record["rule_ids"]


def test_launch_configuration_and_instance_references(inproc: Aws, gk: Gatekeeper) -> None:
    groups(inproc)
    asg = inproc.raw("autoscaling")
    req = gatekeeper.aws.translate(asg, "CreateAutoScalingGroup", {"AutoScalingGroupName": "g", "MaxSize": 4,
                                                                    "LaunchConfigurationName": "lc-gpu"})
    assert [(i.instance_type, i.count) for i in req.items] == [(GPU, 4)]
    assert req.items[0].path == "LaunchConfigurationName(lc-gpu).InstanceType"
    made = inproc.raw("ec2").run_instances(ImageId=AMI, InstanceType=GPU, MinCount=1, MaxCount=1)
    iid = made["Instances"][0]["InstanceId"]
    from_instance = gatekeeper.aws.translate(asg, "CreateLaunchConfiguration",
                                             {"LaunchConfigurationName": "copy", "InstanceId": iid})
    assert [i.instance_type for i in from_instance.items] == [GPU]


def test_group_updates_read_the_group_only_when_needed(inproc: Aws, gk: Gatekeeper) -> None:
    ctx = groups(inproc)  # asg-gpu (MaxSize 3, A100 template), asg-plain
    asg = inproc.raw("autoscaling")
    # Scaling only: the group's configuration is read; the new MaxSize is the count.
    scale = gatekeeper.aws.translate(asg, "UpdateAutoScalingGroup", {"AutoScalingGroupName": "asg-gpu", "MaxSize": 7})
    assert [(i.instance_type, i.count) for i in scale.items] == [(GPU, 7)]
    # A new accelerated configuration without a size: the group's MaxSize (3) is the count.
    cfg = gatekeeper.aws.translate(asg, "UpdateAutoScalingGroup", {
        "AutoScalingGroupName": "asg-plain",
        "LaunchTemplate": {"LaunchTemplateName": ctx["lt_gpu"], "Version": "$Latest"}})
    assert [(i.instance_type, i.count) for i in cfg.items] == [(GPU, 3)]
    # A plain configuration: no read of the group at all.
    calls = _resolver.RESOLVER.calls
    plain = gatekeeper.aws.translate(asg, "UpdateAutoScalingGroup", {
        "AutoScalingGroupName": "asg-gpu", "MixedInstancesPolicy": {"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateName": ctx["lt_plain"]},
            "Overrides": [{"InstanceType": "m5.large"}]}}})
    assert [i.instance_type for i in plain.items] == ["m5.large"]
    assert _resolver.RESOLVER.calls == calls  # the override names the type: nothing read
    # Unrelated settings: nothing to decide, nothing read.
    assert gatekeeper.aws.translate(asg, "UpdateAutoScalingGroup", {"AutoScalingGroupName": "asg-gpu",
                                                                     "HealthCheckType": "ELB"}).items == ()


def test_instance_refresh_reads_the_groups_template(aws: Aws, gk: Gatekeeper) -> None:
    groups(aws)
    req = gatekeeper.aws.translate(aws.raw("autoscaling"), "StartInstanceRefresh", {"AutoScalingGroupName": "asg-gpu"})
    assert [(i.instance_type, i.count) for i in req.items] == [(GPU, 3)]
    missing = gatekeeper.aws.translate(aws.raw("autoscaling"), "StartInstanceRefresh",
                                       {"AutoScalingGroupName": "no-such-group"})
    assert missing.items == () and "no-such-group" in missing.unresolved[0]


def test_node_group_update_reads_the_node_group(inproc: Aws, gk: Gatekeeper) -> None:
    from tests.adapters.aws.cases import eks_nodegroup

    eks_nodegroup(inproc)  # node group on gk-mixed v1 (plain), maxSize 2
    req = gatekeeper.aws.translate(inproc.raw("eks"), "UpdateNodegroupVersion",
                                   {"clusterName": "gk-cluster", "nodegroupName": "ng"})
    # The template's type (moto also reports its default instanceTypes, t3.medium, decided alongside).
    assert PLAIN in {i.instance_type for i in req.items} and not req.unresolved
    assert {i.instance_type for i in req.items} <= {PLAIN, "t3.medium"} and {i.count for i in req.items} == {2}
    scaled = gatekeeper.aws.translate(inproc.raw("eks"), "UpdateNodegroupConfig",
                                      {"clusterName": "gk-cluster", "nodegroupName": "ng",
                                       "scalingConfig": {"maxSize": 9}})
    assert {i.count for i in scaled.items} == {9}


def test_reads_are_cached_for_the_ttl(inproc: Aws, gk: Gatekeeper, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = templates(inproc)
    now = [1000.0]
    monkeypatch.setattr(_resolver.RESOLVER, "_clock", lambda: now[0])
    spec = {"LaunchTemplate": {"LaunchTemplateName": ctx["lt_gpu"], "Version": "$Latest"}}
    ec2_request(inproc, **spec)
    calls = _resolver.RESOLVER.calls
    ec2_request(inproc, **spec)
    assert _resolver.RESOLVER.calls == calls  # within the TTL (60 s by default): no read
    # A new $Latest is seen once the TTL has passed.
    inproc.raw("ec2").create_launch_template_version(LaunchTemplateName=ctx["lt_gpu"],
                                                     LaunchTemplateData={"InstanceType": PLAIN, "ImageId": AMI})
    assert [i.instance_type for i in ec2_request(inproc, **spec).items] == [GPU]
    now[0] += gk.config.aws.resolver_ttl_seconds + 1
    assert [i.instance_type for i in ec2_request(inproc, **spec).items] == [PLAIN]
    assert _resolver.RESOLVER.calls == calls + 1


def test_reads_use_the_callers_own_credentials(inproc: Aws, gk: Gatekeeper) -> None:
    templates(inproc)
    client = inproc.session().client("ec2", aws_access_key_id="AKIDCALLERONE", aws_secret_access_key="s1")
    caller = caller_of(client)
    assert (caller.access_key, caller.secret_key, caller.region) == ("AKIDCALLERONE", "s1", "us-east-1")
    reader = _resolver.RESOLVER.client(caller, "ec2")
    frozen = reader._get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == ("AKIDCALLERONE", "s1")
    # The identity is cached per access key: a second key is a second caller.
    other = caller_of(inproc.session().client("ec2", aws_access_key_id="AKIDCALLERTWO", aws_secret_access_key="s2"))
    calls = _resolver.RESOLVER.calls
    _resolver.RESOLVER.identity(caller, 60)
    _resolver.RESOLVER.identity(caller, 60)
    _resolver.RESOLVER.identity(other, 60)
    assert _resolver.RESOLVER.calls == calls + 2


def test_a_kept_caller_answers_what_the_resolver_answers(inproc: Aws) -> None:
    """What a guard keeps of its client's caller (KnownCaller): the caller ``caller_of`` builds, again
    when the credentials change; the identity the resolver answers, read again when the resolver's
    entry expires or the resolver is cleared."""
    now = [0.0]
    resolver = _resolver.Resolver(clock=lambda: now[0])
    client = inproc.session().client("ec2", aws_access_key_id="AKIDKEPTONE", aws_secret_access_key="s1")
    known = _resolver.KnownCaller()
    caller = known.caller(client)
    assert caller == caller_of(client) and known.caller(client) is caller
    ident = known.identity(caller, 60, resolver)
    assert ident == _resolver.Resolver().identity(caller_of(client), 60)
    calls = resolver.calls
    assert known.identity(caller, 60, resolver) == ident and resolver.calls == calls  # kept
    client._get_credentials().access_key = "AKIDKEPTTWO"  # new keys (what a refresh does)
    again = known.caller(client)
    assert again == caller_of(client) and again.access_key == "AKIDKEPTTWO"
    known.identity(again, 60, resolver)
    assert resolver.calls == calls + 1  # a second key is a second caller
    now[0] = 59.0
    known.identity(again, 60, resolver)
    assert resolver.calls == calls + 1
    now[0] = 61.0  # the resolver's entry expired: read again
    known.identity(again, 60, resolver)
    assert resolver.calls == calls + 2
    resolver.clear()
    known.identity(again, 60, resolver)
    assert resolver.calls == calls + 3
    known.identity(again, 0, resolver)  # nothing kept without a TTL
    known.identity(again, 0, resolver)
    assert resolver.calls == calls + 5


def test_reads_go_where_the_caller_goes(aws: Aws) -> None:
    caller = caller_of(aws.raw("ec2"))
    assert caller.endpoint == aws.endpoint  # moto's server for "http", AWS's own endpoints otherwise
    assert custom_endpoint("https://ec2.us-east-1.amazonaws.com") is None
    assert custom_endpoint("https://vpce-1.ec2.us-east-1.vpce.amazonaws.com") is None
    assert custom_endpoint("http://localhost:4566/path") == "http://localhost:4566"


def test_access_denied_names_the_permission(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"))
    reader = _resolver.RESOLVER.client(caller_of(ec2), "ec2")
    with Stubber(reader) as stub:
        stub.add_client_error("describe_launch_template_versions", "UnauthorizedOperation", "not authorized")
        with gatekeeper.acting_for(provider="aws", account_id=US), pytest.raises(ExportControlDenied) as info:
            ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "gk-any"}, MinCount=1, MaxCount=1)
    assert "UnauthorizedOperation" in str(info.value)
    assert "the caller needs ec2:DescribeLaunchTemplateVersions" in str(info.value)


def test_a_resolver_that_raises_fails_closed(inproc: Aws, audit: TeeAudit, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = templates(inproc)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr(_resolver.RESOLVER, "describe", broken)
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=US), pytest.raises(ExportControlDenied) as info:
        ec2.run_instances(LaunchTemplate={"LaunchTemplateName": ctx["lt_plain"]}, MinCount=1, MaxCount=1)
    assert "resolver exploded" in str(info.value) and sent.operations == []
    record = audit.decisions[-1]
    assert record["decision"] == "deny" and "resolver exploded" in record["request"]["unresolved"][0]
    # A call that needs no read is unaffected.
    ec2.run_instances(ImageId=AMI, InstanceType=PLAIN, MinCount=1, MaxCount=1)
    assert sent.operations == ["RunInstances"]


def test_resolver_failure_with_on_error_allow_proceeds_flagged(inproc: Aws, tmp_path: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper import runtime
    from tests.adapters.aws.conftest import make_gatekeeper

    _, tee = make_gatekeeper(tmp_path, on_error="allow")
    ctx = templates(inproc)
    monkeypatch.setattr(_resolver.RESOLVER, "describe", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=US):
        ec2.run_instances(LaunchTemplate={"LaunchTemplateName": ctx["lt_gpu"]}, MinCount=1, MaxCount=1)
    assert sent.operations == ["RunInstances"]
    assert tee.decisions[-1]["decision"] == "flag" and "down" in tee.decisions[-1]["request"]["unresolved"][0]
    runtime.reset()
