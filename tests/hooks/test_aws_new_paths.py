"""The hook on the sibling paths of issue 13 (recorded CloudTrail events in tests/hooks/events): through
the Lambda handler against moto, with the remediation that fits each, and through ``gatekeeper hooks test``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from gatekeeper.cli.main import app
from gatekeeper.hooks import aws_lambda
from gatekeeper.hooks.remediation import TAG_DECISION
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import CHINA_HQ, US, load_event
from tests.hooks.test_cli_hooks import config_file as config_file  # the CLI's config fixture

REGION = "us-east-1"
AMI = "ami-12c6146b"
runner = CliRunner()


def _stopped(itype: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    iid: str = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=itype)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    ec2.start_instances(InstanceIds=[iid])  # what the event records
    return iid


def _state(iid: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    return str(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_a_restart_of_an_accelerated_instance_is_stopped_again(moto: None, gk: Gatekeeper) -> None:
    gpu, plain = _stopped("p4d.24xlarge"), _stopped("t3.micro")
    out = aws_lambda.handler(load_event("start-instances.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=gpu), None)
    assert out["decision"] == "pending" and out["request"]["items"][0]["instance_type"] == "p4d.24xlarge"
    assert _state(gpu) in ("stopping", "stopped")
    ok = aws_lambda.handler(load_event("start-instances.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=plain), None)
    assert ok["decision"] == "allow" and _state(plain) == "running"
    us = aws_lambda.handler(load_event("start-instances.json", ACCOUNT=US, INSTANCE_ID=_stopped("p4d.24xlarge")),
                            None)
    assert us["decision"] == "allow"


def test_a_capacity_block_is_decided_from_the_response_and_tagged(moto: None, gk: Gatekeeper) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]  # any taggable id stands in for the block
    out = aws_lambda.handler(load_event("purchase-capacity-block.json", ACCOUNT=CHINA_HQ, RESERVATION_ID=vpc), None)
    assert out["decision"] == "pending"
    assert out["request"]["items"] == [{"instance_type": "p5.48xlarge", "count": 4, "choice": ""}]
    assert [a["action"] for a in out["actions"]] == ["tag"]  # a Capacity Block cannot be cancelled
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get("Tags", [])}
    assert tags[TAG_DECISION] == "pending"


def test_set_desired_capacity_on_an_accelerated_group_is_scaled_to_zero(moto: None, gk: Gatekeeper) -> None:
    lt = boto3.client("ec2", region_name=REGION).create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={
        "ImageId": AMI, "InstanceType": "p5.48xlarge"})["LaunchTemplate"]["LaunchTemplateId"]
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_auto_scaling_group(AutoScalingGroupName="trainers", MinSize=0, MaxSize=4, DesiredCapacity=3,
                                  LaunchTemplate={"LaunchTemplateId": lt}, AvailabilityZones=["us-east-1a"])
    out = aws_lambda.handler(load_event("set-desired-capacity.json", ACCOUNT=CHINA_HQ, GROUP="trainers"), None)
    assert out["decision"] == "pending"
    assert out["request"]["items"] == [{"instance_type": "p5.48xlarge", "count": 4, "choice": ""}]
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["trainers"])["AutoScalingGroups"][0]
    assert (g["MaxSize"], g["DesiredCapacity"]) == (0, 0)


def test_an_emr_resize_of_an_accelerated_group_is_resized_back(moto: None, gk: Gatekeeper) -> None:
    emr = boto3.client("emr", region_name=REGION)
    cluster = emr.run_job_flow(Name="c", ReleaseLabel="emr-7.0.0", JobFlowRole="r", ServiceRole="s", Instances={
        "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                           {"InstanceRole": "TASK", "InstanceType": "p4d.24xlarge", "InstanceCount": 1}],
        "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]
    task = next(g for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"]
                if g["InstanceGroupType"] == "TASK")
    out = aws_lambda.handler(load_event("modify-instance-groups.json", ACCOUNT=CHINA_HQ, CLUSTER=cluster,
                                        GROUP=task["Id"]), None)
    assert out["decision"] == "pending"
    assert out["request"]["items"][0]["instance_type"] == "p4d.24xlarge"
    assert out["request"]["items"][0]["count"] == 6
    assert [a["action"] for a in out["actions"]] == ["resize_to_zero"]
    after = next(g for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"] if g["Id"] == task["Id"])
    assert after["RequestedInstanceCount"] == 0


@pytest.mark.parametrize("name, values, expected", [
    ("start-instances.json", {"INSTANCE_ID": "i-0a1b2c3d4e5f60718"}, "deny"),  # not read offline: fail-closed
    ("purchase-capacity-block.json", {"RESERVATION_ID": "cr-0a1b2c3d4e5f60718"}, "pending"),
    ("set-desired-capacity.json", {"GROUP": "trainers"}, "deny"),
    ("modify-instance-groups.json", {"CLUSTER": "j-1ABCDEF", "GROUP": "ig-1ABCDEF"}, "deny"),
    ("create-endpoint.json", {"CONFIG": "chat-gpu"}, "deny"),
    ("create-training-plan.json", {}, "pending"),
])
def test_hooks_test_replays_each_recorded_event(tmp_path: Path, config_file: Path, name: str,
                                                values: dict[str, str], expected: str) -> None:
    event = tmp_path / name
    event.write_text(json.dumps(load_event(name, ACCOUNT=CHINA_HQ, **values)), encoding="utf-8")
    result = runner.invoke(app, ["hooks", "test", str(event), "--config", str(config_file), "--json"])
    out: dict[str, Any] = json.loads(result.stdout)
    assert out["decision"] == expected, out
    assert result.exit_code == {"pending": 3, "deny": 4}[expected]
    assert out["plan"]["actions"], out  # something to put right, for each


STACK_TEMPLATE = ('{"Parameters": {"Size": {"Type": "String", "Default": "t3.micro"}}, "Resources": {"Lt": {'
                  '"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {'
                  '"InstanceType": {"Ref": "Size"}}}}}}')


def _stack_event(account: str, size: str, stack_id: str = "") -> dict[str, Any]:
    body = json.dumps(STACK_TEMPLATE)[1:-1]  # the template as a JSON string inside the event
    return load_event("create-stack.json", ACCOUNT=account, STACK="gpu", TEMPLATE_BODY=body, SIZE=size,
                      STACK_ID=stack_id or "arn:aws:cloudformation:us-east-1:1:stack/gpu/1")


def test_a_stack_with_accelerated_compute_is_deleted(moto: None, gk: Gatekeeper) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = cfn.create_stack(StackName="gpu", TemplateBody=STACK_TEMPLATE,
                             Parameters=[{"ParameterKey": "Size", "ParameterValue": "p5.48xlarge"}])["StackId"]
    out = aws_lambda.handler(_stack_event(CHINA_HQ, "p5.48xlarge", stack), None)
    assert out["decision"] == "pending"
    assert out["request"]["items"][0]["instance_type"] == "p5.48xlarge"
    assert [a["action"] for a in out["actions"]] == ["delete"]
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    assert status.startswith("DELETE")
    plain = aws_lambda.handler(_stack_event(CHINA_HQ, "t3.micro"), None)
    assert plain["status"] in ("ignored", "decided")


def test_hooks_test_replays_a_stack(tmp_path: Path, config_file: Path) -> None:
    event = tmp_path / "stack.json"
    event.write_text(json.dumps(_stack_event(CHINA_HQ, "p4d.24xlarge")), encoding="utf-8")
    result = runner.invoke(app, ["hooks", "test", str(event), "--config", str(config_file), "--json"])
    out = json.loads(result.stdout)
    assert out["decision"] == "pending" and result.exit_code == 3
    assert out["request"]["items"][0]["instance_type"] == "p4d.24xlarge"
