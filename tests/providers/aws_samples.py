"""One accelerated request per self-contained row of the AWS spec (no existing resource to read), in
botocore's parameter shape; ``plain(params)`` is the same request on plain compute. Used by the
wrapper's and the hook's every-path tests, so that a row added to the spec without a sample fails."""

from __future__ import annotations

import json
from typing import Any

GPU, ML_GPU = "p4d.24xlarge", "ml.p4d.24xlarge"
LT = {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "1"}
ROLE = "arn:aws:iam::123456789012:role/r"
_ML = {"InstanceType": ML_GPU, "InstanceCount": 2, "VolumeSizeInGB": 10}
_MON = {"ClusterConfig": _ML}

SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("ec2", "RunInstances"): {"ImageId": "ami-12c6146b", "InstanceType": GPU, "MinCount": 1, "MaxCount": 2},
    ("ec2", "CreateFleet"): {"LaunchTemplateConfigs": [{"LaunchTemplateSpecification": LT, "Overrides": [
        {"InstanceType": GPU}]}], "TargetCapacitySpecification": {"TotalTargetCapacity": 2}},
    ("ec2", "RequestSpotInstances"): {"InstanceCount": 2, "LaunchSpecification": {"InstanceType": GPU}},
    ("ec2", "RequestSpotFleet"): {"SpotFleetRequestConfig": {"IamFleetRole": ROLE, "TargetCapacity": 2,
                                                             "LaunchSpecifications": [{"InstanceType": GPU}]}},
    ("ec2", "CreateLaunchTemplate"): {"LaunchTemplateName": "t", "LaunchTemplateData": {"InstanceType": GPU}},
    ("ec2", "ModifyInstanceAttribute"): {"InstanceId": "i-1", "InstanceType": {"Value": GPU}},
    ("ec2", "CreateCapacityReservation"): {"InstanceType": GPU, "InstancePlatform": "Linux/UNIX",
                                           "InstanceCount": 2},
    ("ec2", "CreateCapacityReservationFleet"): {"InstanceTypeSpecifications": [{"InstanceType": GPU}],
                                                "TotalTargetCapacity": 2},
    ("ec2", "PurchaseCapacityBlock"): {"CapacityBlockOfferingId": "cb-1", "InstancePlatform": "Linux/UNIX"},
    ("ec2", "AllocateHosts"): {"InstanceFamily": "p4d", "Quantity": 1, "AvailabilityZone": "us-east-1a"},
    ("ec2", "RunScheduledInstances"): {"ScheduledInstanceId": "sci-1", "LaunchSpecification": {
        "ImageId": "ami-12c6146b", "InstanceType": GPU}},
    ("ec2", "ImportInstance"): {"Platform": "Linux", "LaunchSpecification": {"InstanceType": GPU}},
    ("autoscaling", "CreateAutoScalingGroup"): {"AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 2,
                                                "MixedInstancesPolicy": {"LaunchTemplate": {
                                                    "LaunchTemplateSpecification": LT,
                                                    "Overrides": [{"InstanceType": GPU}]}}},
    ("autoscaling", "CreateLaunchConfiguration"): {"LaunchConfigurationName": "lc", "ImageId": "ami-12c6146b",
                                                   "InstanceType": GPU},
    ("sagemaker", "CreateTrainingJob"): {"TrainingJobName": "j", "ResourceConfig": _ML},
    ("sagemaker", "CreateHyperParameterTuningJob"): {"HyperParameterTuningJobName": "h", "TrainingJobDefinition": {
        "ResourceConfig": _ML}},
    ("sagemaker", "CreateEndpointConfig"): {"EndpointConfigName": "c", "ProductionVariants": [
        {"VariantName": "v", "InstanceType": ML_GPU, "InitialInstanceCount": 2}]},
    ("sagemaker", "CreateNotebookInstance"): {"NotebookInstanceName": "n", "InstanceType": ML_GPU, "RoleArn": ROLE},
    ("sagemaker", "UpdateNotebookInstance"): {"NotebookInstanceName": "n", "InstanceType": ML_GPU},
    ("sagemaker", "CreateProcessingJob"): {"ProcessingJobName": "p", "ProcessingResources": {"ClusterConfig": _ML}},
    ("sagemaker", "CreateTransformJob"): {"TransformJobName": "t", "TransformResources": {
        "InstanceType": ML_GPU, "InstanceCount": 2}},
    ("sagemaker", "CreateCluster"): {"ClusterName": "c", "InstanceGroups": [
        {"InstanceGroupName": "g", "InstanceType": ML_GPU, "InstanceCount": 2}]},
    ("sagemaker", "UpdateCluster"): {"ClusterName": "c", "InstanceGroups": [
        {"InstanceGroupName": "g", "InstanceType": ML_GPU, "InstanceCount": 2}]},
    ("sagemaker", "CreateTrainingPlan"): {"TrainingPlanName": "p", "TrainingPlanOfferingId": "tpo-1"},
    ("sagemaker", "CreateOptimizationJob"): {"OptimizationJobName": "o", "DeploymentInstanceType": ML_GPU,
                                             "MaxInstanceCount": 2},
    ("sagemaker", "CreateInferenceRecommendationsJob"): {"JobName": "r", "InputConfig": {
        "EndpointConfigurations": [{"InstanceType": ML_GPU}]}},
    **{("sagemaker", f"Create{k}JobDefinition"): {"JobDefinitionName": "d", "JobResources": _MON}
       for k in ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")},
    ("sagemaker", "CreateMonitoringSchedule"): {"MonitoringScheduleName": "m", "MonitoringScheduleConfig": {
        "MonitoringJobDefinition": {"MonitoringResources": _MON}}},
    ("sagemaker", "CreateDomain"): {"DomainName": "d", "DefaultUserSettings": {
        "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": ML_GPU}}}},
    ("sagemaker", "UpdateDomain"): {"DomainId": "d-1", "DefaultUserSettings": {
        "KernelGatewayAppSettings": {"DefaultResourceSpec": {"InstanceType": ML_GPU}}}},
    ("sagemaker", "CreateSpace"): {"DomainId": "d-1", "SpaceName": "s", "SpaceSettings": {
        "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": ML_GPU}}}},
    ("sagemaker", "CreateApp"): {"DomainId": "d-1", "AppType": "JupyterLab", "AppName": "a", "SpaceName": "s",
                                 "ResourceSpec": {"InstanceType": ML_GPU}},
    ("eks", "CreateNodegroup"): {"clusterName": "c", "nodegroupName": "n", "instanceTypes": [GPU],
                                 "scalingConfig": {"maxSize": 2}},
    ("batch", "CreateComputeEnvironment"): {"computeEnvironmentName": "ce", "type": "MANAGED", "computeResources": {
        "type": "EC2", "maxvCpus": 192, "instanceTypes": [GPU]}},
    ("emr", "RunJobFlow"): {"Name": "c", "Instances": {"InstanceGroups": [
        {"InstanceRole": "CORE", "InstanceType": GPU, "InstanceCount": 2}]}},
    ("emr", "AddInstanceGroups"): {"JobFlowId": "j-1", "InstanceGroups": [
        {"InstanceRole": "TASK", "InstanceType": GPU, "InstanceCount": 2}]},
    ("emr", "AddInstanceFleet"): {"ClusterId": "j-1", "InstanceFleet": {
        "InstanceFleetType": "TASK", "TargetOnDemandCapacity": 2, "InstanceTypeConfigs": [{"InstanceType": GPU}]}},
    ("emr", "ModifyInstanceFleet"): {"ClusterId": "j-1", "InstanceFleet": {"InstanceFleetId": "if-1",
                                                                           "TargetOnDemandCapacity": 2,
                                                                           "InstanceTypeConfigs": [
                                                                               {"InstanceType": GPU}]}},
    ("ecs", "UpdateCapacityProvider"): {"name": "p", "managedInstancesProvider": {"instanceLaunchTemplate": {
        "instanceRequirements": {"vCpuCount": {"min": 8}, "memoryMiB": {"min": 1024},
                                 "acceleratorManufacturers": ["nvidia"], "acceleratorCount": {"min": 8}}}}},
    ("ecs", "CreateCapacityProvider"): {"name": "p", "managedInstancesProvider": {"instanceLaunchTemplate": {
        "instanceRequirements": {"vCpuCount": {"min": 8}, "memoryMiB": {"min": 1024},
                                 "acceleratorManufacturers": ["nvidia"], "acceleratorCount": {"min": 8}}}}},
    ("cloudformation", "CreateStack"): {"StackName": "s", "TemplateBody": json.dumps({"Resources": {"I": {
        "Type": "AWS::EC2::Instance", "Properties": {"InstanceType": GPU}}}})},
    ("cloudformation", "CreateChangeSet"): {"StackName": "s", "ChangeSetName": "c", "TemplateBody": json.dumps(
        {"Resources": {"I": {"Type": "AWS::EC2::Instance", "Properties": {"InstanceType": GPU}}}})},
    ("cloudformation", "UpdateStack"): {"StackName": "s", "TemplateBody": json.dumps({"Resources": {"I": {
        "Type": "AWS::EC2::Instance", "Properties": {"InstanceType": GPU}}}})},
    ("cloudformation", "CreateStackSet"): {"StackSetName": "s", "TemplateBody": json.dumps({"Resources": {"I": {
        "Type": "AWS::EC2::Instance", "Properties": {"InstanceType": GPU}}}})},
    ("cloudformation", "UpdateStackSet"): {"StackSetName": "s", "TemplateBody": json.dumps({"Resources": {"I": {
        "Type": "AWS::EC2::Instance", "Properties": {"InstanceType": GPU}}}})},
}
# Rows that read an existing resource: covered by their own tests against moto (test_new_paths.py,
# test_resolver.py, tests/hooks/test_aws_new_paths.py), since the resource must exist to be read.
READS_EXISTING = {op for op in (
    ("ec2", "StartInstances"), ("ec2", "ModifyFleet"), ("ec2", "ModifySpotFleetRequest"),
    ("ec2", "CreateLaunchTemplateVersion"), ("ec2", "ModifyLaunchTemplate"), ("ec2", "ModifyCapacityReservation"),
    ("ec2", "ModifyCapacityReservationFleet"), ("ec2", "PurchaseCapacityBlockExtension"),
    ("autoscaling", "UpdateAutoScalingGroup"), ("autoscaling", "SetDesiredCapacity"),
    ("autoscaling", "PutScheduledUpdateGroupAction"), ("autoscaling", "BatchPutScheduledUpdateGroupAction"),
    ("autoscaling", "PutWarmPool"), ("autoscaling", "StartInstanceRefresh"), ("sagemaker", "CreateEndpoint"),
    ("sagemaker", "UpdateEndpoint"), ("eks", "UpdateNodegroupVersion"), ("eks", "UpdateNodegroupConfig"),
    ("batch", "UpdateComputeEnvironment"), ("emr", "ModifyInstanceGroups"))}


# Only accelerated capacity is sold this way: there is no plain request to make.
NO_PLAIN = {("sagemaker", "CreateTrainingPlan"), ("ec2", "PurchaseCapacityBlock")}


def plain(params: Any) -> Any:
    """The same request on plain compute (every accelerated type, family or filter replaced)."""
    text = json.dumps(params)
    for a, b in (("ml.p4d.24xlarge", "ml.m5.large"), ("p4d.24xlarge", "m5.large"), ('"p4d"', '"m5"'),
                 ('"acceleratorCount": {"min": 8}',  # fractional GPUs report 0 accelerators (docs/aws.md)
                  '"acceleratorCount": {"max": 0}, "excludedInstanceTypes": ["g6f.*", "gr6f.*"]'),
                 ('"acceleratorManufacturers": ["nvidia"], ', ""), ("tpo-1", "")):
        text = text.replace(a, b)
    return json.loads(text)
