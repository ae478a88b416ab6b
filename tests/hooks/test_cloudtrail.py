"""CloudTrail records -> compute items and resources, one operation shape at a time.

The records follow CloudTrail's documented shapes: camelCase ``requestParameters`` for most calls,
PascalCase wrappers with one-element lists turned into objects for EC2's newer query APIs
(``CreateFleetRequest``), ``responseElements`` naming what was created. References are followed
through the real reader against moto.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from gatekeeper.catalog import default_catalog
from gatekeeper.hooks._aws import BotoReader, Clients, NoReader
from gatekeeper.hooks.cloudtrail import SPEC, Translation, event_pattern, translate
from gatekeeper.providers.aws import EVENT_SOURCES

REGION = "us-east-1"


def tr(name: str, detail: dict[str, Any], reader: Any = None) -> Translation:
    op = next(o for o in SPEC.operations if o.name == name)
    assert op.audit is not None
    return translate(op, {"eventName": name, "eventSource": op.audit.source, **detail}, REGION,
                     reader or NoReader(), default_catalog())


def items(t: Translation) -> list[tuple[str, int, bool]]:
    return [(i.instance_type, i.count, bool(i.choice)) for i in t.items]


def test_every_operation_has_an_eventbridge_source_and_a_unique_key() -> None:
    audited = [op for op in SPEC.operations if op.audit is not None]
    assert len(SPEC.by_event) == len(audited) == len(SPEC.operations)
    assert {op.audit.source for op in audited if op.audit} <= set(EVENT_SOURCES)
    assert set(event_pattern()["detail"]["eventName"]) == {op.name for op in audited}


# -- EC2 -------------------------------------------------------------------------------------------
def test_run_instances_takes_the_launched_types_from_the_response() -> None:
    t = tr("RunInstances", {
        "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 3}]},
                              "launchTemplate": {"launchTemplateId": "lt-0abc", "version": "4"}},
        "responseElements": {"instancesSet": {"items": [
            {"instanceId": "i-1", "instanceType": "p5.48xlarge"}, {"instanceId": "i-2", "instanceType": "p5.48xlarge"},
            {"instanceId": "i-3", "instanceType": "p4d.24xlarge"}]}},
    })
    assert items(t) == [("p5.48xlarge", 2, False), ("p4d.24xlarge", 1, False)]
    assert [r.id for r in t.resources] == ["i-1", "i-2", "i-3"] and not t.unresolved


def test_run_instances_without_a_response_falls_back_to_the_request_and_its_template(moto: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    lt = ec2.create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={"InstanceType": "p4d.24xlarge"})
    lt_id = lt["LaunchTemplate"]["LaunchTemplateId"]
    detail = {"requestParameters": {"instancesSet": {"items": [{"minCount": 1, "maxCount": 3}]},
                                    "launchTemplate": {"launchTemplateId": lt_id, "version": "1"}}}
    t = tr("RunInstances", detail, BotoReader(Clients()))
    assert items(t) == [("p4d.24xlarge", 3, False)]
    unread = tr("RunInstances", detail)  # no reader: unresolved, never guessed
    assert unread.items == () and "not read" in unread.unresolved[0] and unread.provisions


def test_a_template_choosing_types_by_attributes_is_decided_on_every_type_it_admits(moto: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    lt_id = ec2.create_launch_template(LaunchTemplateName="abs", LaunchTemplateData={"InstanceRequirements": {
        "VCpuCount": {"Min": 8}, "MemoryMiB": {"Min": 16384},
        "AcceleratorTypes": ["gpu"]}})["LaunchTemplate"]["LaunchTemplateId"]
    t = tr("RunInstances", {"requestParameters": {"launchTemplate": {"launchTemplateId": lt_id}}},
           BotoReader(Clients()))
    # As in the SDK adapter (one spec, one reader): every accelerated type the requirements admit.
    assert not t.unresolved and len({i.choice for i in t.items}) == 1
    assert {"p4d.24xlarge", "p5.48xlarge"} <= {i.instance_type for i in t.items}


def test_create_fleet_reads_pascal_case_and_one_element_lists() -> None:
    detail = {
        "requestParameters": {"CreateFleetRequest": {
            "TargetCapacitySpecification": {"TotalTargetCapacity": 4, "DefaultTargetCapacityType": "spot"},
            "Type": "instant",
            "LaunchTemplateConfigs": {"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1", "Version": "1"},
                                      "Overrides": [{"InstanceType": "p5.48xlarge", "tag": 1},
                                                    {"InstanceType": "p4d.24xlarge", "tag": 2}], "tag": 1}}},
        "responseElements": {"CreateFleetResponse": {
            "fleetId": "fleet-1",
            "fleetInstanceSet": {"item": {"instanceIds": {"item": ["i-1", "i-2"]}, "instanceType": "p5.48xlarge",
                                          "lifecycle": "spot"}},
            "errorSet": ""}},
    }
    t = tr("CreateFleet", detail)
    assert items(t) == [("p5.48xlarge", 2, False)]
    assert [(r.kind, r.id) for r in t.resources] == [("ec2:fleet", "fleet-1"), ("ec2:instance", "i-1"),
                                                      ("ec2:instance", "i-2")]
    # A request fleet launched nothing yet: its overrides are alternatives for one slot of 4.
    detail["responseElements"] = {"CreateFleetResponse": {"fleetId": "fleet-2", "errorSet": ""}}
    t = tr("CreateFleet", detail)
    assert items(t) == [("p5.48xlarge", 4, True), ("p4d.24xlarge", 4, True)]
    assert len({i.choice for i in t.items}) == 1


def test_spot_requests_and_spot_fleets() -> None:
    t = tr("RequestSpotInstances", {
        "requestParameters": {"instanceCount": 2, "type": "one-time",
                              "launchSpecification": {"imageId": "ami-1", "instanceType": "g5.48xlarge"}},
        "responseElements": {"spotInstanceRequestSet": {"items": [{"spotInstanceRequestId": "sir-1"},
                                                                  {"spotInstanceRequestId": "sir-2"}]}}})
    assert items(t) == [("g5.48xlarge", 2, False)]
    assert [(r.kind, r.id) for r in t.resources] == [("ec2:spot-request", "sir-1"), ("ec2:spot-request", "sir-2")]
    fleet = tr("RequestSpotFleet", {
        "requestParameters": {"RequestSpotFleetRequest": {"SpotFleetRequestConfig": {
            "TargetCapacity": 6, "IamFleetRole": "arn:aws:iam::1:role/fleet",
            "LaunchSpecifications": [{"InstanceType": "p4d.24xlarge", "tag": 1},
                                     {"InstanceType": "p4de.24xlarge", "tag": 2}]}}},
        "responseElements": {"RequestSpotFleetResponse": {"spotFleetRequestId": "sfr-1"}}})
    assert items(fleet) == [("p4d.24xlarge", 6, True), ("p4de.24xlarge", 6, True)]
    assert [(r.kind, r.id) for r in fleet.resources] == [("ec2:spot-fleet-request", "sfr-1")]


def test_launch_templates_and_their_versions() -> None:
    t = tr("CreateLaunchTemplate", {
        "requestParameters": {"CreateLaunchTemplateRequest": {"LaunchTemplateName": "gpu",
                                                              "LaunchTemplateData": {"InstanceType": "p5.48xlarge"}}},
        "responseElements": {"CreateLaunchTemplateResponse": {"launchTemplate": {"launchTemplateId": "lt-9"}}}})
    assert items(t) == [("p5.48xlarge", 1, False)] and t.resources[0].id == "lt-9"
    v = tr("CreateLaunchTemplateVersion", {
        "requestParameters": {"CreateLaunchTemplateVersionRequest": {"LaunchTemplateId": "lt-9", "SourceVersion": "1",
                                                                     "LaunchTemplateData": {}}},
        "responseElements": {"CreateLaunchTemplateVersionResponse": {"launchTemplateVersion": {
            "launchTemplateId": "lt-9", "versionNumber": 2}}}})
    # The new version copies its type from the source version: it is read (here: cannot be, no reader).
    assert v.items == () and "id=lt-9 version=1" in v.unresolved[0]
    assert (v.resources[0].kind, v.resources[0].id, v.resources[0].parent) == ("ec2:launch-template-version", "2",
                                                                                "lt-9")


# -- groups, node groups, jobs, clusters ------------------------------------------------------------
def test_auto_scaling_mixed_instances_are_alternatives_at_the_max_size() -> None:
    t = tr("CreateAutoScalingGroup", {"requestParameters": {
        "autoScalingGroupName": "g", "minSize": 0, "maxSize": 8, "desiredCapacity": 2,
        "mixedInstancesPolicy": {"launchTemplate": {
            "launchTemplateSpecification": {"launchTemplateName": "base"},
            "overrides": [{"instanceType": "g6.xlarge"}, {"instanceType": "g5.xlarge"}]}}}})
    assert items(t) == [("g6.xlarge", 8, True), ("g5.xlarge", 8, True)]


def test_auto_scaling_update_without_sizes_reads_the_group(moto: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    lt = ec2.create_launch_template(LaunchTemplateName="gpu", LaunchTemplateData={"InstanceType": "p5.48xlarge"})
    boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
        AutoScalingGroupName="g", MinSize=0, MaxSize=5, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"]},
        AvailabilityZones=["us-east-1a"])
    reader = BotoReader(Clients())
    # Only the health check changed: what the group runs now, at its current maximum.
    t = tr("UpdateAutoScalingGroup", {"requestParameters": {"autoScalingGroupName": "g", "healthCheckType": "ELB"}},
           reader)
    assert items(t) == [] and not t.provisions  # only the health check changed: nothing new runs
    t = tr("UpdateAutoScalingGroup", {"requestParameters": {"autoScalingGroupName": "g", "desiredCapacity": 2}},
           reader)
    assert items(t) == [("p5.48xlarge", 5, False)]  # what the group runs now, at its maximum
    # A launch configuration is followed too.
    boto3.client("autoscaling", region_name=REGION).create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="p4d.24xlarge")
    t = tr("UpdateAutoScalingGroup", {"requestParameters": {"autoScalingGroupName": "g",
                                                            "launchConfigurationName": "lc"}}, reader)
    assert items(t) == [("p4d.24xlarge", 5, False)]


def test_sagemaker_jobs_endpoints_and_notebooks() -> None:
    t = tr("CreateTrainingJob", {
        "requestParameters": {"trainingJobName": "j", "resourceConfig": {"instanceType": "ml.p5.48xlarge",
                                                                         "instanceCount": 4}},
        "responseElements": {"trainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/j"}})
    assert items(t) == [("ml.p5.48xlarge", 4, False)]
    assert (t.resources[0].id, t.resources[0].arn) == ("j", "arn:aws:sagemaker:us-east-1:1:training-job/j")
    hetero = tr("CreateTrainingJob", {"requestParameters": {"trainingJobName": "h", "resourceConfig": {
        "instanceGroups": [{"instanceType": "ml.p4d.24xlarge", "instanceCount": 2, "instanceGroupName": "a"},
                           {"instanceType": "ml.c5.xlarge", "instanceCount": 1, "instanceGroupName": "b"}]}}})
    assert items(hetero) == [("ml.p4d.24xlarge", 2, False), ("ml.c5.xlarge", 1, False)]
    ep = tr("CreateEndpointConfig", {"requestParameters": {"endpointConfigName": "e", "productionVariants": [
        {"variantName": "v", "instanceType": "ml.g5.48xlarge", "initialInstanceCount": 1,
         "managedInstanceScaling": {"maxInstanceCount": 6}}]}})
    assert items(ep) == [("ml.g5.48xlarge", 6, False)]
    nb = tr("CreateNotebookInstance", {"requestParameters": {"notebookInstanceName": "n",
                                                             "instanceType": "ml.g5.xlarge"}})
    assert items(nb) == [("ml.g5.xlarge", 1, False)] and nb.resources[0].kind == "sagemaker:notebook-instance"
    proc = tr("CreateProcessingJob", {"requestParameters": {"processingJobName": "p", "processingResources": {
        "clusterConfig": {"instanceType": "ml.p4d.24xlarge", "instanceCount": 3, "volumeSizeInGB": 30}}}})
    assert items(proc) == [("ml.p4d.24xlarge", 3, False)]
    xform = tr("CreateTransformJob", {"requestParameters": {"transformJobName": "x", "transformResources": {
        "instanceType": "ml.g4dn.xlarge", "instanceCount": 2}}})
    assert items(xform) == [("ml.g4dn.xlarge", 2, False)]


def test_eks_node_groups_alternatives_share_a_slot() -> None:
    plain = tr("CreateNodegroup", {"requestParameters": {"name": "c", "nodegroupName": "n"}})
    assert items(plain) == [] and not plain.provisions  # EKS's default (t3.medium) runs nothing accelerated
    gpu = tr("CreateNodegroup", {"requestParameters": {"name": "c", "nodegroupName": "n",
                                                       "instanceTypes": ["p5.48xlarge", "p4d.24xlarge"],
                                                       "scalingConfig": {"maxSize": 5, "desiredSize": 1}}})
    assert items(gpu) == [("p5.48xlarge", 5, True), ("p4d.24xlarge", 5, True)]
    assert (gpu.resources[0].id, gpu.resources[0].parent) == ("n", "c")
    # A template that cannot be read is not replaced by the default type.
    failed = tr("CreateNodegroup", {"requestParameters": {"name": "c", "nodegroupName": "n",
                                                          "launchTemplate": {"id": "lt-1", "version": "2"}}})
    assert failed.items == () and failed.unresolved


def test_batch_counts_instances_from_the_vcpu_cap(moto: None) -> None:
    detail = {"requestParameters": {"computeEnvironmentName": "ce", "type": "MANAGED", "computeResources": {
        "type": "EC2", "maxvCpus": 384, "minvCpus": 0, "instanceTypes": ["p4d.24xlarge", "optimal"]}},
              "responseElements": {"computeEnvironmentName": "ce",
                                   "computeEnvironmentArn": "arn:aws:batch:us-east-1:1:compute-environment/ce"}}
    t = tr("CreateComputeEnvironment", detail, BotoReader(Clients()))
    # 96 vCPUs each, plus the one instance Batch may overshoot by; "optimal" may be any accelerated type.
    assert ("p4d.24xlarge", 5, True) in items(t) and len(t.items) > 2 and not t.unresolved
    plain = tr("CreateComputeEnvironment", {"requestParameters": {"computeResources": {
        "maxvCpus": 64, "instanceTypes": ["m5.xlarge"]}}})
    assert items(plain) == [("m5.xlarge", 17, False)]


def test_emr_groups_fleets_and_the_classic_master_slave_form() -> None:
    classic = tr("RunJobFlow", {"requestParameters": {"name": "c", "instances": {
        "masterInstanceType": "m5.xlarge", "slaveInstanceType": "p4d.24xlarge", "instanceCount": 5}},
        "responseElements": {"jobFlowId": "j-1"}})
    # InstanceCount counts the master too: the core count is an upper bound (as in the adapter).
    assert items(classic) == [("m5.xlarge", 1, False), ("p4d.24xlarge", 5, False)]
    groups = tr("RunJobFlow", {"requestParameters": {"name": "g", "instances": {"instanceGroups": [
        {"instanceRole": "MASTER", "instanceType": "m5.xlarge", "instanceCount": 1},
        {"instanceRole": "CORE", "instanceType": "g5.12xlarge", "instanceCount": 3}]}},
        "responseElements": {"jobFlowId": "j-2", "clusterArn": "arn:aws:elasticmapreduce:us-east-1:1:cluster/j-2"}})
    assert items(groups) == [("m5.xlarge", 1, False), ("g5.12xlarge", 3, False)]
    assert (groups.resources[0].kind, groups.resources[0].id) == ("emr:cluster", "j-2")
    fleets = tr("RunJobFlow", {"requestParameters": {"name": "f", "instances": {"instanceFleets": [
        {"instanceFleetType": "CORE", "targetOnDemandCapacity": 2, "targetSpotCapacity": 3,
         "instanceTypeConfigs": [{"instanceType": "p4d.24xlarge"}, {"instanceType": "p5.48xlarge"}]}]}}})
    assert items(fleets) == [("p4d.24xlarge", 5, True), ("p5.48xlarge", 5, True)]


@pytest.mark.parametrize("name", ["RunInstances", "CreateTrainingJob", "CreateProcessingJob", "RunJobFlow"])
def test_an_empty_record_provisions_nothing(name: str) -> None:
    t = tr(name, {"requestParameters": {}, "responseElements": {}})
    assert not t.provisions
