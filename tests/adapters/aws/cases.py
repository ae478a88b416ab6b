"""The matrix of provisioning paths: one Case per path of issue 3, each with a setup and two variants.

``params(ctx, accelerated)`` builds the call's parameters: ``accelerated=True`` names an A100 (or
H100) through the path under test; ``False`` names a plain type through the same path. ``setup``
creates, with unprotected clients, what the path refers to (launch templates, groups, clusters) and
returns their names. ``moto`` is False where moto does not implement the operation: the block is
still asserted (nothing leaves the process), and the allow is asserted as "the request was sent".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.adapters.aws.conftest import REGION, Aws

GPU, PLAIN = "p4d.24xlarge", "t3.micro"
ML_GPU, ML_PLAIN = "ml.p4d.24xlarge", "ml.m5.large"
ML_NOTEBOOK = "ml.t3.medium"  # a plain type moto's notebook validation accepts
AMI = "ami-12c6146b"
ROLE = "arn:aws:iam::123456789012:role/gatekeeper-test"
PROFILE = "arn:aws:iam::123456789012:instance-profile/gatekeeper-test"
AZ = f"{REGION}a"

Ctx = dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    service: str
    method: str
    params: Callable[[Ctx, bool], dict[str, Any]]
    setup: Callable[[Aws], Ctx] | None = None
    moto: bool = True  # moto implements the operation (and these parameters): allowed calls must succeed
    # Variants (accelerated True/False) moto's own validation rejects, its instance-type lists lagging
    # AWS's: the call is still asserted as sent, moto's refusal tolerated.
    moto_rejects: tuple[bool, ...] = ()
    resource: bool = False  # called through boto3.resource('ec2').create_instances


def t(accelerated: bool) -> str:
    return GPU if accelerated else PLAIN


def ml(accelerated: bool) -> str:
    return ML_GPU if accelerated else ML_PLAIN


# ------------------------------------------------------------------------------------------ setups
def templates(aws: Aws) -> Ctx:
    ec2 = aws.raw("ec2")
    ctx: Ctx = {}
    for kind, itype in (("gpu", GPU), ("plain", PLAIN)):
        lt = ec2.create_launch_template(LaunchTemplateName=f"gk-{kind}",
                                        LaunchTemplateData={"ImageId": AMI, "InstanceType": itype})
        ctx[f"lt_{kind}"] = lt["LaunchTemplate"]["LaunchTemplateName"]
        ctx[f"lt_{kind}_id"] = lt["LaunchTemplate"]["LaunchTemplateId"]
    # A template without an instance type (for node groups and fleets that name the type elsewhere).
    bare = ec2.create_launch_template(LaunchTemplateName="gk-bare", LaunchTemplateData={"ImageId": AMI})
    ctx["lt_bare"] = bare["LaunchTemplate"]["LaunchTemplateName"]
    return ctx


def lt(ctx: Ctx, accelerated: bool, version: str = "$Latest") -> dict[str, str]:
    return {"LaunchTemplateName": ctx["lt_gpu" if accelerated else "lt_plain"], "Version": version}


def network(aws: Aws) -> Ctx:
    """A VPC, subnet and security group, and the IAM role services are given (moto checks it exists)."""
    iam = aws.raw("iam")
    iam.create_role(RoleName="gatekeeper-test", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="gatekeeper-test")
    ec2 = aws.raw("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=AZ)["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="gk", Description="gk", VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "subnet": subnet, "sg": sg}


def groups(aws: Aws) -> Ctx:
    ctx = templates(aws)
    asg = aws.raw("autoscaling")
    for kind in ("gpu", "plain"):
        asg.create_auto_scaling_group(AutoScalingGroupName=f"asg-{kind}", MinSize=0, MaxSize=3,
                                      AvailabilityZones=[AZ], LaunchTemplate=lt(ctx, kind == "gpu"))
        asg.create_launch_configuration(LaunchConfigurationName=f"lc-{kind}", ImageId=AMI,
                                        InstanceType=t(kind == "gpu"))
    return ctx


def template_versions(aws: Aws) -> Ctx:
    """gk-mixed: version 1 plain, version 2 A100."""
    ec2 = aws.raw("ec2")
    made = ec2.create_launch_template(LaunchTemplateName="gk-mixed",
                                      LaunchTemplateData={"ImageId": AMI, "InstanceType": PLAIN})
    tid = made["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": GPU})
    return {**templates(aws), "mixed_id": tid}


def instance(aws: Aws) -> Ctx:
    ec2 = aws.raw("ec2")
    made = ec2.run_instances(ImageId=AMI, InstanceType=PLAIN, MinCount=1, MaxCount=1)
    iid = made["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[iid])
    return {"instance": iid}


def fleets(aws: Aws) -> Ctx:
    ctx = templates(aws)
    ec2 = aws.raw("ec2")
    ctx["fleet"] = ec2.create_fleet(
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": lt(ctx, False)}],
        TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        Type="maintain")["FleetId"]
    ctx["spot_fleet"] = ec2.request_spot_fleet(SpotFleetRequestConfig={
        "IamFleetRole": ROLE, "TargetCapacity": 1, "AllocationStrategy": "lowestPrice",
        "LaunchSpecifications": [{"ImageId": AMI, "InstanceType": PLAIN}]})["SpotFleetRequestId"]
    return ctx


def eks(aws: Aws) -> Ctx:
    ctx = {**templates(aws), **network(aws)}
    client = aws.raw("eks")
    client.create_cluster(name="gk-cluster", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [ctx["subnet"]]})
    return ctx


def eks_nodegroup(aws: Aws) -> Ctx:
    ctx = template_versions(aws)
    ctx.update(network(aws))
    client = aws.raw("eks")
    client.create_cluster(name="gk-cluster", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [ctx["subnet"]]})
    client.create_nodegroup(clusterName="gk-cluster", nodegroupName="ng", subnets=[ctx["subnet"]], nodeRole=ROLE,
                            scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 1},
                            launchTemplate={"id": ctx["mixed_id"], "version": "1"})
    return ctx


def batch_ce(aws: Aws) -> Ctx:
    ctx = network(aws)
    aws.raw("batch").create_compute_environment(computeEnvironmentName="ce-plain", type="MANAGED",
                                                computeResources=ce_resources(ctx, ["m5"]), serviceRole=ROLE)
    return ctx


def ce_resources(ctx: Ctx, types: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "EC2", "minvCpus": 0, "maxvCpus": 96, "instanceTypes": types, "subnets": [ctx["subnet"]],
            "securityGroupIds": [ctx["sg"]], "instanceRole": PROFILE, **extra}


def emr_cluster(aws: Aws) -> Ctx:
    made = aws.raw("emr").run_job_flow(Name="gk", ReleaseLabel="emr-7.0.0", JobFlowRole="EMR_EC2_DefaultRole",
                                       ServiceRole="EMR_DefaultRole",
                                       Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1,
                                                  "KeepJobFlowAliveWhenNoSteps": True})
    return {"cluster": made["JobFlowId"]}


def model(aws: Aws) -> Ctx:
    aws.raw("sagemaker").create_model(ModelName="m", ExecutionRoleArn=ROLE,
                                      PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    return {}


def notebook(aws: Aws) -> Ctx:
    aws.raw("sagemaker").create_notebook_instance(NotebookInstanceName="nb", InstanceType=ML_NOTEBOOK, RoleArn=ROLE)
    return {}


# ------------------------------------------------------------------------------------------ params
def _training(accelerated: bool, resources: dict[str, Any]) -> dict[str, Any]:
    return {"TrainingJobName": "job", "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                       "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"VolumeSizeInGB": 10, **resources},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}


def _ir(accelerated: bool) -> dict[str, Any]:
    """InstanceRequirements: an A100 by name, or explicitly no accelerators (and no fractional GPUs)."""
    base: dict[str, Any] = {"VCpuCount": {"Min": 2}, "MemoryMiB": {"Min": 1024}}
    if accelerated:
        return {**base, "AcceleratorNames": ["a100"], "AcceleratorCount": {"Min": 1}}
    return {**base, "AcceleratorCount": {"Max": 0}, "ExcludedInstanceTypes": ["g6f.*", "gr6f.*"]}


def _ecs_ir(accelerated: bool) -> dict[str, Any]:
    ir = {"vCpuCount": {"min": 2}, "memoryMiB": {"min": 1024}}
    if accelerated:
        return {**ir, "acceleratorManufacturers": ["nvidia"], "acceleratorNames": ["a100"]}
    return {**ir, "acceleratorCount": {"max": 0}, "excludedInstanceTypes": ["g6f.*", "gr6f.*"]}


SPOT = {"IamFleetRole": ROLE, "TargetCapacity": 2, "AllocationStrategy": "lowestPrice"}
HYPERPOD_GROUP = {"InstanceCount": 2, "InstanceGroupName": "workers", "ExecutionRole": ROLE, "ThreadsPerCore": 1,
                  "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-bucket/lc", "OnCreate": "on_create.sh"}}


def _fleet_target(n: int = 2) -> dict[str, Any]:
    return {"TotalTargetCapacity": n, "DefaultTargetCapacityType": "on-demand"}


CASES: tuple[Case, ...] = (
    # ---------------------------------------------------------------------------------------- EC2
    Case("ec2-run-instances", "ec2", "run_instances",
         lambda c, a: {"ImageId": AMI, "InstanceType": t(a), "MinCount": 1, "MaxCount": 2}),
    Case("ec2-run-instances-launch-template", "ec2", "run_instances",
         lambda c, a: {"LaunchTemplate": lt(c, a), "MinCount": 1, "MaxCount": 1}, templates),
    Case("ec2-resource-create-instances", "ec2", "create_instances",
         lambda c, a: {"ImageId": AMI, "InstanceType": t(a), "MinCount": 1, "MaxCount": 1}, resource=True),
    Case("ec2-create-fleet-overrides", "ec2", "create_fleet",
         lambda c, a: {"LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, False),
                                                  "Overrides": [{"InstanceType": "m5.large"},
                                                                {"InstanceType": t(a)}]}],
                       "TargetCapacitySpecification": _fleet_target(), "Type": "instant"}, templates),
    Case("ec2-create-fleet-instance-requirements", "ec2", "create_fleet",
         lambda c, a: {"LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, False),
                                                  "Overrides": [{"InstanceRequirements": _ir(a)}]}],
                       "TargetCapacitySpecification": _fleet_target(), "Type": "instant"}, templates),
    Case("ec2-modify-fleet", "ec2", "modify_fleet",
         lambda c, a: {"FleetId": c["fleet"],
                       "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, False),
                                                  "Overrides": [{"InstanceType": t(a)}]}]},
         fleets, moto=False),
    Case("ec2-modify-fleet-instance-requirements", "ec2", "modify_fleet",
         lambda c, a: {"FleetId": c["fleet"],
                       "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, False),
                                                  "Overrides": [{"InstanceRequirements": _ir(a)}]}],
                       "TargetCapacitySpecification": {"TotalTargetCapacity": 2}},
         fleets, moto=False),
    Case("ec2-request-spot-instances", "ec2", "request_spot_instances",
         lambda c, a: {"InstanceCount": 2, "LaunchSpecification": {"ImageId": AMI, "InstanceType": t(a)}}),
    Case("ec2-request-spot-fleet-launch-specifications", "ec2", "request_spot_fleet",
         lambda c, a: {"SpotFleetRequestConfig": {
             **SPOT, "LaunchSpecifications": [{"ImageId": AMI, "InstanceType": t(a)}]}}),
    Case("ec2-request-spot-fleet-launch-template-configs", "ec2", "request_spot_fleet",
         lambda c, a: {"SpotFleetRequestConfig": {
             **SPOT, "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, a)}]}},
         templates),
    Case("ec2-modify-spot-fleet-request", "ec2", "modify_spot_fleet_request",
         lambda c, a: {"SpotFleetRequestId": c["spot_fleet"], "TargetCapacity": 2,
                       "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": lt(c, False),
                                                  "Overrides": [{"InstanceType": t(a)}]}]},
         fleets),
    Case("ec2-create-launch-template", "ec2", "create_launch_template",
         lambda c, a: {"LaunchTemplateName": "new", "LaunchTemplateData": {"ImageId": AMI, "InstanceType": t(a)}}),
    Case("ec2-create-launch-template-version", "ec2", "create_launch_template_version",
         lambda c, a: {"LaunchTemplateId": c["lt_plain_id"], "LaunchTemplateData": {"InstanceType": t(a)}},
         templates),
    Case("ec2-create-launch-template-version-inherits", "ec2", "create_launch_template_version",
         lambda c, a: {"LaunchTemplateId": c["lt_gpu_id" if a else "lt_plain_id"], "SourceVersion": "1",
                       "LaunchTemplateData": {"ImageId": "ami-00000001"}},
         templates),
    Case("ec2-modify-launch-template-default", "ec2", "modify_launch_template",
         lambda c, a: {"LaunchTemplateId": c["mixed_id"], "DefaultVersion": "2" if a else "1"},
         template_versions),
    Case("ec2-modify-instance-attribute-structure", "ec2", "modify_instance_attribute",
         lambda c, a: {"InstanceId": c["instance"], "InstanceType": {"Value": t(a)}}, instance),
    Case("ec2-modify-instance-attribute-value", "ec2", "modify_instance_attribute",
         lambda c, a: {"InstanceId": c["instance"], "Attribute": "instanceType", "Value": t(a)}, instance),
    Case("ec2-create-capacity-reservation", "ec2", "create_capacity_reservation",
         lambda c, a: {"InstanceType": t(a), "InstancePlatform": "Linux/UNIX", "AvailabilityZone": AZ,
                       "InstanceCount": 2}, moto=False),
    Case("ec2-create-capacity-reservation-fleet", "ec2", "create_capacity_reservation_fleet",
         lambda c, a: {"InstanceTypeSpecifications": [{"InstanceType": t(a), "InstancePlatform": "Linux/UNIX",
                                                       "Weight": 1.0, "AvailabilityZone": AZ}],
                       "TotalTargetCapacity": 2}, moto=False),
    # ------------------------------------------------------------------------------- Auto Scaling
    Case("asg-create-launch-configuration", "autoscaling", "create_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "new", "MinSize": 0, "MaxSize": 2, "AvailabilityZones": [AZ],
                       "LaunchConfigurationName": "lc-gpu" if a else "lc-plain"}, groups),
    Case("asg-create-launch-template", "autoscaling", "create_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "new", "MinSize": 0, "MaxSize": 2, "AvailabilityZones": [AZ],
                       "LaunchTemplate": lt(c, a)}, templates),
    Case("asg-create-mixed-instances", "autoscaling", "create_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "new", "MinSize": 0, "MaxSize": 4, "AvailabilityZones": [AZ],
                       "MixedInstancesPolicy": {"LaunchTemplate": {
                           "LaunchTemplateSpecification": lt(c, False),
                           "Overrides": [{"InstanceType": "m5.large"}, {"InstanceType": t(a)}]}}}, templates),
    Case("asg-update-launch-template", "autoscaling", "update_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "asg-plain", "LaunchTemplate": lt(c, a)}, groups),
    Case("asg-update-mixed-instances", "autoscaling", "update_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "asg-plain", "MixedInstancesPolicy": {"LaunchTemplate": {
             "LaunchTemplateSpecification": lt(c, False), "Overrides": [{"InstanceType": t(a)}]}}}, groups),
    Case("asg-update-launch-configuration", "autoscaling", "update_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "asg-plain", "LaunchConfigurationName": "lc-gpu" if a else "lc-plain"},
         groups),
    Case("asg-update-scale-existing-group", "autoscaling", "update_auto_scaling_group",
         lambda c, a: {"AutoScalingGroupName": "asg-gpu" if a else "asg-plain", "MaxSize": 6}, groups),
    Case("asg-create-launch-configuration-call", "autoscaling", "create_launch_configuration",
         lambda c, a: {"LaunchConfigurationName": "new-lc", "ImageId": AMI, "InstanceType": t(a)}),
    Case("asg-start-instance-refresh", "autoscaling", "start_instance_refresh",
         lambda c, a: {"AutoScalingGroupName": "asg-gpu" if a else "asg-plain"}, groups, moto=False),
    Case("asg-start-instance-refresh-desired", "autoscaling", "start_instance_refresh",
         lambda c, a: {"AutoScalingGroupName": "asg-plain", "DesiredConfiguration": {"LaunchTemplate": lt(c, a)}},
         groups, moto=False),
    # ---------------------------------------------------------------------------------- SageMaker
    Case("sm-create-training-job", "sagemaker", "create_training_job",
         lambda c, a: _training(a, {"InstanceType": ml(a), "InstanceCount": 2})),
    Case("sm-create-training-job-instance-groups", "sagemaker", "create_training_job",
         lambda c, a: _training(a, {"InstanceGroups": [
             {"InstanceType": ML_PLAIN, "InstanceCount": 1, "InstanceGroupName": "cpu"},
             {"InstanceType": ml(a), "InstanceCount": 2, "InstanceGroupName": "gpu"}]})),
    Case("sm-create-training-job-instance-preferences", "sagemaker", "create_training_job",
         lambda c, a: _training(a, {"InstancePreferences": [{"InstanceType": ML_PLAIN, "InstanceCount": 1},
                                                            {"InstanceType": ml(a), "InstanceCount": 2}]}),
         moto=False),
    Case("sm-create-hyper-parameter-tuning-job", "sagemaker", "create_hyper_parameter_tuning_job",
         lambda c, a: {"HyperParameterTuningJobName": "hpo",
                       "HyperParameterTuningJobConfig": {"Strategy": "Random", "ResourceLimits": {
                           "MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}},
                       "TrainingJobDefinition": {k: v for k, v in _training(a, {
                           "InstanceType": ml(a), "InstanceCount": 1}).items() if k != "TrainingJobName"}}),
    Case("sm-create-endpoint-config", "sagemaker", "create_endpoint_config",
         lambda c, a: {"EndpointConfigName": "ec", "ProductionVariants": [
             {"VariantName": "v", "ModelName": "m", "InstanceType": ml(a), "InitialInstanceCount": 1}]},
         model, moto_rejects=(True,)),
    Case("sm-create-endpoint-config-instance-pools", "sagemaker", "create_endpoint_config",
         lambda c, a: {"EndpointConfigName": "ec", "ProductionVariants": [
             {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1,
              "InstancePools": [{"InstanceType": ML_PLAIN, "Priority": 1},
                                {"InstanceType": ml(a), "Priority": 2}]}]}, model, moto=False),
    Case("sm-create-endpoint-config-shadow", "sagemaker", "create_endpoint_config",
         lambda c, a: {"EndpointConfigName": "ec",
                       "ProductionVariants": [{"VariantName": "v", "ModelName": "m", "InstanceType": ML_PLAIN,
                                               "InitialInstanceCount": 1}],
                       "ShadowProductionVariants": [{"VariantName": "s", "ModelName": "m", "InstanceType": ml(a),
                                                     "InitialInstanceCount": 1}]},
         model, moto_rejects=(True,)),
    Case("sm-create-notebook-instance", "sagemaker", "create_notebook_instance",
         lambda c, a: {"NotebookInstanceName": "nb2", "InstanceType": ML_GPU if a else ML_NOTEBOOK, "RoleArn": ROLE},
         moto_rejects=(True,)),
    Case("sm-update-notebook-instance", "sagemaker", "update_notebook_instance",
         lambda c, a: {"NotebookInstanceName": "nb", "InstanceType": ML_GPU if a else ML_NOTEBOOK}, notebook,
         moto=False),
    Case("sm-create-processing-job", "sagemaker", "create_processing_job",
         lambda c, a: {"ProcessingJobName": "p", "RoleArn": ROLE,
                       "AppSpecification": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"},
                       "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": ml(a),
                                                                 "VolumeSizeInGB": 10}}}),
    Case("sm-create-transform-job", "sagemaker", "create_transform_job",
         lambda c, a: {"TransformJobName": "tj", "ModelName": "m",
                       "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                          "S3Uri": "s3://bucket/in"}}},
                       "TransformOutput": {"S3OutputPath": "s3://bucket/out"},
                       "TransformResources": {"InstanceType": ml(a), "InstanceCount": 1}}),
    Case("sm-create-cluster", "sagemaker", "create_cluster",
         lambda c, a: {"ClusterName": "hp", "InstanceGroups": [{**HYPERPOD_GROUP, "InstanceType": ml(a)}]}),
    Case("sm-update-cluster", "sagemaker", "update_cluster",
         lambda c, a: {"ClusterName": "hp", "InstanceGroups": [{**HYPERPOD_GROUP, "InstanceType": ml(a)}]},
         moto=False),
    # ---------------------------------------------------------------------------------------- EKS
    Case("eks-create-nodegroup-instance-types", "eks", "create_nodegroup",
         lambda c, a: {"clusterName": "gk-cluster", "nodegroupName": "new", "subnets": [c["subnet"]],
                       "nodeRole": ROLE, "instanceTypes": [t(a)],
                       "scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 1}}, eks),
    Case("eks-create-nodegroup-launch-template", "eks", "create_nodegroup",
         lambda c, a: {"clusterName": "gk-cluster", "nodegroupName": "new", "subnets": [c["subnet"]],
                       "nodeRole": ROLE, "launchTemplate": {"name": c["lt_gpu" if a else "lt_plain"]},
                       "scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 1}}, eks),
    Case("eks-update-nodegroup-version", "eks", "update_nodegroup_version",
         lambda c, a: {"clusterName": "gk-cluster", "nodegroupName": "ng",
                       "launchTemplate": {"id": c["mixed_id"], "version": "2" if a else "1"}},
         eks_nodegroup, moto=False),
    # -------------------------------------------------------------------------------------- Batch
    Case("batch-create-compute-environment-family", "batch", "create_compute_environment",
         lambda c, a: {"computeEnvironmentName": "gk-ce", "type": "MANAGED", "serviceRole": ROLE,
                       "computeResources": ce_resources(c, ["p4d" if a else "m5"])}, network),
    Case("batch-create-compute-environment-optimal", "batch", "create_compute_environment",
         lambda c, a: {"computeEnvironmentName": "gk-ce", "type": "MANAGED", "serviceRole": ROLE,
                       "computeResources": ce_resources(c, ["optimal" if a else "default_x86_64"])}, network,
         moto_rejects=(False,)),
    Case("batch-create-compute-environment-template-overrides", "batch", "create_compute_environment",
         lambda c, a: {"computeEnvironmentName": "gk-ce", "type": "MANAGED", "serviceRole": ROLE,
                       "computeResources": ce_resources(c, ["m5.large"], launchTemplate={
                           "launchTemplateName": "gk-bare", "overrides": [
                               {"launchTemplateName": "gk-bare", "targetInstanceTypes": [t(a)]}]})},
         lambda aws: {**network(aws), **templates(aws)}, moto=False),
    Case("batch-update-compute-environment", "batch", "update_compute_environment",
         lambda c, a: {"computeEnvironment": "ce-plain",
                       "computeResources": {"instanceTypes": ["p4d.24xlarge" if a else "m5.large"]}}, batch_ce),
    # ---------------------------------------------------------------------------------------- EMR
    Case("emr-run-job-flow", "emr", "run_job_flow",
         lambda c, a: {"Name": "c", "ReleaseLabel": "emr-7.0.0", "JobFlowRole": "EMR_EC2_DefaultRole",
                       "ServiceRole": "EMR_DefaultRole",
                       "Instances": {"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": t(a),
                                     "InstanceCount": 3, "KeepJobFlowAliveWhenNoSteps": True}}),
    Case("emr-run-job-flow-instance-fleets", "emr", "run_job_flow",
         lambda c, a: {"Name": "c", "ReleaseLabel": "emr-7.0.0", "JobFlowRole": "EMR_EC2_DefaultRole",
                       "ServiceRole": "EMR_DefaultRole",
                       "Instances": {"KeepJobFlowAliveWhenNoSteps": True, "InstanceFleets": [
                           {"InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1,
                            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}]},
                           {"InstanceFleetType": "CORE", "TargetOnDemandCapacity": 2,
                            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}, {"InstanceType": t(a)}]}]}}),
    Case("emr-add-instance-groups", "emr", "add_instance_groups",
         lambda c, a: {"JobFlowId": c["cluster"], "InstanceGroups": [
             {"InstanceRole": "TASK", "InstanceType": t(a), "InstanceCount": 2}]}, emr_cluster),
    Case("emr-add-instance-fleet", "emr", "add_instance_fleet",
         lambda c, a: {"ClusterId": c["cluster"], "InstanceFleet": {
             "InstanceFleetType": "TASK", "TargetOnDemandCapacity": 2,
             "InstanceTypeConfigs": [{"InstanceType": t(a)}]}}, emr_cluster, moto=False),
    # ---------------------------------------------------------------------------------------- ECS
    Case("ecs-create-capacity-provider-instance-requirements", "ecs", "create_capacity_provider",
         lambda c, a: {"name": "cp", "managedInstancesProvider": {
             "infrastructureRoleArn": ROLE,
             "instanceLaunchTemplate": {"ec2InstanceProfileArn": ROLE,
                                        "networkConfiguration": {"subnets": ["subnet-1"]},
                                        "instanceRequirements": _ecs_ir(a)}}}, moto=False),
    Case("ecs-create-capacity-provider-auto-scaling-group", "ecs", "create_capacity_provider",
         lambda c, a: {"name": "cp", "autoScalingGroupProvider": {"autoScalingGroupArn": c["asg_arn_gpu" if a
                                                                                            else "asg_arn_plain"]}},
         lambda aws: _with_asg_arns(aws)),
    Case("ecs-update-capacity-provider-instance-requirements", "ecs", "update_capacity_provider",
         lambda c, a: {"name": "cp", "managedInstancesProvider": {
             "infrastructureRoleArn": ROLE,
             "instanceLaunchTemplate": {"ec2InstanceProfileArn": ROLE,
                                        "networkConfiguration": {"subnets": ["subnet-1"]},
                                        "instanceRequirements": _ecs_ir(a)}}}, moto=False),
)


def _with_asg_arns(aws: Aws) -> Ctx:
    ctx = groups(aws)
    found = aws.raw("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["asg-gpu", "asg-plain"])
    for g in found["AutoScalingGroups"]:
        ctx["asg_arn_" + g["AutoScalingGroupName"].split("-", 1)[1]] = g["AutoScalingGroupARN"]
    return ctx
