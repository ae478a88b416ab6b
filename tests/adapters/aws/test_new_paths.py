"""Sibling paths to controlled compute (issue 13, section 2), over HTTP against moto's ThreadedMotoServer.

Each path: a China-headquartered customer is blocked before anything leaves the process, a verified
US customer is let through (moto may then answer that it lacks the operation: the call left), and
plain compute is let through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

import gatekeeper
from gatekeeper.adapters.aws import ExportControlError
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI
from tests.adapters.aws.conftest import CN_HQ, US, Aws, Sent, _reset

GPU, PLAIN = "p4d.24xlarge", "m5.large"


@pytest.fixture
def http(moto_server: str, gk: Gatekeeper) -> Iterator[Aws]:
    _reset(moto_server)
    yield Aws("http", moto_server)
    _reset(moto_server)


def outcome(aws: Aws, service: str, account: str, call: Callable[[Any], Any]) -> tuple[str, list[str]]:
    """``blocked`` (gatekeeper refused; what was sent) or ``sent`` (the call left the process)."""
    sent = Sent()
    client = aws.protected(service, sent)
    with gatekeeper.acting_for(provider="aws", account_id=account):
        try:
            call(client)
        except ExportControlError:
            return "blocked", sent.operations
        except (ClientError, BotoCoreError, ResponseParserError):
            pass  # moto's own answer (an operation it lacks, a parameter it checks): the call left
    return "sent", sent.operations


def _instance(aws: Aws, itype: str) -> str:
    ec2 = aws.raw("ec2")
    iid: str = ec2.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    return iid


def test_start_instances_reads_the_type_back(http: Aws) -> None:
    gpu, plain = _instance(http, GPU), _instance(http, PLAIN)
    assert outcome(http, "ec2", CN_HQ, lambda c: c.start_instances(InstanceIds=[gpu])) == ("blocked", [])
    assert outcome(http, "ec2", CN_HQ, lambda c: c.start_instances(InstanceIds=[plain, gpu]))[0] == "blocked"
    assert outcome(http, "ec2", US, lambda c: c.start_instances(InstanceIds=[gpu])) == ("sent", ["StartInstances"])
    assert outcome(http, "ec2", CN_HQ, lambda c: c.start_instances(InstanceIds=[plain]))[0] == "sent"
    # Resized while stopped by another tool: the type it has now is what restarts.
    http.raw("ec2").modify_instance_attribute(InstanceId=plain, InstanceType={"Value": GPU})
    assert outcome(http, "ec2", CN_HQ, lambda c: c.start_instances(InstanceIds=[plain]))[0] == "blocked"


def test_capacity_blocks_hosts_scheduled_and_imported_instances(http: Aws) -> None:
    block = {"CapacityBlockOfferingId": "cb-0123456789abcdef0", "InstancePlatform": "Linux/UNIX"}
    assert outcome(http, "ec2", CN_HQ, lambda c: c.purchase_capacity_block(**block)) == ("blocked", [])
    assert outcome(http, "ec2", US, lambda c: c.purchase_capacity_block(**block)) == ("sent", ["PurchaseCapacityBlock"])
    hosts = {"AvailabilityZone": "us-east-1a", "Quantity": 2}
    assert outcome(http, "ec2", CN_HQ, lambda c: c.allocate_hosts(InstanceFamily="p4d", **hosts))[0] == "blocked"
    assert outcome(http, "ec2", CN_HQ, lambda c: c.allocate_hosts(InstanceType=PLAIN, **hosts))[0] == "sent"
    spec = {"ImageId": AMI, "InstanceType": GPU}
    scheduled = {"ScheduledInstanceId": "sci-1234-1234-1234-1234-123456789012", "InstanceCount": 2}
    assert outcome(http, "ec2", CN_HQ, lambda c: c.run_scheduled_instances(LaunchSpecification=spec,
                                                                           **scheduled)) == ("blocked", [])
    assert outcome(http, "ec2", US, lambda c: c.run_scheduled_instances(LaunchSpecification=spec,
                                                                        **scheduled))[0] == "sent"
    imported = {"Platform": "Linux", "LaunchSpecification": {"InstanceType": GPU}}
    assert outcome(http, "ec2", CN_HQ, lambda c: c.import_instance(**imported)) == ("blocked", [])


@pytest.mark.parametrize("call", [
    lambda c: c.modify_capacity_reservation(CapacityReservationId="cr-0123456789abcdef0", InstanceCount=8),
    lambda c: c.modify_capacity_reservation_fleet(CapacityReservationFleetId="crf-0123456789abcdef0",
                                                  TotalTargetCapacity=8),
    lambda c: c.purchase_capacity_block_extension(CapacityBlockExtensionOfferingId="cbe-1",
                                                  CapacityReservationId="cr-0123456789abcdef0"),
], ids=["ModifyCapacityReservation", "ModifyCapacityReservationFleet", "PurchaseCapacityBlockExtension"])
def test_capacity_changes_that_cannot_be_read_fail_closed(http: Aws, call: Callable[[Any], Any]) -> None:
    # moto has no capacity reservations: the reservation cannot be read, so the change is blocked
    # (fail-closed, for every customer) before it leaves the process.
    for account in (CN_HQ, US):
        assert outcome(http, "ec2", account, call) == ("blocked", [])


def _group(aws: Aws, name: str, itype: str) -> None:
    lt = aws.raw("ec2").create_launch_template(LaunchTemplateName=f"lt-{name}", LaunchTemplateData={
        "ImageId": AMI, "InstanceType": itype})["LaunchTemplate"]["LaunchTemplateId"]
    aws.raw("autoscaling").create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=0,
                                                     LaunchTemplate={"LaunchTemplateId": lt},
                                                     AvailabilityZones=["us-east-1a"])


@pytest.mark.parametrize("call", [
    lambda c, g: c.set_desired_capacity(AutoScalingGroupName=g, DesiredCapacity=3),
    lambda c, g: c.put_scheduled_update_group_action(AutoScalingGroupName=g, ScheduledActionName="up", MaxSize=4,
                                                     DesiredCapacity=4, Recurrence="0 9 * * *"),
    lambda c, g: c.batch_put_scheduled_update_group_action(AutoScalingGroupName=g, ScheduledUpdateGroupActions=[
        {"ScheduledActionName": "up", "DesiredCapacity": 4, "Recurrence": "0 9 * * *"}]),
    lambda c, g: c.put_warm_pool(AutoScalingGroupName=g, MaxGroupPreparedCapacity=4),
], ids=["SetDesiredCapacity", "PutScheduledUpdateGroupAction", "BatchPutScheduledUpdateGroupAction", "PutWarmPool"])
def test_auto_scaling_sizing_calls_read_the_group(http: Aws, call: Callable[[Any, str], Any]) -> None:
    _group(http, "gpu", GPU)
    _group(http, "web", PLAIN)
    assert outcome(http, "autoscaling", CN_HQ, lambda c: call(c, "gpu")) == ("blocked", [])
    assert outcome(http, "autoscaling", US, lambda c: call(c, "gpu"))[0] == "sent"
    assert outcome(http, "autoscaling", CN_HQ, lambda c: call(c, "web"))[0] == "sent"


@pytest.mark.parametrize("call", [
    lambda c: c.create_training_plan(TrainingPlanName="p", TrainingPlanOfferingId="tpo-1"),
    lambda c: c.create_optimization_job(
        OptimizationJobName="o", RoleArn="arn:aws:iam::123456789012:role/r", DeploymentInstanceType="ml.p4d.24xlarge",
        ModelSource={"S3": {"S3Uri": "s3://b/m"}}, OptimizationConfigs=[{"ModelCompilationConfig": {}}],
        OutputConfig={"S3OutputLocation": "s3://b/o"}, StoppingCondition={"MaxRuntimeInSeconds": 60}),
    lambda c: c.create_data_quality_job_definition(
        JobDefinitionName="d", RoleArn="arn:aws:iam::123456789012:role/r",
        DataQualityAppSpecification={"ImageUri": "x"}, DataQualityJobInput={"EndpointInput": {
            "EndpointName": "e", "LocalPath": "/opt"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://b", "LocalPath": "/o"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.p4d.24xlarge",
                                        "VolumeSizeInGB": 10}}),
    lambda c: c.create_app(DomainId="d-1", UserProfileName="u", AppType="JupyterLab", AppName="a",
                           ResourceSpec={"InstanceType": "ml.p4d.24xlarge"}),
    lambda c: c.create_space(DomainId="d-1", SpaceName="s", SpaceSettings={
        "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.p4d.24xlarge"}}}),
], ids=["CreateTrainingPlan", "CreateOptimizationJob", "CreateDataQualityJobDefinition", "CreateApp", "CreateSpace"])
def test_sagemaker_sibling_paths_are_blocked_before_leaving(http: Aws, call: Callable[[Any], Any]) -> None:
    assert outcome(http, "sagemaker", CN_HQ, call) == ("blocked", [])
    assert outcome(http, "sagemaker", US, call)[0] == "sent"


def test_emr_resize_of_an_accelerated_group(http: Aws) -> None:
    emr = http.raw("emr")
    cluster = emr.run_job_flow(Name="c", ReleaseLabel="emr-7.0.0", JobFlowRole="r", ServiceRole="s", Instances={
        "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": PLAIN, "InstanceCount": 1},
                           {"InstanceRole": "CORE", "InstanceType": GPU, "InstanceCount": 1}],
        "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]
    groups = {g["InstanceGroupType"]: g["Id"] for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"]}

    def resize(group: str) -> Callable[[Any], Any]:
        return lambda c: c.modify_instance_groups(ClusterId=cluster, InstanceGroups=[
            {"InstanceGroupId": group, "InstanceCount": 6}])

    assert outcome(http, "emr", CN_HQ, resize(groups["CORE"])) == ("blocked", [])
    assert outcome(http, "emr", US, resize(groups["CORE"]))[0] == "sent"
    assert outcome(http, "emr", CN_HQ, resize(groups["MASTER"]))[0] == "sent"
