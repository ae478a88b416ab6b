"""The Lambda hook end to end: recorded CloudTrail/EventBridge events, decisions, remediation through moto."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from gatekeeper.errors import RemediationError
from gatekeeper.hooks import aws_lambda
from gatekeeper.hooks.aws_lambda import AwsHook
from gatekeeper.hooks.remediation import TAG_CASE_ID, TAG_DECISION, TAG_DECISION_ID
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import CHINA_HQ, IRAN, UNVERIFIED_CL, US, MakeGk, audit_records, kinds, load_event

REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's images


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def launch(itype: str, session: Any = None) -> str:
    client = (session or boto3).client("ec2", region_name=REGION)
    out = client.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=itype)
    return str(out["Instances"][0]["InstanceId"])


def instance(iid: str, session: Any = None) -> dict[str, Any]:
    client = (session or boto3).client("ec2", region_name=REGION)
    found: dict[str, Any] = client.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return found


def tags(iid: str, session: Any = None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance(iid, session).get("Tags", [])}


def run_event(iid: str, account: str, itype: str = "p5.48xlarge", **extra: str) -> dict[str, Any]:
    return load_event("run-instances-console.json", ACCOUNT=account, INSTANCE_ID=iid, INSTANCE_TYPE=itype,
                      AMI=AMI, **extra)


def remediations(home: Path) -> list[dict[str, Any]]:
    return [r for r in audit_records(home) if str(r.get("kind", "")).startswith("remediation.")]


def data(rec: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = rec["data"]
    return d


# -- the minimum -----------------------------------------------------------------------------
def test_console_p5_in_china_hq_account_is_stopped_and_tagged_with_its_case(
        moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    event = run_event(iid, CHINA_HQ)
    out = aws_lambda.handler(event, None)

    assert out["status"] == "remediated" and out["decision"] == "pending"
    case_id = out["case_id"]
    assert case_id and gk.store.cases.get_case(case_id) is not None
    assert instance(iid)["State"]["Name"] == "stopped"
    t = tags(iid)
    assert t[TAG_DECISION] == "pending" and t[TAG_CASE_ID] == case_id and t[TAG_DECISION_ID] == out["decision_id"]
    # The decision names the request as the hook saw it.
    assert out["request"]["principal"].endswith("assumed-role/ConsoleAdmin/li.wei")
    assert out["request"]["resource_ids"] == [iid]
    # Every action is in the audit log, after the decision, with the event id.
    recs = audit_records(tmp_path)
    decision = next(r for r in recs if r.get("kind") == "decision")
    assert decision["decision_id"] == out["decision_id"] and decision["source"] == "lambda"
    acts = remediations(tmp_path)
    assert [r["kind"] for r in acts] == ["remediation.tag", "remediation.stop"]
    assert all(data(r)["event_id"] == event["id"] and data(r)["result"] == "ok" for r in acts)
    assert all(data(r)["case_id"] == case_id and data(r)["resource"]["id"] == iid for r in acts)
    assert recs.index(decision) < recs.index(acts[0])


def test_the_same_event_delivered_twice_acts_once(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    event = run_event(iid, CHINA_HQ)
    first = aws_lambda.handler(event, None)
    # Someone starts it again; a redelivery of the old event must not act (nor decide) again.
    ec2().start_instances(InstanceIds=[iid])
    second = aws_lambda.handler(dict(event), None)

    assert first["status"] == "remediated" and second["status"] == "duplicate"
    assert instance(iid)["State"]["Name"] == "running"
    assert kinds(tmp_path).count("decision") == 1
    assert len(remediations(tmp_path)) == 2


def test_concurrent_deliveries_act_once(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    event = run_event(iid, CHINA_HQ)
    hooks = [AwsHook(gk) for _ in range(4)]  # four containers sharing the store
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(hooks))

    def deliver(h: AwsHook) -> None:
        barrier.wait()
        answers.append(h.handle(event))

    threads = [threading.Thread(target=deliver, args=(h,)) for h in hooks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["status"] for a in answers) == ["duplicate"] * 3 + ["remediated"]
    assert kinds(tmp_path).count("decision") == 1


def test_a_t3_launch_is_left_alone(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("t3.micro")
    out = aws_lambda.handler(run_event(iid, CHINA_HQ, itype="t3.micro"), None)
    assert out["status"] == "decided" and out["decision"] == "allow" and out["actions"] == []
    assert instance(iid)["State"]["Name"] == "running" and tags(iid) == {}
    assert audit_records(tmp_path) == []


@pytest.mark.parametrize("event, why", [
    (["not", "an", "object"], "not a JSON object"),
    ({"detail-type": "AWS API Call via CloudTrail", "detail": {}}, "no id"),
    ({"id": "e-1", "detail-type": "AWS API Call via CloudTrail", "detail": "RunInstances"}, "detail is not an object"),
    ({"id": "e-2", "detail-type": "AWS API Call via CloudTrail", "account": CHINA_HQ, "region": REGION,
      "detail": {"eventName": "RunInstances"}}, "eventSource"),
    ({"id": "e-3", "detail-type": "AWS API Call via CloudTrail", "account": CHINA_HQ, "region": REGION,
      "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "requestParameters": "p5"}},
     "requestParameters is not an object"),
    ({"id": "e-4", "detail-type": "AWS API Call via CloudTrail", "account": CHINA_HQ, "region": REGION,
      "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}},
     "without requestParameters or responseElements"),
    ({"id": "e-5", "detail-type": "AWS API Call via CloudTrail", "account": "not-an-account", "region": REGION,
      "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
                 "requestParameters": {"instanceType": "p5.48xlarge"}}}, "12-digit account"),
    ({"id": "e-6", "detail-type": "EC2 Instance State-change Notification", "account": CHINA_HQ,
      "detail": {"state": "pending"}}, "instance-id"),
])
def test_a_malformed_event_is_recorded_as_an_error_and_does_not_crash(
        moto: None, gk: Gatekeeper, tmp_path: Path, event: Any, why: str) -> None:
    out = aws_lambda.handler(event, None)
    assert out["status"] == "error" and why in out["reason"]
    [rec] = audit_records(tmp_path)
    assert rec["kind"] == "hook.error" and why in data(rec)["error"] and data(rec)["event_id"] == out["event_id"]
    # Redelivered, it is recorded once (events without an id cannot be told apart and are recorded again).
    again = aws_lambda.handler(event, None)
    if isinstance(event, dict) and "id" in event:
        assert again["status"] == "duplicate" and len(audit_records(tmp_path)) == 1


def test_a_flag_tags_only(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("g4dn.xlarge")  # a T4 for an unverified foreign customer: flagged
    out = aws_lambda.handler(run_event(iid, UNVERIFIED_CL, itype="g4dn.xlarge"), None)
    assert out["decision"] == "flag" and out["status"] == "remediated"
    assert [a["action"] for a in out["actions"]] == ["tag"]
    assert instance(iid)["State"]["Name"] == "running"
    assert tags(iid)[TAG_DECISION] == "flag" and TAG_CASE_ID not in tags(iid)


def test_a_deny_terminates(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("g4dn.xlarge")
    out = aws_lambda.handler(run_event(iid, IRAN, itype="g4dn.xlarge"), None)
    assert out["decision"] == "deny"
    assert [a["action"] for a in out["actions"]] == ["tag", "terminate"]
    assert instance(iid)["State"]["Name"] == "terminated"
    assert [r["kind"] for r in remediations(tmp_path)] == ["remediation.tag", "remediation.terminate"]


def test_a_deny_configured_to_stop_stops(moto: None, make_gk: MakeGk) -> None:
    make_gk(on_deny="stop")
    iid = launch("g4dn.xlarge")
    aws_lambda.handler(run_event(iid, IRAN, itype="g4dn.xlarge"), None)
    assert instance(iid)["State"]["Name"] == "stopped"


def test_remediation_none_decides_and_records_but_leaves_the_instance(moto: None, make_gk: MakeGk,
                                                                      tmp_path: Path) -> None:
    make_gk(on_pending="none")
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(run_event(iid, CHINA_HQ), None)
    assert out["status"] == "decided" and out["decision"] == "pending"
    assert instance(iid)["State"]["Name"] == "running" and tags(iid) == {}
    assert "decision" in kinds(tmp_path) and remediations(tmp_path) == []


def test_an_error_code_event_is_skipped_and_records_nothing(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    event = load_event("run-instances-failed.json", ACCOUNT=CHINA_HQ, AMI=AMI)
    out = aws_lambda.handler(event, None)
    assert out["status"] == "skipped" and "InsufficientInstanceCapacity" in out["reason"]
    assert audit_records(tmp_path) == []
    assert gk.store.cases.list_cases() == []


def test_account_map_names_the_customer(moto: None, make_gk: MakeGk, tmp_path: Path) -> None:
    # 999999999999 is run by the provider for the China-headquartered customer.
    make_gk(account_map={"999999999999": CHINA_HQ})
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(run_event(iid, "999999999999"), None)
    assert out["request"]["account_id"] == CHINA_HQ and out["decision"] == "pending"
    assert "Shenzhen Dragon Compute" in " ".join(out["reasons"])
    assert instance(iid)["State"]["Name"] == "stopped"


def test_account_map_to_a_verified_us_customer_allows(moto: None, make_gk: MakeGk, tmp_path: Path) -> None:
    make_gk(account_map={"999999999999": US})
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(run_event(iid, "999999999999"), None)
    assert out["decision"] == "allow" and out["status"] == "decided"
    assert instance(iid)["State"]["Name"] == "running"


def test_shadow_mode_only_tags(moto: None, make_gk: MakeGk) -> None:
    make_gk(mode="shadow")
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(run_event(iid, CHINA_HQ), None)
    assert out["decision"] == "pending" and [a["action"] for a in out["actions"]] == ["tag"]
    assert instance(iid)["State"]["Name"] == "running" and tags(iid)[TAG_DECISION] == "pending"


def test_ignored_principal_is_left_alone(moto: None, make_gk: MakeGk, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    event = run_event(iid, CHINA_HQ)
    make_gk(ignore_principals=[event["detail"]["userIdentity"]["arn"]])
    out = aws_lambda.handler(event, None)
    assert out["status"] == "ignored" and instance(iid)["State"]["Name"] == "running"
    assert audit_records(tmp_path) == []


def test_other_calls_and_detail_types_are_ignored(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    describe = run_event(iid, CHINA_HQ)
    describe["detail"]["eventName"] = "DescribeInstances"
    assert aws_lambda.handler(describe, None)["status"] == "ignored"
    other = {"id": "x-1", "detail-type": "AWS Health Event", "source": "aws.health", "detail": {}}
    assert aws_lambda.handler(other, None)["status"] == "ignored"
    # ModifyInstanceAttribute of another attribute provisions nothing.
    modify = run_event(iid, CHINA_HQ)
    modify["detail"].update(eventName="ModifyInstanceAttribute", responseElements={"_return": True},
                            requestParameters={"instanceId": iid, "disableApiStop": {"value": True}})
    assert aws_lambda.handler(modify, None)["status"] == "ignored"
    assert audit_records(tmp_path) == []


def test_modify_instance_type_is_decided(moto: None, gk: Gatekeeper) -> None:
    iid = launch("t3.micro")
    modify = run_event(iid, CHINA_HQ)
    modify["detail"].update(eventName="ModifyInstanceAttribute", responseElements={"_return": True},
                            requestParameters={"instanceId": iid, "instanceType": {"value": "p5.48xlarge"}})
    out = aws_lambda.handler(modify, None)
    assert out["decision"] == "pending" and instance(iid)["State"]["Name"] == "stopped"


# -- EC2 state changes -------------------------------------------------------------------------------
def test_state_change_reads_the_instance_type_and_stops_it(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(load_event("instance-state-pending.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=iid), None)
    assert out["decision"] == "pending" and out["request"]["items"][0]["instance_type"] == "p5.48xlarge"
    assert out["request"]["operation"] == "StateChange:pending"
    assert instance(iid)["State"]["Name"] == "stopped" and tags(iid)[TAG_CASE_ID] == out["case_id"]


def test_state_change_of_a_stopped_or_vanished_instance_is_ignored(moto: None, gk: Gatekeeper,
                                                                    tmp_path: Path) -> None:
    iid = launch("p5.48xlarge")
    ec2().stop_instances(InstanceIds=[iid])
    out = aws_lambda.handler(load_event("instance-state-pending.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=iid), None)
    assert out["status"] == "ignored" and "stopped" in out["reason"]
    gone = aws_lambda.handler(load_event("instance-state-pending.json", ACCOUNT=CHINA_HQ,
                                         INSTANCE_ID="i-0123456789abcdef0"), None)
    assert gone["status"] == "ignored" and "not found" in gone["reason"]
    stopping = load_event("instance-state-pending.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=iid)
    stopping["detail"]["state"] = "stopping"
    assert aws_lambda.handler(stopping, None)["status"] == "ignored"
    assert audit_records(tmp_path) == []


# -- groups, node groups, jobs ------------------------------------------------------------------------
def test_an_auto_scaling_group_from_a_template_is_scaled_to_zero_and_tagged(moto: None, gk: Gatekeeper) -> None:
    lt = ec2().create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "p5.48xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_auto_scaling_group(AutoScalingGroupName="trainers", MinSize=0, MaxSize=4, DesiredCapacity=2,
                                  LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
                                  AvailabilityZones=["us-east-1a"])
    out = aws_lambda.handler(load_event("create-auto-scaling-group.json", ACCOUNT=CHINA_HQ, GROUP="trainers",
                                        TEMPLATE_ID=lt), None)
    assert out["decision"] == "pending"
    assert out["request"]["items"] == [{"instance_type": "p5.48xlarge", "count": 4, "choice": ""}]
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["trainers"])["AutoScalingGroups"][0]
    assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]) == (0, 0, 0)
    assert {t["Key"]: t["Value"] for t in g["Tags"]}[TAG_CASE_ID] == out["case_id"]


def test_our_own_scale_to_zero_event_is_ignored(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    lt = ec2().create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "p5.48xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
        AutoScalingGroupName="trainers", MinSize=0, MaxSize=0, DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateId": lt}, AvailabilityZones=["us-east-1a"])
    event = load_event("create-auto-scaling-group.json", ACCOUNT=CHINA_HQ, GROUP="trainers", TEMPLATE_ID=lt)
    event["detail"]["eventName"] = "UpdateAutoScalingGroup"
    event["detail"]["requestParameters"] = {"autoScalingGroupName": "trainers", "minSize": 0, "maxSize": 0,
                                            "desiredCapacity": 0}
    out = aws_lambda.handler(event, None)
    assert out["status"] == "ignored" and audit_records(tmp_path) == []


def test_an_unreadable_template_fails_closed_with_the_reversible_action(moto: None, gk: Gatekeeper) -> None:
    asg = boto3.client("autoscaling", region_name=REGION)
    lt = ec2().create_launch_template(LaunchTemplateName="plain", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, MaxSize=2, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateId": lt}, AvailabilityZones=["us-east-1a"])
    # The event names a template that does not exist (deleted since): what ran cannot be known.
    out = aws_lambda.handler(load_event("create-auto-scaling-group.json", ACCOUNT=US, GROUP="web",
                                        TEMPLATE_ID="lt-0123456789abcdef0"), None)
    assert out["decision"] == "deny" and out["request"]["unresolved"]
    assert out["plan"]["verb"] == "stop" and "on_error" in out["plan"]["reason"]
    assert [a["action"] for a in out["actions"]] == ["tag", "scale_to_zero"]  # not "delete"
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert g["MaxSize"] == 0


def test_an_eks_node_group_is_scaled_to_zero(moto: None, gk: Gatekeeper, tmp_path: Path) -> None:
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name="ml", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    ng = eks.create_nodegroup(clusterName="ml", nodegroupName="gpus", nodeRole="arn:aws:iam::123456789012:role/n",
                              subnets=["subnet-1"], instanceTypes=["p5.48xlarge"],
                              scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})["nodegroup"]
    event = load_event("create-nodegroup.json", ACCOUNT=CHINA_HQ, CLUSTER="ml", NODEGROUP="gpus",
                       NODEGROUP_ARN=ng["nodegroupArn"])
    # moto tags EKS clusters only ("It does not tag a managed node group"), so the tag action fails
    # there; the scale-down must still happen, and the failure is recorded and retried.
    with pytest.raises(RemediationError, match="1 of 2"):
        aws_lambda.handler(event, None)
    got = eks.describe_nodegroup(clusterName="ml", nodegroupName="gpus")["nodegroup"]
    assert got["scalingConfig"]["desiredSize"] == 0 and got["scalingConfig"]["minSize"] == 0
    acts = {r["kind"]: data(r) for r in remediations(tmp_path)}
    assert acts["remediation.scale_to_zero"]["result"] == "ok"
    assert acts["remediation.tag"]["result"] == "failed"
    assert acts["remediation.tag"]["tags"][TAG_CASE_ID] == acts["remediation.scale_to_zero"]["case_id"]
    decision = next(r for r in audit_records(tmp_path) if r.get("kind") == "decision")
    assert decision["decision"] == "pending" and decision["items"][0]["count"] == 3


def test_a_failed_action_is_recorded_and_the_event_left_for_a_retry(moto: None, gk: Gatekeeper,
                                                                     tmp_path: Path) -> None:
    # The event names an instance that does not exist (any API error would do): terminating fails.
    event = run_event("i-0123456789abcdef0", IRAN, itype="g4dn.xlarge")
    with pytest.raises(RemediationError, match="1 of 2 remediation actions failed"):
        aws_lambda.handler(event, None)
    acts = remediations(tmp_path)
    assert [(r["kind"], data(r)["result"]) for r in acts] == [("remediation.tag", "ok"),
                                                               ("remediation.terminate", "failed")]
    assert "InvalidInstanceID.NotFound" in data(acts[1])["error"]
    # The claim was released: the platform's retry acts again (and records again).
    with pytest.raises(RemediationError):
        aws_lambda.handler(event, None)
    assert len(remediations(tmp_path)) == 4


# -- the Lambda entry point ---------------------------------------------------------------------------
def test_handler_builds_its_runtime_from_the_deployed_toml(moto: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper import runtime
    from gatekeeper.model import CustomerProfile

    home = tmp_path / "lambda-tmp"
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    monkeypatch.setenv("GATEKEEPER_HOME", str(home))
    monkeypatch.setenv("GATEKEEPER_CONFIG", "")  # unset for the hook; restored (removed) after the test
    monkeypatch.setenv("GATEKEEPER_CONFIG_TOML", "\n".join([
        '[store]', 'url = "sqlite:///state.db"', 'create = true',
        '[audit]', 'url = "file://audit"', 'signing_key = "audit-key.pem"',
        '[hooks]', 'on_pending = "tag"', 'account_map = { "999999999999" = "555555555555" }', ""]))
    runtime.reset()
    aws_lambda.reset()
    try:
        # The first event builds the container's runtime from the TOML (a t3 needs no store).
        plain = launch("t3.micro")
        assert aws_lambda.handler(run_event(plain, "999999999999", itype="t3.micro"), None)["decision"] == "allow"
        assert runtime.current().config.hooks.account_map == {"999999999999": CHINA_HQ}
        runtime.current().store.profiles.put_profiles(
            [CustomerProfile("aws", CHINA_HQ, "Shenzhen Dragon Compute Ltd.", "SG", "CN", "CN", "verified")])
        iid = launch("p5.48xlarge")
        out = aws_lambda.handler(run_event(iid, "999999999999"), None)
        assert out["decision"] == "pending" and [a["action"] for a in out["actions"]] == ["tag"]
        assert (home / "gatekeeper.toml").exists() and (home / "state.db").exists()
        assert any(r["kind"] == "remediation.tag" for r in audit_records(home))
        assert not (tmp_path / ".gatekeeper").exists()
    finally:
        runtime.reset()
        aws_lambda.reset()


def test_cross_account_remediation_assumes_the_configured_role(moto: None, make_gk: MakeGk) -> None:
    make_gk(aws_role="arn:aws:iam::{account}:role/gatekeeper-remediation")
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{CHINA_HQ}:role/gatekeeper-remediation",
                                            RoleSessionName="test")["Credentials"]
    member = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                   aws_secret_access_key=creds["SecretAccessKey"],
                                   aws_session_token=creds["SessionToken"])
    iid = launch("p5.48xlarge", member)  # lives in the member account, invisible to the hook's own
    with pytest.raises(Exception, match="InvalidInstanceID"):
        ec2().describe_instances(InstanceIds=[iid])
    out = aws_lambda.handler(run_event(iid, CHINA_HQ), None)
    assert out["status"] == "remediated"
    assert instance(iid, member)["State"]["Name"] == "stopped"
    assert tags(iid, member)[TAG_CASE_ID] == out["case_id"]


def test_with_an_s3_audit_log_each_event_is_in_s3_before_the_handler_returns(
        moto: None, make_gk: MakeGk, tmp_path: Path) -> None:
    from gatekeeper import runtime
    from gatekeeper.config import AuditConfig

    s3 = boto3.client("s3", region_name=REGION)
    # As deploy/aws/template.yaml makes it: versioned, Object Lock in compliance mode.
    s3.create_bucket(Bucket="gk-audit", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket="gk-audit", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    gk = make_gk()
    cfg = gk.config.model_copy(update={"audit": AuditConfig(
        url=f"s3://gk-audit/audit?region={REGION}&spool={tmp_path}/spool", signing_key=str(tmp_path / "k.pem"))})
    gk = runtime.configure(cfg)
    iid = launch("p5.48xlarge")
    out = aws_lambda.handler(run_event(iid, CHINA_HQ), None)
    assert out["status"] == "remediated"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="gk-audit").get("Contents", [])]
    segments = [k for k in keys if k.endswith(".jsonl")]
    assert segments and any(k.endswith(".checkpoint.json") for k in keys)
    body = "".join(s3.get_object(Bucket="gk-audit", Key=k)["Body"].read().decode() for k in segments)
    assert f'"decision_id":"{out["decision_id"]}"' in body.replace(" ", "") and "remediation.stop" in body
    # The next event reopens the log and ships it too.
    plain = launch("g4dn.xlarge")
    aws_lambda.handler(run_event(plain, UNVERIFIED_CL, itype="g4dn.xlarge"), None)
    after = [o["Key"] for o in s3.list_objects_v2(Bucket="gk-audit")["Contents"] if o["Key"].endswith(".jsonl")]
    assert len(after) > len(segments)


def test_the_deployed_shape_dynamodb_store_and_markers(moto: None, tmp_path: Path) -> None:
    """As deployed: state in DynamoDB (cases, profiles, the processed-event markers)."""
    from gatekeeper import runtime
    from gatekeeper.config import StoreConfig
    from gatekeeper.stores.dynamodb import open_dynamodb_store
    from tests.conftest import tmp_config
    from tests.hooks.conftest import HOOK_PROFILES

    url = "dynamodb://gk-hook?region=us-east-1"
    open_dynamodb_store(url).init()
    gk = runtime.configure(tmp_config(tmp_path, store=StoreConfig(url=url)))
    try:
        gk.store.profiles.put_profiles(list(HOOK_PROFILES))
        iid = launch("p5.48xlarge")
        event = run_event(iid, CHINA_HQ)
        out = aws_lambda.handler(event, None)
        assert out["status"] == "remediated" and instance(iid)["State"]["Name"] == "stopped"
        assert gk.store.cases.get_case(out["case_id"]) is not None
        item = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName="gk-hook-events", Key={"pk": {"S": event["id"]}})["Item"]
        assert item["status"]["S"] == "done" and item["outcome"]["S"] == "remediated"
        assert aws_lambda.handler(event, None)["status"] == "duplicate"
    finally:
        runtime.reset()
        aws_lambda.reset()
