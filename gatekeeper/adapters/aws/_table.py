"""Which AWS calls provision compute, and where in their parameters the compute is named: data.

Like botocore's ``service-2.json``, this is read by generic code (``_translate``); adding an operation
is adding a row. Parameter names are botocore's (checked against the service models in
``tests/adapters/aws/test_table.py``). Paths: ``.`` between members, ``[]`` iterates a list, ``$.``
reads from the request's root (see ``_paths``).

The vocabulary:

``Operation``   one API call: its ``Slot``\\ s, and the existing resource it changes (``base``).
``Slot``        one thing that will run, with its count. Each element at ``at`` is one slot; the
                alternatives its ``Source``\\ s name are alternatives for that one slot (fleet overrides,
                mixed-instance types, InstanceRequirements matches), each decided with the slot's
                full count (the worst case), grouped by one ``choice`` key.
``Source``      where a slot names what it runs: an instance type (or a list of them), an
                InstanceRequirements structure, launch template data, or a reference (launch
                template, launch configuration, instance) that the resolver follows. ``inner`` lists
                nested alternatives (a fleet config's ``Overrides[]``) that fall back on the outer
                element's launch template.
``Resource``    an existing resource (an Auto Scaling group, a node group, a fleet, a launch template
                version) whose description is read and over which the request's parameters apply,
                for calls that change it (``Update*``, ``Modify*``, ``StartInstanceRefresh``).

Counts are worst cases: the largest value among ``count`` paths (``A+B`` sums two), times the largest
``multiplier``, converted from capacity units to instances per alternative (``weight``; ``vcpu`` and
``memory-mib`` units, see ``_requirements.instances_for``). docs/aws.md lists what each operation reads.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# Building blocks


@dataclass(frozen=True, slots=True)
class Attached:
    """Accelerators attached apart from the instance type (Elastic Inference, Elastic GPUs)."""

    at: str  # path of the accelerator entries ("" = the element itself)
    type: str = ""  # relative path of the accelerator type ("" = the entry is the type string)
    count: str = ""  # relative path of the number per instance (default 1)


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A launch template reference: a structure with an id or a name and a version.

    Member names are matched case-insensitively, and each field lists the spellings the services
    use (EC2 ``LaunchTemplateId``, Batch ``launchTemplateId``, EKS ``id``).
    """

    at: str = ""
    id: tuple[str, ...] = ("LaunchTemplateId", "id")
    name: tuple[str, ...] = ("LaunchTemplateName", "name")
    version: tuple[str, ...] = ("Version",)


@dataclass(frozen=True, slots=True)
class Source:
    at: str = ""  # elements, relative to the slot's scope ("" = the scope itself)
    type: tuple[str, ...] = ()  # instance type(s): a string or a list of strings
    requirements: str = ""  # an EC2-style InstanceRequirements structure
    data: str = ""  # a LaunchTemplateData-like structure
    template: TemplateRef | None = None
    launch_configuration: str = ""
    instance: str = ""  # an instance id whose type is copied (create from instance)
    weight: str = ""  # capacity units one instance of this alternative counts for
    count: tuple[str, ...] = ()  # the alternative's own count (SageMaker InstancePreferences)
    attached: tuple[Attached, ...] = ()
    inner: Source | None = None
    # Only elements where the member at this path equals the value (case-insensitively; "" = present).
    when: tuple[str, str] | None = None
    # Values may be bare families (``p4d``) or AWS Batch keywords (``optimal``).
    families: bool = False
    # Resolve references even when a type is named directly, and decide both (EKS: a node group's
    # instanceTypes and its launch template's type are alternatives AWS never lets coexist, so a
    # caller naming both is decided on both).
    union_refs: bool = False


@dataclass(frozen=True, slots=True)
class Slot:
    sources: tuple[Source, ...]
    at: str = ""  # each element here is one slot
    count: tuple[str, ...] = ()  # the largest of these ("A+B" sums); none given: 1
    multiplier: tuple[str, ...] = ()  # the largest of these multiplies the count (parallel jobs)
    unit: str = ""  # path of the capacity unit type ("units", "vcpu", "memory-mib")
    default_unit: str = "units"
    overshoot: int = 0  # instances a service may launch beyond the capacity (AWS Batch: one)


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # a resolver kind (see _resolver.FETCHES)
    keys: tuple[tuple[str, str], ...]  # (resolver argument, parameter path)
    slots: tuple[Slot, ...]  # how to read the description (the Create call's slots)
    # The part of the parameters applied over the description ("" = all of them); None: the resource
    # is only put to use, not changed, and is read as it is (ECS capacity provider -> group).
    overlay: str | None = ""
    exclusive: tuple[str, ...] = ()  # description members the parameters replace as a set
    when: tuple[str, ...] = ()  # read only when one of these parameters is present (empty: always)


@dataclass(frozen=True, slots=True)
class Operation:
    service: str  # botocore service name (the client's service_model.service_name)
    name: str  # operation name (RunInstances)
    slots: tuple[Slot, ...] = ()
    # The resource the call changes; its slots also read the request (applied to ``overlay``). The
    # description is read when the request names no compute, or names accelerated compute but no
    # count (see _translate).
    base: Resource | None = None
    extra: tuple[Resource, ...] = ()  # resources the call puts to use, decided with it
    ids: tuple[str, ...] = ()  # parameters naming the resource (recorded as resource_ids)


# --------------------------------------------------------------------------------------------------
# Shared shapes

EIA = Attached("ElasticInferenceAccelerators[]", "Type", "Count")
EGPU_RUN = Attached("ElasticGpuSpecification[]", "Type")  # RunInstances spells it in the singular
EGPU_DATA = Attached("ElasticGpuSpecifications[]", "Type")

# LaunchTemplateData (CreateLaunchTemplate, DescribeLaunchTemplateVersions).
TEMPLATE_DATA = Source(type=("InstanceType",), requirements="InstanceRequirements", attached=(EIA, EGPU_DATA))
TEMPLATE_SLOTS = (Slot(sources=(TEMPLATE_DATA,)),)

_OVERRIDE = Source(at="Overrides[]", type=("InstanceType",), requirements="InstanceRequirements",
                   weight="WeightedCapacity")

# EC2 Fleet (CreateFleet, ModifyFleet, DescribeFleets).
EC2_FLEET = Slot(
    sources=(Source(at="LaunchTemplateConfigs[]", template=TemplateRef("LaunchTemplateSpecification"),
                    inner=_OVERRIDE),),
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
            Source(at="LaunchTemplateConfigs[]", template=TemplateRef("LaunchTemplateSpecification"),
                   inner=_OVERRIDE),
        ),
        count=("TargetCapacity", "OnDemandTargetCapacity"),
        unit="TargetCapacityUnitType",
    )


# An Auto Scaling group (CreateAutoScalingGroup, UpdateAutoScalingGroup, DescribeAutoScalingGroups).
ASG_CONFIG = ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy")
_ASG_SOURCES = (
    Source(launch_configuration="LaunchConfigurationName"),
    Source(template=TemplateRef("LaunchTemplate")),
    Source(at="MixedInstancesPolicy.LaunchTemplate", template=TemplateRef("LaunchTemplateSpecification"),
           inner=Source(at="Overrides[]", type=("InstanceType",), requirements="InstanceRequirements",
                        weight="WeightedCapacity", template=TemplateRef("LaunchTemplateSpecification"))),
)
ASG = Slot(sources=_ASG_SOURCES, count=("MaxSize", "DesiredCapacity"), unit="DesiredCapacityType")
# CreateAutoScalingGroup may also copy its configuration from a running instance.
ASG_CREATE = Slot(sources=(*_ASG_SOURCES, Source(instance="InstanceId")), count=ASG.count, unit=ASG.unit)

# An EKS managed node group (CreateNodegroup, DescribeNodegroup).
NODEGROUP = Slot(
    sources=(Source(type=("instanceTypes",), template=TemplateRef("launchTemplate"), union_refs=True),),
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


# --------------------------------------------------------------------------------------------------
# The table

OPERATIONS: tuple[Operation, ...] = (
    # ---------------------------------------------------------------------------------------- EC2
    Operation("ec2", "RunInstances",
              (Slot(sources=(Source(type=("InstanceType",), template=TemplateRef("LaunchTemplate"),
                                    attached=(EIA, EGPU_RUN)),),
                    count=("MaxCount", "MinCount")),)),
    Operation("ec2", "CreateFleet", (EC2_FLEET,)),
    Operation("ec2", "ModifyFleet",
              base=Resource("ec2_fleet", (("id", "FleetId"),), (EC2_FLEET,),
                            when=("LaunchTemplateConfigs", "TargetCapacitySpecification")),
              ids=("FleetId",)),
    Operation("ec2", "RequestSpotInstances",
              (Slot(sources=(Source(type=("LaunchSpecification.InstanceType",)),), count=("InstanceCount",)),)),
    Operation("ec2", "RequestSpotFleet", (_spot_fleet("SpotFleetRequestConfig"),)),
    Operation("ec2", "ModifySpotFleetRequest",
              base=Resource("spot_fleet", (("id", "SpotFleetRequestId"),), (_spot_fleet(""),),
                            exclusive=("LaunchSpecifications", "LaunchTemplateConfigs"),
                            when=("LaunchTemplateConfigs", "TargetCapacity", "OnDemandTargetCapacity")),
              ids=("SpotFleetRequestId",)),
    Operation("ec2", "CreateLaunchTemplate", (Slot(at="LaunchTemplateData", sources=(TEMPLATE_DATA,)),),
              ids=("LaunchTemplateName",)),
    # A new version is its SourceVersion with LaunchTemplateData applied over it.
    Operation("ec2", "CreateLaunchTemplateVersion",
              base=Resource("launch_template", (("id", "LaunchTemplateId"), ("name", "LaunchTemplateName"),
                                                ("version", "SourceVersion")),
                            TEMPLATE_SLOTS, overlay="LaunchTemplateData", when=("SourceVersion",)),
              ids=("LaunchTemplateId", "LaunchTemplateName")),
    # Switching the default version changes what every "$Default" user (groups, fleets) launches.
    Operation("ec2", "ModifyLaunchTemplate",
              (Slot(sources=(Source(template=TemplateRef("", version=("DefaultVersion",)),
                                    when=("DefaultVersion", "")),)),),
              ids=("LaunchTemplateId", "LaunchTemplateName")),
    Operation("ec2", "ModifyInstanceAttribute",
              (Slot(sources=(Source(type=("InstanceType.Value",)),
                             Source(type=("Value",), when=("Attribute", "instanceType")))),),
              ids=("InstanceId",)),
    Operation("ec2", "CreateCapacityReservation",
              (Slot(sources=(Source(type=("InstanceType",)),), count=("InstanceCount",)),)),
    Operation("ec2", "CreateCapacityReservationFleet",
              (Slot(sources=(Source(at="InstanceTypeSpecifications[]", type=("InstanceType",), weight="Weight"),
                             Source(requirements="InstanceRequirements")),
                    count=("TotalTargetCapacity",)),)),
    # ------------------------------------------------------------------------------- Auto Scaling
    Operation("autoscaling", "CreateAutoScalingGroup", (ASG_CREATE,), ids=("AutoScalingGroupName",)),
    Operation("autoscaling", "UpdateAutoScalingGroup",
              base=Resource("asg", (("name", "AutoScalingGroupName"),), (ASG,), exclusive=ASG_CONFIG,
                            when=(*ASG_CONFIG, "MaxSize", "DesiredCapacity", "DesiredCapacityType")),
              ids=("AutoScalingGroupName",)),
    Operation("autoscaling", "CreateLaunchConfiguration",
              (Slot(sources=(Source(type=("InstanceType",), instance="InstanceId"),)),),
              ids=("LaunchConfigurationName",)),
    # A refresh replaces every instance, with the DesiredConfiguration if given, else the group's own.
    Operation("autoscaling", "StartInstanceRefresh",
              base=Resource("asg", (("name", "AutoScalingGroupName"),), (ASG,), overlay="DesiredConfiguration",
                            exclusive=ASG_CONFIG),
              ids=("AutoScalingGroupName",)),
    # ---------------------------------------------------------------------------------- SageMaker
    Operation("sagemaker", "CreateTrainingJob", _sagemaker_resources("ResourceConfig"), ids=("TrainingJobName",)),
    Operation("sagemaker", "CreateHyperParameterTuningJob",
              (*_tuning_definition("TrainingJobDefinition"), *_tuning_definition("TrainingJobDefinitions[]")),
              ids=("HyperParameterTuningJobName",)),
    Operation("sagemaker", "CreateEndpointConfig",
              (_variants("ProductionVariants[]"), _variants("ShadowProductionVariants[]")),
              ids=("EndpointConfigName",)),
    Operation("sagemaker", "CreateNotebookInstance", (_NOTEBOOK,), ids=("NotebookInstanceName",)),
    Operation("sagemaker", "UpdateNotebookInstance", (_NOTEBOOK,), ids=("NotebookInstanceName",)),
    Operation("sagemaker", "CreateProcessingJob",
              _sagemaker_resources("ProcessingResources.ClusterConfig", groups=False),
              ids=("ProcessingJobName",)),
    Operation("sagemaker", "CreateTransformJob",
              (Slot(at="TransformResources", sources=(Source(type=("InstanceType",)),), count=("InstanceCount",)),),
              ids=("TransformJobName",)),
    Operation("sagemaker", "CreateCluster", _HYPERPOD, ids=("ClusterName",)),
    Operation("sagemaker", "UpdateCluster", _HYPERPOD, ids=("ClusterName",)),
    # Studio apps run on ml.* instances too (a sibling path to the same hardware).
    Operation("sagemaker", "CreateApp", (Slot(at="ResourceSpec", sources=(Source(type=("InstanceType",)),)),),
              ids=("DomainId", "AppName")),
    # ---------------------------------------------------------------------------------------- EKS
    Operation("eks", "CreateNodegroup", (NODEGROUP,), ids=("clusterName", "nodegroupName")),
    Operation("eks", "UpdateNodegroupVersion",
              base=Resource("nodegroup", (("cluster", "clusterName"), ("name", "nodegroupName")), (NODEGROUP,)),
              ids=("clusterName", "nodegroupName")),
    Operation("eks", "UpdateNodegroupConfig",
              base=Resource("nodegroup", (("cluster", "clusterName"), ("name", "nodegroupName")), (NODEGROUP,),
                            when=("scalingConfig",)),
              ids=("clusterName", "nodegroupName")),
    # -------------------------------------------------------------------------------------- Batch
    Operation("batch", "CreateComputeEnvironment", (BATCH_CE,), ids=("computeEnvironmentName",)),
    Operation("batch", "UpdateComputeEnvironment",
              base=Resource("compute_environment", (("name", "computeEnvironment"),), (BATCH_CE,),
                            when=("computeResources",)),
              ids=("computeEnvironment",)),
    # ---------------------------------------------------------------------------------------- EMR
    Operation("emr", "RunJobFlow",
              (Slot(at="Instances", sources=(Source(type=("MasterInstanceType",)),)),
               Slot(at="Instances", sources=(Source(type=("SlaveInstanceType",)),),
                    count=("InstanceCount", _EMR_MANAGED_MAX)),
               _emr_groups("Instances.InstanceGroups[]", (_EMR_MANAGED_MAX,)),
               _emr_fleet("Instances.InstanceFleets[]", (_EMR_MANAGED_MAX,))),
              ids=("Name",)),
    Operation("emr", "AddInstanceGroups", (_emr_groups("InstanceGroups[]", ()),), ids=("JobFlowId",)),
    Operation("emr", "AddInstanceFleet", (_emr_fleet("InstanceFleet", ()),), ids=("ClusterId",)),
    Operation("emr", "ModifyInstanceFleet", (_emr_fleet("InstanceFleet", ()),), ids=("ClusterId",)),
    # ---------------------------------------------------------------------------------------- ECS
    Operation("ecs", "CreateCapacityProvider",
              (Slot(at="managedInstancesProvider.instanceLaunchTemplate",
                    sources=(Source(requirements="instanceRequirements"),)),),
              extra=(Resource("asg", (("name", "autoScalingGroupProvider.autoScalingGroupArn"),), (ASG,),
                              overlay=None, when=("autoScalingGroupProvider.autoScalingGroupArn",)),),
              ids=("name",)),
    Operation("ecs", "UpdateCapacityProvider",
              (Slot(at="managedInstancesProvider.instanceLaunchTemplate",
                    sources=(Source(requirements="instanceRequirements"),)),),
              ids=("name",)),
)

BY_NAME: dict[tuple[str, str], Operation] = {(op.service, op.name): op for op in OPERATIONS}

# botocore service name -> the service id its events use (``before-parameter-build.auto-scaling.X``).
SERVICE_IDS: dict[str, str] = {
    "ec2": "ec2", "autoscaling": "auto-scaling", "sagemaker": "sagemaker", "eks": "eks", "batch": "batch",
    "emr": "emr", "ecs": "ecs",
}

# --------------------------------------------------------------------------------------------------
# Vocabulary of InstanceRequirements and AWS Batch, as the catalog's chips map onto it

# Chip vendor (chips.yaml) -> EC2 AcceleratorManufacturers value. Gaudi is sold by Intel, reported
# by EC2 as "habana". A vendor missing here is admitted by every manufacturer filter.
MANUFACTURERS: dict[str, str] = {
    "NVIDIA": "nvidia", "AMD": "amd", "AWS": "amazon-web-services", "Intel": "habana", "Xilinx": "xilinx",
}
# Chip vendor -> the EC2 AcceleratorTypes values it may be reported under. Where EC2's reporting is
# not certain (Trainium, Qualcomm) both plausible kinds are listed: a filter must not exclude a chip
# AWS would launch. A vendor missing here is admitted by every kind filter.
KINDS: dict[str, frozenset[str]] = {
    "NVIDIA": frozenset({"gpu"}), "AMD": frozenset({"gpu"}), "Intel": frozenset({"gpu", "inference"}),
    "AWS": frozenset({"inference", "gpu"}), "Qualcomm": frozenset({"inference", "gpu"}),
}
# AWS Batch instance-type keywords. "optimal" picks "instance types that match the demand of your job
# queues" from families AWS chooses and changes server-side (documented today as c4/m4/r4/c5/m5/r5,
# moving to the default_x86_64 families): gatekeeper cannot see what it will launch, so it is decided
# as every accelerated type the catalog knows (the most restrictive it could admit). The default_*
# bundles are documented as fixed CPU families by architecture and are decided as those.
BATCH_ANY_ACCELERATED = "optimal"
BATCH_KEYWORDS: dict[str, tuple[str, ...]] = {
    "default_x86_64": ("m6i", "c6i", "r6i", "c7i"),
    "default_arm64": ("m6g", "c6g", "r6g", "c7g"),
}
