"""Every AWS call that can provision accelerated compute, and where it names it: the AWS spec's rows.

Like botocore's ``service-2.json`` this is data, read by generic code (``_read``): the SDK adapter
reads the rows against the caller's parameters, the CloudTrail hook against ``requestParameters``
and ``responseElements``, ``gatekeeper hooks test`` as the hook does, the docs list them. Member
names are botocore's (checked against the service models in ``tests/providers/test_aws_spec.py``);
CloudTrail records the same members in lowerCamel, which the spec derives (``ProviderSpec.casing``)
and reads case-insensitively, looking through EC2's ``items``/``item`` list wrappers. Rows whose
record is shaped otherwise (EC2's classic query calls: ``instancesSet.items[]``) spell their event
side in ``Audit.slots``. The vocabulary is :mod:`gatekeeper.providers._spec`.

Adding an operation is adding a row here (and, for the hook to put it right, its resource kind in
``hooks/remediation.KINDS`` with an executor in ``hooks/_aws.EXECUTORS``); the parity tests fail
until all of them agree.
"""

from __future__ import annotations

from gatekeeper.providers._spec import Affected, Attached, Audit, Existing, Operation, Ref, Slot, Source, Template

# --------------------------------------------------------------------------------------------------
# Building blocks

EIA = Attached("ElasticInferenceAccelerators[]", "Type", "Count")
EGPU_RUN = Attached("ElasticGpuSpecification[]", "Type")  # RunInstances spells it in the singular
EGPU_DATA = Attached("ElasticGpuSpecifications[]", "Type")

# LaunchTemplateData (CreateLaunchTemplate, DescribeLaunchTemplateVersions).
TEMPLATE_DATA = Source(type=("InstanceType",), requirements="InstanceRequirements", attached=(EIA, EGPU_DATA))
TEMPLATE_SLOTS = (Slot(sources=(TEMPLATE_DATA,)),)


def template(at: str, version: tuple[str, ...] = ("Version",)) -> Ref:
    """A launch template reference: an id or a name and a version, spelt as each service spells them
    (EC2 ``LaunchTemplateId``, Batch ``launchTemplateId``, EKS ``id``; matched case-insensitively)."""
    return Ref("launch_template", at,
               keys=(("id", ("LaunchTemplateId", "id")), ("name", ("LaunchTemplateName", "name")),
                     ("version", (*version, "versionNumber"))),
               defaults=(("version", "$Default"),), required=("id", "name"), data="LaunchTemplateData",
               reads=TEMPLATE_DATA)


LAUNCH_CONFIGURATION = Ref("launch_configuration", "LaunchConfigurationName")
INSTANCE = Ref("instance", "InstanceId", value_key="id")

_OVERRIDE = Source(at="Overrides[]", type=("InstanceType",), requirements="InstanceRequirements",
                   weight="WeightedCapacity")

# EC2 Fleet (CreateFleet, ModifyFleet, DescribeFleets).
EC2_FLEET = Slot(
    sources=(Source(at="LaunchTemplateConfigs[]", refs=(template("LaunchTemplateSpecification"),), inner=_OVERRIDE),),
    count=("TargetCapacitySpecification.TotalTargetCapacity",
           "TargetCapacitySpecification.OnDemandTargetCapacity+TargetCapacitySpecification.SpotTargetCapacity"),
    unit="TargetCapacitySpecification.TargetCapacityUnitType",
)


def _spot_fleet(at: str) -> Slot:
    """A Spot Fleet request config (RequestSpotFleet's SpotFleetRequestConfig, ModifySpotFleetRequest)."""
    return Slot(
        at=at,
        sources=(
            Source(at="LaunchSpecifications[]", type=("InstanceType",), requirements="InstanceRequirements",
                   weight="WeightedCapacity"),
            Source(at="LaunchTemplateConfigs[]", refs=(template("LaunchTemplateSpecification"),), inner=_OVERRIDE),
        ),
        count=("TargetCapacity", "OnDemandTargetCapacity"),
        unit="TargetCapacityUnitType",
    )


# An Auto Scaling group (CreateAutoScalingGroup, UpdateAutoScalingGroup, DescribeAutoScalingGroups).
ASG_CONFIG = ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy")
_ASG_SOURCES = (
    Source(refs=(LAUNCH_CONFIGURATION,)),
    Source(refs=(template("LaunchTemplate"),)),
    Source(at="MixedInstancesPolicy.LaunchTemplate", refs=(template("LaunchTemplateSpecification"),),
           inner=Source(at="Overrides[]", type=("InstanceType",), requirements="InstanceRequirements",
                        weight="WeightedCapacity", refs=(template("LaunchTemplateSpecification"),))),
)
ASG = Slot(sources=_ASG_SOURCES, count=("MaxSize", "DesiredCapacity"), unit="DesiredCapacityType")
# CreateAutoScalingGroup may also copy its configuration from a running instance.
ASG_CREATE = Slot(sources=(*_ASG_SOURCES, Source(refs=(INSTANCE,))), count=ASG.count, unit=ASG.unit)


def _asg_sized(*counts: str) -> Existing:
    """The group named by the call, read as it is, at the sizes the call sets (``$.`` = the request)."""
    return Existing("asg", (("name", "AutoScalingGroupName"),),
                    (Slot(sources=_ASG_SOURCES, count=(*ASG.count, *counts), unit=ASG.unit),), overlay=None)


# An EKS managed node group (CreateNodegroup, DescribeNodegroup).
NODEGROUP = Slot(
    sources=(Source(type=("instanceTypes",), refs=(template("launchTemplate"),), union_refs=True),),
    count=("scalingConfig.maxSize", "scalingConfig.desiredSize"),
)

# An AWS Batch compute environment's computeResources (Create/Update/DescribeComputeEnvironments).
# Batch ignores a launch template's instance type (it launches the instanceTypes), so templates are
# not read; an override's targetInstanceTypes are decided as alternatives too.
BATCH_CE = Slot(
    at="computeResources",
    sources=(
        Source(type=("instanceTypes",), families=True),
        Source(at="launchTemplate.overrides[]", type=("targetInstanceTypes",), families=True),
        Source(requirements="managedInstancesProvider.instanceLaunchTemplate.instanceRequirements"),
    ),
    count=("maxvCpus", "desiredvCpus"),
    default_unit="vcpu",
    overshoot=1,  # "Batch never exceeds maxvCpus by more than a single instance"
)


def _sagemaker_resources(at: str, multiplier: tuple[str, ...] = (), groups: bool = True) -> tuple[Slot, ...]:
    """A SageMaker ResourceConfig / ClusterConfig: one type, heterogeneous groups, or flexible preferences."""
    return (
        Slot(at=at, sources=(Source(type=("InstanceType",)),), count=("InstanceCount",), multiplier=multiplier),
        *((Slot(at=f"{at}.InstanceGroups[]", sources=(Source(type=("InstanceType",)),), count=("InstanceCount",),
                multiplier=multiplier),) if groups else ()),
        Slot(at=at, sources=(Source(at="InstancePreferences[]", type=("InstanceType",), count=("InstanceCount",)),
                             Source(type=("SelectedInstanceType",), count=("SelectedInstanceCount",))),
             multiplier=multiplier),
    )


_MAX_PARALLEL = ("$.HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",)


def _tuning_definition(at: str) -> tuple[Slot, ...]:
    return (
        *_sagemaker_resources(f"{at}.ResourceConfig", _MAX_PARALLEL),
        Slot(at=f"{at}.HyperParameterTuningResourceConfig",
             sources=(Source(type=("InstanceType",), count=("InstanceCount",)),
                      Source(at="InstanceConfigs[]", type=("InstanceType",), count=("InstanceCount",))),
             multiplier=_MAX_PARALLEL),
    )


_EIA_VARIANT = Attached("", "AcceleratorType")


def _variants(at: str) -> Slot:
    return Slot(at=at,
                sources=(Source(type=("InstanceType",), attached=(_EIA_VARIANT,)),
                         Source(at="InstancePools[]", type=("InstanceType",))),
                count=("InitialInstanceCount", "ManagedInstanceScaling.MaxInstanceCount"))


ENDPOINT_CONFIG_SLOTS = (_variants("ProductionVariants[]"), _variants("ShadowProductionVariants[]"))
_ENDPOINT_CONFIG = Existing("endpoint_config", (("name", "EndpointConfigName"),), ENDPOINT_CONFIG_SLOTS, overlay=None)

_NOTEBOOK = Slot(sources=(Source(type=("InstanceType",), attached=(Attached("AcceleratorTypes[]"),)),))
_HYPERPOD = (
    Slot(at="InstanceGroups[]", sources=(Source(type=("InstanceType",)),
                                         Source(type=("InstanceRequirements.InstanceTypes",))),
         count=("InstanceCount",)),
    Slot(at="RestrictedInstanceGroups[]", sources=(Source(type=("InstanceType",)),), count=("InstanceCount",)),
)
_EMR_MANAGED_MAX = "$.ManagedScalingPolicy.ComputeLimits.MaximumCapacityUnits"


def _emr_groups(at: str, managed: tuple[str, ...]) -> Slot:
    return Slot(at=at, sources=(Source(type=("InstanceType",)),),
                count=("InstanceCount", "AutoScalingPolicy.Constraints.MaxCapacity", *managed))


def _emr_fleet(at: str, managed: tuple[str, ...]) -> Slot:
    return Slot(at=at, sources=(Source(at="InstanceTypeConfigs[]", type=("InstanceType",), weight="WeightedCapacity"),),
                count=("TargetOnDemandCapacity+TargetSpotCapacity", *managed))


# SageMaker Studio: the default instance of each app type (a domain's user and space defaults, a space's).
_USER_APPS = ("JupyterServerAppSettings", "KernelGatewayAppSettings", "TensorBoardAppSettings",
              "RSessionAppSettings", "CodeEditorAppSettings", "JupyterLabAppSettings")
_SPACE_APPS = ("JupyterServerAppSettings", "KernelGatewayAppSettings", "JupyterLabAppSettings")


def _studio_defaults(at: str, apps: tuple[str, ...]) -> tuple[Slot, ...]:
    """Each app type's DefaultResourceSpec under ``at``: alternatives an app may inherit."""
    return tuple(Slot(at=f"{at}.{app}.DefaultResourceSpec", sources=(Source(type=("InstanceType",)),)) for app in apps)


_DOMAIN_DEFAULTS = (*_studio_defaults("DefaultUserSettings", _USER_APPS),
                    *_studio_defaults("DefaultSpaceSettings", _SPACE_APPS))


def _monitoring(at: str) -> Slot:
    return Slot(at=at, sources=(Source(type=("InstanceType",)),), count=("InstanceCount",))


# Only accelerated capacity is sold as Capacity Blocks for ML and SageMaker training plans; the
# offering id names which, and no API reads an offering by id. Decided as every type they offer
# (the most restrictive wins); the hook reads the real type and count from the response.
CAPACITY_BLOCK_TYPES = ("p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge",
                        "p6-b200.48xlarge", "trn1.32xlarge", "trn2.48xlarge")
TRAINING_PLAN_TYPES = tuple(f"ml.{t}" for t in CAPACITY_BLOCK_TYPES)

# --------------------------------------------------------------------------------------------------
# The audit side: CloudTrail event sources, and where EC2's classic calls put what they name

EC2 = "ec2.amazonaws.com"
ASG_SOURCE = "autoscaling.amazonaws.com"
SAGEMAKER = "sagemaker.amazonaws.com"
EKS = "eks.amazonaws.com"
BATCH = "batch.amazonaws.com"
EMR = "elasticmapreduce.amazonaws.com"
ECS = "ecs.amazonaws.com"

RP = "requestParameters"
RE = "responseElements"


def _ec2_root(op: str) -> str:
    """EC2's newer query calls are recorded inside a ``<Op>Request`` wrapper, the older ones are not."""
    return f"{RP}.{op}Request|{RP}"


def ec2(name: str, slots: tuple[Slot, ...] = (), *, affected: tuple[Affected, ...] = (),
        response: tuple[Slot, ...] = (), event_slots: tuple[Slot, ...] | None = None, **kw: object) -> Operation:
    return Operation("ec2", name, slots, audit=Audit(EC2, root=_ec2_root(name), slots=event_slots, response=response,
                                                      affected=affected), **kw)  # type: ignore[arg-type]


def _on(service: str, source: str, name: str, slots: tuple[Slot, ...] = (), *, affected: tuple[Affected, ...] = (),
        **kw: object) -> Operation:
    return Operation(service, name, slots, audit=Audit(source, root=RP, affected=affected), **kw)  # type: ignore[arg-type]


def _any(*paths: str) -> str:
    return "|".join(paths)


def _resp(op: str, path: str) -> str:
    """A response member, inside the ``<Op>Response`` wrapper or not."""
    return _any(f"{RE}.{op}Response.{path}", f"{RE}.{path}")


def _req(op: str, path: str) -> str:
    return _any(f"{RP}.{op}Request.{path}", f"{RP}.{path}")


_ASG_AFFECTED = (Affected("autoscaling:group", f"{RP}.autoScalingGroupName"),)


def _sm(name: str, slots: tuple[Slot, ...], kind: str, noun: str, **kw: object) -> Operation:
    """A SageMaker call creating ``noun`` (its name in the request, its ARN in the response)."""
    return _on("sagemaker", SAGEMAKER, name, slots, ids=(f"{noun[0].upper()}{noun[1:]}Name",),
               affected=(Affected(kind, _any(f"{RP}.{noun}Name", f"{RE}.{noun}Name"), arn=f"{RE}.{noun}Arn"),),
               **kw)


_CFN = "cloudformation.amazonaws.com"
# Deploying a template: its compute resources are decided (gatekeeper.providers.aws.cloudformation).
_STACK_SET = _STACK_NEW = Template(body="TemplateBody", url="TemplateURL", parameters="Parameters")
_STACK = Template(body="TemplateBody", url="TemplateURL", parameters="Parameters", previous="UsePreviousTemplate",
                  stack="StackName")


# --------------------------------------------------------------------------------------------------
# The table

_ECS_MANAGED = (Slot(at="managedInstancesProvider.instanceLaunchTemplate",
                     sources=(Source(requirements="instanceRequirements"),)),)
_ECS_AFFECTED = (Affected("ecs:capacity-provider", f"{RP}.name", arn=f"{RE}.capacityProvider.capacityProviderArn"),)
_RUN_EVENT = (Slot(sources=(Source(type=("instanceType",), refs=(template("launchTemplate"),),
                                   attached=(Attached("elasticInferenceAcceleratorSet.items[]", "type", "count"),
                                             Attached("elasticGpuSpecificationSet.items[]", "type"))),),
                   count=("instancesSet.items[].maxCount", "instancesSet.items[].minCount")),)
_INSTANCES_OUT = (Slot(at=f"{RE}.instancesSet.items[]", sources=(Source(type=("instanceType",)),)),)

OPERATIONS: tuple[Operation, ...] = (
    # ---------------------------------------------------------------------------------------- EC2
    ec2("RunInstances",
        (Slot(sources=(Source(type=("InstanceType",), refs=(template("LaunchTemplate"),), attached=(EIA, EGPU_RUN)),),
              count=("MaxCount", "MinCount")),),
        event_slots=_RUN_EVENT, response=_INSTANCES_OUT,
        affected=(Affected("ec2:instance", f"{RE}.instancesSet.items[].instanceId"),)),
    # A stopped instance restarts as whatever type it has now (another tool may have resized it).
    ec2("StartInstances", (Slot(at="InstanceIds[]", sources=(Source(refs=(Ref("instance", value_key="id"),)),)),),
        event_slots=(Slot(at="instancesSet.items[].instanceId",
                          sources=(Source(refs=(Ref("instance", value_key="id"),)),)),),
        affected=(Affected("ec2:instance", f"{RP}.instancesSet.items[].instanceId"),), ids=("InstanceIds",)),
    ec2("CreateFleet", (EC2_FLEET,),
        response=(Slot(at=_resp("CreateFleet", "fleetInstanceSet[]"), sources=(Source(type=("instanceType",)),),
                       tally="instanceIds[]"),),
        affected=(Affected("ec2:fleet", _resp("CreateFleet", "fleetId")),
                  Affected("ec2:instance", _resp("CreateFleet", "fleetInstanceSet[].instanceIds[]")))),
    ec2("ModifyFleet",
        base=Existing("ec2_fleet", (("id", "FleetId"),), (EC2_FLEET,),
                      when=("LaunchTemplateConfigs", "TargetCapacitySpecification")),
        ids=("FleetId",), affected=(Affected("ec2:fleet", _req("ModifyFleet", "FleetId")),)),
    ec2("RequestSpotInstances",
        (Slot(sources=(Source(type=("LaunchSpecification.InstanceType",)),), count=("InstanceCount",)),),
        affected=(Affected("ec2:spot-request", f"{RE}.spotInstanceRequestSet.items[].spotInstanceRequestId"),)),
    ec2("RequestSpotFleet", (_spot_fleet("SpotFleetRequestConfig"),),
        affected=(Affected("ec2:spot-fleet-request", _resp("RequestSpotFleet", "spotFleetRequestId")),)),
    ec2("ModifySpotFleetRequest",
        base=Existing("spot_fleet", (("id", "SpotFleetRequestId"),), (_spot_fleet(""),),
                      exclusive=("LaunchSpecifications", "LaunchTemplateConfigs"),
                      when=("LaunchTemplateConfigs", "TargetCapacity", "OnDemandTargetCapacity")),
        ids=("SpotFleetRequestId",),
        affected=(Affected("ec2:spot-fleet-request", _req("ModifySpotFleetRequest", "SpotFleetRequestId")),)),
    ec2("CreateLaunchTemplate", (Slot(at="LaunchTemplateData", sources=(TEMPLATE_DATA,)),),
        ids=("LaunchTemplateName",),
        affected=(Affected("ec2:launch-template", _resp("CreateLaunchTemplate", "launchTemplate.launchTemplateId")),)),
    # A new version is its SourceVersion with LaunchTemplateData applied over it.
    ec2("CreateLaunchTemplateVersion",
        base=Existing("launch_template", (("id", "LaunchTemplateId"), ("name", "LaunchTemplateName"),
                                          ("version", "SourceVersion")),
                      TEMPLATE_SLOTS, overlay="LaunchTemplateData", when=("SourceVersion",)),
        ids=("LaunchTemplateId", "LaunchTemplateName"),
        affected=(Affected("ec2:launch-template-version",
                           _resp("CreateLaunchTemplateVersion", "launchTemplateVersion.versionNumber"),
                           parent=_resp("CreateLaunchTemplateVersion", "launchTemplateVersion.launchTemplateId")),)),
    # Switching the default version changes what every "$Default" user (groups, fleets) launches.
    ec2("ModifyLaunchTemplate",
        (Slot(sources=(Source(refs=(template("", version=("DefaultVersion",)),), when=("DefaultVersion", "")),)),),
        ids=("LaunchTemplateId", "LaunchTemplateName"),
        affected=(Affected("ec2:launch-template", _resp("ModifyLaunchTemplate", "launchTemplate.launchTemplateId")),)),
    ec2("ModifyInstanceAttribute",
        (Slot(sources=(Source(type=("InstanceType.Value",)),
                       Source(type=("Value",), when=("Attribute", "instanceType")))),),
        ids=("InstanceId",), affected=(Affected("ec2:instance", f"{RP}.instanceId"),)),
    ec2("CreateCapacityReservation",
        (Slot(sources=(Source(type=("InstanceType",)),), count=("InstanceCount",)),),
        affected=(Affected("ec2:capacity-reservation",
                           _resp("CreateCapacityReservation", "capacityReservation.capacityReservationId")),)),
    ec2("ModifyCapacityReservation",
        base=Existing("capacity_reservation", (("id", "CapacityReservationId"),),
                      (Slot(sources=(Source(type=("InstanceType",)),), count=("InstanceCount", "TotalInstanceCount")),),
                      when=("InstanceCount",)),
        ids=("CapacityReservationId",),
        affected=(Affected("ec2:capacity-reservation", _req("ModifyCapacityReservation", "CapacityReservationId")),)),
    ec2("CreateCapacityReservationFleet",
        (Slot(sources=(Source(at="InstanceTypeSpecifications[]", type=("InstanceType",), weight="Weight"),
                       Source(requirements="InstanceRequirements")),
              count=("TotalTargetCapacity",)),),
        affected=(Affected("ec2:capacity-reservation-fleet",
                           _resp("CreateCapacityReservationFleet", "capacityReservationFleetId")),)),
    ec2("ModifyCapacityReservationFleet",
        base=Existing("capacity_reservation_fleet", (("id", "CapacityReservationFleetId"),),
                      (Slot(sources=(Source(at="InstanceTypeSpecifications[]", type=("InstanceType",),
                                            weight="Weight"),),
                            count=("TotalTargetCapacity",)),),
                      when=("TotalTargetCapacity",)),
        ids=("CapacityReservationFleetId",),
        affected=(Affected("ec2:capacity-reservation-fleet",
                           _req("ModifyCapacityReservationFleet", "CapacityReservationFleetId")),)),
    ec2("PurchaseCapacityBlock", (Slot(sources=(Source(fixed=CAPACITY_BLOCK_TYPES),)),),
        ids=("CapacityBlockOfferingId",),
        response=(Slot(at=_resp("PurchaseCapacityBlock", "capacityReservation"),
                       sources=(Source(type=("instanceType",)),), count=("totalInstanceCount",)),),
        affected=(Affected("ec2:capacity-block",
                           _resp("PurchaseCapacityBlock", "capacityReservation.capacityReservationId")),)),
    # Extends an existing block: its type and count, read back.
    ec2("PurchaseCapacityBlockExtension",
        base=Existing("capacity_reservation", (("id", "CapacityReservationId"),),
                      (Slot(sources=(Source(type=("InstanceType",)),), count=("TotalInstanceCount",)),), overlay=None),
        ids=("CapacityReservationId",),
        affected=(Affected("ec2:capacity-block", _req("PurchaseCapacityBlockExtension", "CapacityReservationId")),)),
    # Dedicated Hosts: a family (p4d) or a type; each host holds at least one instance of the family's largest size.
    ec2("AllocateHosts",
        (Slot(sources=(Source(type=("InstanceType", "InstanceFamily"), families=True),), count=("Quantity",)),),
        response=(), affected=(Affected("ec2:host", _resp("AllocateHosts", "hostIdSet[]")),)),
    ec2("RunScheduledInstances",
        (Slot(sources=(Source(type=("LaunchSpecification.InstanceType",)),), count=("InstanceCount",)),),
        affected=(Affected("ec2:instance", _resp("RunScheduledInstances", "instanceIdSet[]")),)),
    ec2("ImportInstance", (Slot(sources=(Source(type=("LaunchSpecification.InstanceType",)),)),),
        affected=(Affected("ec2:instance", _resp("ImportInstance", "conversionTask.importInstance.instanceId")),)),
    # ------------------------------------------------------------------------------- Auto Scaling
    _on("autoscaling", ASG_SOURCE, "CreateAutoScalingGroup", (ASG_CREATE,), ids=("AutoScalingGroupName",),
        affected=_ASG_AFFECTED),
    _on("autoscaling", ASG_SOURCE, "UpdateAutoScalingGroup",
        base=Existing("asg", (("name", "AutoScalingGroupName"),), (ASG,), exclusive=ASG_CONFIG,
                      when=(*ASG_CONFIG, "MaxSize", "DesiredCapacity", "DesiredCapacityType")),
        ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    _on("autoscaling", ASG_SOURCE, "SetDesiredCapacity", base=_asg_sized("$.DesiredCapacity"),
        ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    _on("autoscaling", ASG_SOURCE, "PutScheduledUpdateGroupAction",
        base=_asg_sized("$.MaxSize", "$.DesiredCapacity"), ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    _on("autoscaling", ASG_SOURCE, "BatchPutScheduledUpdateGroupAction",
        base=_asg_sized("$.ScheduledUpdateGroupActions[].MaxSize", "$.ScheduledUpdateGroupActions[].DesiredCapacity"),
        ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    # A warm pool keeps up to MaxGroupPreparedCapacity (default: MaxSize) instances of the group's types.
    _on("autoscaling", ASG_SOURCE, "PutWarmPool", base=_asg_sized("$.MaxGroupPreparedCapacity"),
        ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    _on("autoscaling", ASG_SOURCE, "CreateLaunchConfiguration",
        (Slot(sources=(Source(type=("InstanceType",), refs=(INSTANCE,)),)),),
        ids=("LaunchConfigurationName",),
        affected=(Affected("autoscaling:launch-configuration", f"{RP}.launchConfigurationName"),)),
    # A refresh replaces every instance, with the DesiredConfiguration if given, else the group's own.
    _on("autoscaling", ASG_SOURCE, "StartInstanceRefresh",
        base=Existing("asg", (("name", "AutoScalingGroupName"),), (ASG,), overlay="DesiredConfiguration",
                      exclusive=ASG_CONFIG),
        ids=("AutoScalingGroupName",), affected=_ASG_AFFECTED),
    # ---------------------------------------------------------------------------------- SageMaker
    _sm("CreateTrainingJob", _sagemaker_resources("ResourceConfig"), "sagemaker:training-job", "trainingJob"),
    _sm("CreateHyperParameterTuningJob",
        (*_tuning_definition("TrainingJobDefinition"), *_tuning_definition("TrainingJobDefinitions[]")),
        "sagemaker:tuning-job", "hyperParameterTuningJob"),
    _sm("CreateEndpointConfig", ENDPOINT_CONFIG_SLOTS, "sagemaker:endpoint-config", "endpointConfig"),
    # An endpoint runs the configuration it names: read back.
    _sm("CreateEndpoint", (), "sagemaker:endpoint", "endpoint", base=_ENDPOINT_CONFIG),
    _sm("UpdateEndpoint", (), "sagemaker:endpoint", "endpoint", base=_ENDPOINT_CONFIG),
    _sm("CreateNotebookInstance", (_NOTEBOOK,), "sagemaker:notebook-instance", "notebookInstance"),
    _sm("UpdateNotebookInstance", (_NOTEBOOK,), "sagemaker:notebook-instance", "notebookInstance"),
    _sm("CreateProcessingJob", _sagemaker_resources("ProcessingResources.ClusterConfig", groups=False),
        "sagemaker:processing-job", "processingJob"),
    _sm("CreateTransformJob",
        (Slot(at="TransformResources", sources=(Source(type=("InstanceType",)),), count=("InstanceCount",)),),
        "sagemaker:transform-job", "transformJob"),
    _sm("CreateCluster", _HYPERPOD, "sagemaker:cluster", "cluster"),
    _sm("UpdateCluster", _HYPERPOD, "sagemaker:cluster", "cluster"),
    _sm("CreateTrainingPlan", (Slot(sources=(Source(fixed=TRAINING_PLAN_TYPES),)),), "sagemaker:training-plan",
        "trainingPlan"),
    _sm("CreateOptimizationJob",
        (Slot(sources=(Source(type=("DeploymentInstanceType",)),), count=("MaxInstanceCount",)),),
        "sagemaker:optimization-job", "optimizationJob"),
    _sm("CreateInferenceRecommendationsJob",
        (Slot(at="InputConfig.EndpointConfigurations[]", sources=(Source(type=("InstanceType",)),)),),
        "sagemaker:inference-recommendations-job", "job"),
    *(_sm(f"Create{kind}JobDefinition", (_monitoring("JobResources.ClusterConfig"),),
          "sagemaker:job-definition", "jobDefinition")
      for kind in ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")),
    _sm("CreateMonitoringSchedule",
        (_monitoring("MonitoringScheduleConfig.MonitoringJobDefinition.MonitoringResources.ClusterConfig"),),
        "sagemaker:monitoring-schedule", "monitoringSchedule"),
    _sm("CreateDomain", _DOMAIN_DEFAULTS, "sagemaker:domain", "domain"),
    _on("sagemaker", SAGEMAKER, "UpdateDomain", _DOMAIN_DEFAULTS, ids=("DomainId",),
        affected=(Affected("sagemaker:domain", f"{RP}.domainId", arn=f"{RE}.domainArn"),)),
    _sm("CreateSpace", _studio_defaults("SpaceSettings", (*_SPACE_APPS, "CodeEditorAppSettings")),
        "sagemaker:space", "space"),
    # Studio apps run on ml.* instances; an app naming none inherits its space's or user profile's
    # default, else its domain's (all that apply are decided, as alternatives).
    _on("sagemaker", SAGEMAKER, "CreateApp", (Slot(at="ResourceSpec", sources=(Source(type=("InstanceType",)),)),),
        base=Existing("domain", (("id", "DomainId"),), _DOMAIN_DEFAULTS, overlay=None),
        extra=(Existing("space", (("domain", "DomainId"), ("name", "SpaceName")),
                        _studio_defaults("SpaceSettings", (*_SPACE_APPS, "CodeEditorAppSettings")), overlay=None,
                        when=("SpaceName",), fallback=True),
               Existing("user_profile", (("domain", "DomainId"), ("name", "UserProfileName")),
                        _studio_defaults("UserSettings", _USER_APPS), overlay=None, when=("UserProfileName",),
                        fallback=True)),
        ids=("DomainId", "AppName"),
        affected=(Affected("sagemaker:app", f"{RP}.appName", arn=f"{RE}.appArn", parent=f"{RP}.domainId"),)),
    # ---------------------------------------------------------------------------------------- EKS
    _on("eks", EKS, "CreateNodegroup", (NODEGROUP,), ids=("clusterName", "nodegroupName"),
        affected=(Affected("eks:nodegroup", _any(f"{RE}.nodegroup.nodegroupName", f"{RP}.nodegroupName"),
                           arn=f"{RE}.nodegroup.nodegroupArn",
                           parent=_any(f"{RE}.nodegroup.clusterName", f"{RP}.clusterName", f"{RP}.name")),)),
    _on("eks", EKS, "UpdateNodegroupVersion",
        base=Existing("nodegroup", (("cluster", "clusterName"), ("name", "nodegroupName")), (NODEGROUP,)),
        ids=("clusterName", "nodegroupName"),
        affected=(Affected("eks:nodegroup", f"{RP}.nodegroupName", parent=f"{RP}.clusterName|{RP}.name"),)),
    _on("eks", EKS, "UpdateNodegroupConfig",
        base=Existing("nodegroup", (("cluster", "clusterName"), ("name", "nodegroupName")), (NODEGROUP,),
                      when=("scalingConfig",)),
        ids=("clusterName", "nodegroupName"),
        affected=(Affected("eks:nodegroup", f"{RP}.nodegroupName", parent=f"{RP}.clusterName|{RP}.name"),)),
    # -------------------------------------------------------------------------------------- Batch
    _on("batch", BATCH, "CreateComputeEnvironment", (BATCH_CE,), ids=("computeEnvironmentName",),
        affected=(Affected("batch:compute-environment",
                           _any(f"{RE}.computeEnvironmentName", f"{RP}.computeEnvironmentName"),
                           arn=f"{RE}.computeEnvironmentArn"),)),
    _on("batch", BATCH, "UpdateComputeEnvironment",
        base=Existing("compute_environment", (("name", "computeEnvironment"),), (BATCH_CE,),
                      when=("computeResources",)),
        ids=("computeEnvironment",),
        affected=(Affected("batch:compute-environment",
                           _any(f"{RE}.computeEnvironmentName", f"{RP}.computeEnvironment"),
                           arn=f"{RE}.computeEnvironmentArn"),)),
    # ---------------------------------------------------------------------------------------- EMR
    _on("emr", EMR, "RunJobFlow",
        (Slot(at="Instances", sources=(Source(type=("MasterInstanceType",)),)),
         Slot(at="Instances", sources=(Source(type=("SlaveInstanceType",)),),
              count=("InstanceCount", _EMR_MANAGED_MAX)),
         _emr_groups("Instances.InstanceGroups[]", (_EMR_MANAGED_MAX,)),
         _emr_fleet("Instances.InstanceFleets[]", (_EMR_MANAGED_MAX,))),
        ids=("Name",), affected=(Affected("emr:cluster", f"{RE}.jobFlowId", arn=f"{RE}.clusterArn"),)),
    _on("emr", EMR, "AddInstanceGroups", (_emr_groups("InstanceGroups[]", ()),), ids=("JobFlowId",),
        affected=(Affected("emr:instance-group", f"{RE}.instanceGroupIds[]", parent=f"{RP}.jobFlowId"),)),
    _on("emr", EMR, "AddInstanceFleet", (_emr_fleet("InstanceFleet", ()),), ids=("ClusterId",),
        affected=(Affected("emr:cluster", f"{RP}.clusterId"),)),
    _on("emr", EMR, "ModifyInstanceFleet", (_emr_fleet("InstanceFleet", ()),), ids=("ClusterId",),
        affected=(Affected("emr:cluster", f"{RP}.clusterId"),)),
    # A resize: each group's type read back, at its new count.
    _on("emr", EMR, "ModifyInstanceGroups",
        (Slot(at="InstanceGroups[]",
              sources=(Source(refs=(Ref("emr_instance_group", "InstanceGroupId", value_key="id",
                                        context=(("cluster", "$.ClusterId"),)),)),),
              count=("InstanceCount",)),),
        ids=("ClusterId",),
        affected=(Affected("emr:instance-group", f"{RP}.instanceGroups[].instanceGroupId", parent=f"{RP}.clusterId"),)),
    # ---------------------------------------------------------------------------------------- ECS
    _on("ecs", ECS, "CreateCapacityProvider", _ECS_MANAGED,
        extra=(Existing("asg", (("name", "autoScalingGroupProvider.autoScalingGroupArn"),), (ASG,),
                        overlay=None, when=("autoScalingGroupProvider.autoScalingGroupArn",)),),
        ids=("name",), affected=_ECS_AFFECTED),
    _on("ecs", ECS, "UpdateCapacityProvider", _ECS_MANAGED, ids=("name",), affected=_ECS_AFFECTED),
    # ------------------------------------------------------------------------------ CloudFormation
    _on("cloudformation", _CFN, "CreateStack", template=_STACK_NEW, ids=("StackName",),
        affected=(Affected("cloudformation:stack", _any(f"{RE}.stackId", f"{RP}.stackName")),)),
    _on("cloudformation", _CFN, "UpdateStack", template=_STACK, ids=("StackName",),
        affected=(Affected("cloudformation:stack-update", _any(f"{RE}.stackId", f"{RP}.stackName")),)),
    _on("cloudformation", _CFN, "CreateChangeSet", template=_STACK, ids=("StackName", "ChangeSetName"),
        affected=(Affected("cloudformation:change-set", _any(f"{RE}.id", f"{RP}.changeSetName"),
                           parent=_any(f"{RE}.stackId", f"{RP}.stackName")),)),
    _on("cloudformation", _CFN, "CreateStackSet", template=_STACK_SET, ids=("StackSetName",),
        affected=(Affected("cloudformation:stack-set", f"{RP}.stackSetName"),)),
    _on("cloudformation", _CFN, "UpdateStackSet", template=_STACK_SET, ids=("StackSetName",),
        affected=(Affected("cloudformation:stack-set", f"{RP}.stackSetName"),)),
)

# botocore service name -> the service id its events use (``before-parameter-build.auto-scaling.X``).
SERVICE_IDS: dict[str, str] = {
    "ec2": "ec2", "autoscaling": "auto-scaling", "sagemaker": "sagemaker", "eks": "eks", "batch": "batch",
    "emr": "emr", "ecs": "ecs", "cloudformation": "cloudformation",
}
# CloudTrail eventSource -> EventBridge "source".
EVENT_SOURCES: dict[str, str] = {
    EC2: "aws.ec2", ASG_SOURCE: "aws.autoscaling", SAGEMAKER: "aws.sagemaker", EKS: "aws.eks", BATCH: "aws.batch",
    EMR: "aws.elasticmapreduce", ECS: "aws.ecs", _CFN: "aws.cloudformation",
}
