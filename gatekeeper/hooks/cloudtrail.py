"""CloudTrail records of provisioning calls -> the one request model, as data read by generic code.

CloudTrail does not record what the SDK sent: ``requestParameters`` and ``responseElements`` are the
service's wire shapes, camelCase for most (``instancesSet.items[].instanceType``), PascalCase inside
a ``CreateFleetRequest`` wrapper for EC2's newer query operations, with one-element XML lists turned
into bare objects. So the hook has its own table (``OPERATIONS``), one row per event: where the
instance types and counts are (``Items``), which resources the call created (``Created``). The paths
are those of :mod:`gatekeeper.hooks._paths` (case-insensitive keys, ``[]`` iterates, ``|`` tries
alternatives).

Rules of the translation:
- What the response says was launched wins over what the request asked for (RunInstances' response
  names the type of every instance, also when a launch template chose it); the request is the
  ``fallback`` when the response has none.
- Several types in one place (fleet overrides, node-group ``instanceTypes``) are alternatives for one
  slot: one ``choice`` group, so that a licence draws down the largest only.
- A reference (launch template, launch configuration, instance, group) is followed through the
  read-only :class:`AwsReader`; one that cannot be followed lands in ``unresolved`` and the request is
  decided fail-closed.
- Counts are upper bounds: an Auto Scaling group counts ``max(maxSize, desiredCapacity)``, a Batch
  compute environment ``ceil(maxvCpus / vCPUs of the type)``.

Adding an operation is adding a row (and its name to the deploy template's rule, which the tests
check against ``event_pattern()``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gatekeeper.hooks import _paths as P
from gatekeeper.hooks.remediation import Resource
from gatekeeper.model import ComputeItem


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A launch template reference as CloudTrail records it (any of id or name; version may be empty)."""

    id: str = ""
    name: str = ""
    version: str = ""

    def describe(self) -> str:
        which = self.id or self.name or "?"
        return f"launch template {which} version {self.version or '$Default'}"


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What an existing Auto Scaling group launches: its types (alternatives when several) and sizes."""

    types: tuple[str, ...]
    max_size: int
    desired: int


class AwsReader(Protocol):
    """Read-only look-ups that follow references; each raises on failure (the caller records why)."""

    def template_types(self, ref: TemplateRef, region: str) -> tuple[str, ...]:
        """The instance type of the template version (empty when it names none); raises for requirements."""
        ...

    def launch_configuration_type(self, name: str, region: str) -> str:
        ...

    def instance(self, instance_id: str, region: str) -> Mapping[str, Any]:
        """The instance as DescribeInstances returns it."""
        ...

    def instance_type(self, instance_id: str, region: str) -> str:
        ...

    def group(self, name: str, region: str) -> GroupFacts:
        ...

    def vcpus(self, instance_type: str, region: str) -> int:
        ...


@dataclass(frozen=True, slots=True)
class Items:
    """Where compute items are in an event. ``each`` is absolute (from the CloudTrail ``detail``);
    the other paths are relative to each node, or absolute when they start with ``/``."""

    each: str
    types: str = ""
    counts: tuple[str, ...] = ()
    # Count = how many values this relative path yields (the instance ids of a fleet's response).
    count_of: str = ""
    default_count: int = 1
    count_offset: int = 0
    sum_counts: bool = False
    # Followed when ``types`` yields nothing; "@" is the node itself.
    ref: str = ""
    ref_kind: str = ""  # launch-template | launch-configuration | instance | group
    # Absolute path of the Auto Scaling group whose sizes count when the event names no count.
    group: str = ""
    # vCPU cap (Batch): count = ceil(cap / vCPUs of the type).
    vcpu_cap: str = ""
    # Used when neither ``types`` nor the reference names a type (EKS launches t3.medium).
    default_types: tuple[str, ...] = ()
    # Values that are not instance types (Batch "optimal": current c/m/r families).
    skip_types: frozenset[str] = frozenset()
    # All nodes are alternatives for one slot (Spot Fleet launch specifications).
    one_slot: bool = False


@dataclass(frozen=True, slots=True)
class Created:
    """Where the ids of the resources an event created or changed are (absolute paths)."""

    kind: str
    id: str
    arn: str = ""
    parent: str = ""


@dataclass(frozen=True, slots=True)
class TrailOperation:
    event_source: str
    name: str
    service: str
    items: tuple[Items, ...]
    created: tuple[Created, ...]
    fallback: tuple[Items, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.event_source, self.name)


def _any(*paths: str) -> str:
    """Alternatives: the first path that yields anything wins."""
    return "|".join(paths)


_ASG_COUNTS = ("/requestParameters.maxSize", "/requestParameters.desiredCapacity")
_ASG_NAME = "/requestParameters.autoScalingGroupName"
_FLEET = "requestParameters.CreateFleetRequest"
_FLEET_RESP = "responseElements.CreateFleetResponse"
_SPOT_FLEET = ("requestParameters.RequestSpotFleetRequest.SpotFleetRequestConfig",
               "requestParameters.spotFleetRequestConfig")
_SPOT_FLEET_CAPACITY = tuple("/" + p + ".TargetCapacity" for p in _SPOT_FLEET)


def _asg_ops(name: str) -> TrailOperation:
    return TrailOperation(
        "autoscaling.amazonaws.com", name, "autoscaling",
        items=(
            Items("requestParameters.mixedInstancesPolicy.launchTemplate", types="overrides[].instanceType",
                  counts=_ASG_COUNTS, group=_ASG_NAME, ref="launchTemplateSpecification",
                  ref_kind="launch-template"),
            Items("requestParameters", ref="launchTemplate", ref_kind="launch-template", counts=_ASG_COUNTS,
                  group=_ASG_NAME),
            Items("requestParameters", ref="launchConfigurationName", ref_kind="launch-configuration",
                  counts=_ASG_COUNTS, group=_ASG_NAME),
            Items("requestParameters", ref="instanceId", ref_kind="instance", counts=_ASG_COUNTS, group=_ASG_NAME),
        ),
        # An update that names no template (only sizes): what the group launches now, at the new sizes.
        fallback=(Items("requestParameters", ref="autoScalingGroupName", ref_kind="group", counts=_ASG_COUNTS),),
        created=(Created("autoscaling:group", "requestParameters.autoScalingGroupName"),),
    )


def _sagemaker(name: str, kind: str, each: str, noun: str, *, counts: tuple[str, ...] = ("instanceCount",),
               extra: tuple[Items, ...] = ()) -> TrailOperation:
    return TrailOperation(
        "sagemaker.amazonaws.com", name, "sagemaker",
        items=(Items(each, types="instanceType", counts=counts), *extra),
        created=(Created(kind, f"requestParameters.{noun}Name|responseElements.{noun}Name",
                         arn=f"responseElements.{noun}Arn"),),
    )


OPERATIONS: tuple[TrailOperation, ...] = (
    # ------------------------------------------------------------------------------------ EC2
    TrailOperation(
        "ec2.amazonaws.com", "RunInstances", "ec2",
        items=(Items("responseElements.instancesSet.items[]", types="instanceType"),),
        fallback=(Items("requestParameters", types="instanceType",
                        counts=("instancesSet.items[].maxCount", "instancesSet.items[].minCount"),
                        ref="launchTemplate", ref_kind="launch-template"),),
        created=(Created("ec2:instance", "responseElements.instancesSet.items[].instanceId"),),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "CreateFleet", "ec2",
        items=(Items(_any(f"{_FLEET_RESP}.fleetInstanceSet.item[]", f"{_FLEET_RESP}.fleetInstanceSet[]"),
                     types="instanceType", count_of="instanceIds.item[]|instanceIds[]"),),
        fallback=(Items(_any(f"{_FLEET}.LaunchTemplateConfigs.item[]", f"{_FLEET}.LaunchTemplateConfigs[]"),
                        types="Overrides.item[].InstanceType|Overrides[].InstanceType",
                        counts=("/" + _FLEET + ".TargetCapacitySpecification.TotalTargetCapacity",),
                        ref="LaunchTemplateSpecification", ref_kind="launch-template", one_slot=True),),
        created=(Created("ec2:fleet", _FLEET_RESP + ".fleetId"),
                 Created("ec2:instance", _any(f"{_FLEET_RESP}.fleetInstanceSet.item[].instanceIds.item[]",
                                              f"{_FLEET_RESP}.fleetInstanceSet[].instanceIds[]"))),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "RequestSpotInstances", "ec2",
        items=(Items("requestParameters.launchSpecification", types="instanceType",
                     counts=("/requestParameters.instanceCount",)),),
        created=(Created("ec2:spot-request", "responseElements.spotInstanceRequestSet.items[].spotInstanceRequestId"),),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "RequestSpotFleet", "ec2",
        items=(
            Items(_any(*(f"{p}.LaunchSpecifications.item[]" for p in _SPOT_FLEET),
                       *(f"{p}.LaunchSpecifications[]" for p in _SPOT_FLEET)),
                types="InstanceType", counts=_SPOT_FLEET_CAPACITY, one_slot=True),
            Items(_any(*(f"{p}.LaunchTemplateConfigs.item[]" for p in _SPOT_FLEET),
                       *(f"{p}.LaunchTemplateConfigs[]" for p in _SPOT_FLEET)),
                types="Overrides.item[].InstanceType|Overrides[].InstanceType", counts=_SPOT_FLEET_CAPACITY,
                ref="LaunchTemplateSpecification", ref_kind="launch-template", one_slot=True),
        ),
        created=(Created("ec2:spot-fleet-request",
                         "responseElements.RequestSpotFleetResponse.spotFleetRequestId|"
                         "responseElements.spotFleetRequestId"),),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "ModifyInstanceAttribute", "ec2",
        items=(Items("requestParameters", types="instanceType.value|instanceType"),),
        created=(Created("ec2:instance", "requestParameters.instanceId"),),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "CreateLaunchTemplate", "ec2",
        items=(Items("requestParameters.CreateLaunchTemplateRequest.LaunchTemplateData", types="InstanceType"),),
        created=(Created("ec2:launch-template",
                         "responseElements.CreateLaunchTemplateResponse.launchTemplate.launchTemplateId"),),
    ),
    TrailOperation(
        "ec2.amazonaws.com", "CreateLaunchTemplateVersion", "ec2",
        items=(Items("requestParameters.CreateLaunchTemplateVersionRequest.LaunchTemplateData",
                     types="InstanceType"),),
        # A version made from a source version names no type itself: read the version it became.
        fallback=(Items("responseElements.CreateLaunchTemplateVersionResponse.launchTemplateVersion",
                        ref="@", ref_kind="launch-template"),),
        created=(Created("ec2:launch-template-version",
                         "responseElements.CreateLaunchTemplateVersionResponse.launchTemplateVersion.versionNumber",
                         parent="responseElements.CreateLaunchTemplateVersionResponse.launchTemplateVersion"
                                ".launchTemplateId"),),
    ),
    # ---------------------------------------------------------------------------- Auto Scaling
    _asg_ops("CreateAutoScalingGroup"),
    _asg_ops("UpdateAutoScalingGroup"),
    # ------------------------------------------------------------------------------- SageMaker
    _sagemaker("CreateTrainingJob", "sagemaker:training-job", "requestParameters.resourceConfig", "trainingJob",
               extra=(Items("requestParameters.resourceConfig.instanceGroups[]", types="instanceType",
                            counts=("instanceCount",)),)),
    _sagemaker("CreateProcessingJob", "sagemaker:processing-job",
               "requestParameters.processingResources.clusterConfig", "processingJob"),
    _sagemaker("CreateTransformJob", "sagemaker:transform-job", "requestParameters.transformResources",
               "transformJob"),
    _sagemaker("CreateNotebookInstance", "sagemaker:notebook-instance", "requestParameters", "notebookInstance",
               counts=()),
    _sagemaker("CreateEndpointConfig", "sagemaker:endpoint-config", "requestParameters.productionVariants[]",
               "endpointConfig", counts=("initialInstanceCount", "managedInstanceScaling.maxInstanceCount")),
    # ------------------------------------------------------------------------------------- EKS
    TrailOperation(
        "eks.amazonaws.com", "CreateNodegroup", "eks",
        items=(Items("requestParameters", types="instanceTypes", counts=("scalingConfig.maxSize",
                                                                         "scalingConfig.desiredSize"),
                     default_count=2, ref="launchTemplate", ref_kind="launch-template",
                     default_types=("t3.medium",)),),
        created=(Created("eks:nodegroup", "responseElements.nodegroup.nodegroupName|requestParameters.nodegroupName",
                         arn="responseElements.nodegroup.nodegroupArn",
                         parent="responseElements.nodegroup.clusterName|requestParameters.clusterName|"
                                "requestParameters.name"),),
    ),
    # ----------------------------------------------------------------------------------- Batch
    TrailOperation(
        "batch.amazonaws.com", "CreateComputeEnvironment", "batch",
        items=(Items("requestParameters.computeResources", types="instanceTypes", vcpu_cap="maxvCpus",
                     skip_types=frozenset({"optimal", "default_x86_64", "default_arm64"})),),
        created=(Created("batch:compute-environment",
                         "responseElements.computeEnvironmentName|requestParameters.computeEnvironmentName",
                         arn="responseElements.computeEnvironmentArn"),),
    ),
    # ------------------------------------------------------------------------------------- EMR
    TrailOperation(
        "elasticmapreduce.amazonaws.com", "RunJobFlow", "emr",
        items=(
            Items("requestParameters.instances", types="masterInstanceType"),
            Items("requestParameters.instances", types="slaveInstanceType", counts=("instanceCount",),
                  count_offset=-1),
            Items("requestParameters.instances.instanceGroups[]", types="instanceType", counts=("instanceCount",)),
            Items("requestParameters.instances.instanceFleets[]", types="instanceTypeConfigs[].instanceType",
                  counts=("targetOnDemandCapacity", "targetSpotCapacity"), sum_counts=True),
        ),
        created=(Created("emr:cluster", "responseElements.jobFlowId", arn="responseElements.clusterArn"),),
    ),
)

BY_KEY: Mapping[tuple[str, str], TrailOperation] = {op.key: op for op in OPERATIONS}

SOURCES: Mapping[str, str] = {  # eventSource -> EventBridge "source"
    "ec2.amazonaws.com": "aws.ec2",
    "autoscaling.amazonaws.com": "aws.autoscaling",
    "sagemaker.amazonaws.com": "aws.sagemaker",
    "eks.amazonaws.com": "aws.eks",
    "batch.amazonaws.com": "aws.batch",
    "elasticmapreduce.amazonaws.com": "aws.elasticmapreduce",
}


def event_pattern() -> dict[str, Any]:
    """The EventBridge pattern of the covered API calls (what deploy/aws/template.yaml must match)."""
    return {
        "source": sorted({SOURCES[op.event_source] for op in OPERATIONS}),
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": sorted({op.event_source for op in OPERATIONS}),
            "eventName": sorted({op.name for op in OPERATIONS}),
            # A failed call provisioned nothing.
            "errorCode": [{"exists": False}],
        },
    }


@dataclass(frozen=True, slots=True)
class Translation:
    operation: TrailOperation
    items: tuple[ComputeItem, ...]
    unresolved: tuple[str, ...]
    resources: tuple[Resource, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def provisions(self) -> bool:
        """False when the call changes no compute (another attribute, a scale-down to zero)."""
        return bool(self.unresolved) or any(i.count > 0 for i in self.items)


def _path(node: Any, detail: Mapping[str, Any], path: str) -> Any:
    return (detail, path[1:]) if path.startswith("/") else (node, path)


def _ints(node: Any, detail: Mapping[str, Any], paths: tuple[str, ...]) -> list[int]:
    out = []
    for p in paths:
        base, rel = _path(node, detail, p)
        for v in P.values(base, rel):
            n = P.integer({"v": v}, "v")
            if n is not None:
                out.append(n)
    return out


def _template_ref(node: Any) -> TemplateRef | None:
    if not isinstance(node, Mapping):
        return None
    ref = TemplateRef(id=P.text(node, "launchTemplateId|id"), name=P.text(node, "launchTemplateName|name"),
                      version=P.text(node, "version|versionNumber"))
    return ref if (ref.id or ref.name) else None


class _Translator:
    def __init__(self, detail: Mapping[str, Any], region: str, reader: AwsReader) -> None:
        self.detail, self.region, self.reader = detail, region, reader
        self.unresolved: list[str] = []
        self.notes: list[str] = []

    def _follow(self, spec: Items, node: Any) -> tuple[tuple[str, ...], GroupFacts | None, bool]:
        """The types a reference names, the group's facts (for a group) and whether reading failed."""
        target = node if spec.ref == "@" else P.first(node, spec.ref)
        if target is None or target == {}:
            return (), None, False
        try:
            if spec.ref_kind == "launch-template":
                ref = _template_ref(target)
                if ref is None:
                    self.unresolved.append(f"{spec.ref}: a launch template reference without id or name")
                    return (), None, True
                return self.reader.template_types(ref, self.region), None, False
            name = P.text({"v": target}, "v")
            if not name:
                return (), None, False
            if spec.ref_kind == "launch-configuration":
                return (self.reader.launch_configuration_type(name, self.region),), None, False
            if spec.ref_kind == "instance":
                return (self.reader.instance_type(name, self.region),), None, False
            if spec.ref_kind == "group":
                facts = self.reader.group(name, self.region)
                return facts.types, facts, False
        except Exception as exc:  # any failure to read is recorded, and decided fail-closed
            self.unresolved.append(f"{spec.ref_kind} {_describe_target(target)}: {_short(exc)}")
            return (), None, True
        raise ValueError(f"unknown reference kind {spec.ref_kind!r}")

    def _count(self, spec: Items, node: Any, itype: str, group: GroupFacts | None) -> int:
        if spec.count_of:
            return len(P.values(node, spec.count_of))
        if spec.vcpu_cap:
            caps = _ints(node, self.detail, (spec.vcpu_cap,))
            if caps:
                try:
                    per = self.reader.vcpus(itype, self.region)
                    return math.ceil(caps[0] / per) if per > 0 else caps[0]
                except Exception as exc:
                    # An upper bound: every instance has at least one vCPU.
                    self.notes.append(f"vCPUs of {itype} unknown ({_short(exc)}); counted {caps[0]} instances")
                    return caps[0]
        found = _ints(node, self.detail, spec.counts)
        if found:
            n = sum(found) if spec.sum_counts else max(found)
        elif group is not None:
            n = max(group.max_size, group.desired)
        elif spec.group:
            name = P.text(self.detail, spec.group[1:])
            try:
                g = self.reader.group(name, self.region)
                n = max(g.max_size, g.desired)
            except Exception as exc:
                self.unresolved.append(f"group {name or '?'} sizes: {_short(exc)}")
                n = spec.default_count
        else:
            n = spec.default_count
        return max(0, n + spec.count_offset)

    def items(self, specs: tuple[Items, ...]) -> list[ComputeItem]:
        out: list[ComputeItem] = []
        for spec in specs:
            merged: dict[str, int] = {}
            for index, node in enumerate(P.values(self.detail, spec.each)):
                types = [t for t in P.strings(node, spec.types) if t.lower() not in spec.skip_types] \
                    if spec.types else []
                group: GroupFacts | None = None
                failed = False
                if not types and spec.ref:
                    followed, group, failed = self._follow(spec, node)
                    types = list(followed)
                # The default type applies when nothing names one, not when a reference could not be read.
                if not types and spec.default_types and not failed:
                    types = list(spec.default_types)
                if not types:
                    continue
                counts = {t: self._count(spec, node, t, group) for t in dict.fromkeys(types)}
                path = spec.each.split("|")[0]
                if len(counts) > 1 or spec.one_slot:
                    choice = path if spec.one_slot else f"{path}#{index}"
                    out.extend(ComputeItem(t, n, choice=choice, path=f"{path}[{index}]") for t, n in counts.items())
                else:
                    # One type per node (an instance of a response): merge equal types into one item.
                    for t, n in counts.items():
                        merged[t] = merged.get(t, 0) + n
            path = spec.each.split("|")[0]
            out.extend(ComputeItem(t, n, path=path) for t, n in merged.items())
        return out

    def resources(self, created: tuple[Created, ...]) -> list[Resource]:
        out: list[Resource] = []
        for c in created:
            arn = P.text(self.detail, c.arn) if c.arn else ""
            parent = P.text(self.detail, c.parent) if c.parent else ""
            ids = [P.text({"v": v}, "v") for v in P.values(self.detail, c.id)]
            ids = [i for i in ids if i]
            if not ids and arn:
                ids = [arn.rsplit("/", 1)[-1]]
            out.extend(Resource(c.kind, i, self.region, arn, parent) for i in dict.fromkeys(ids))
        return out


def _describe_target(target: Any) -> str:
    ref = _template_ref(target)
    if ref is not None:
        return ref.describe().removeprefix("launch template ")
    return P.text({"v": target}, "v") or "?"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def translate(operation: TrailOperation, detail: Mapping[str, Any], region: str, reader: AwsReader) -> Translation:
    """The compute items and resources of one CloudTrail record of ``operation``."""
    t = _Translator(detail, region, reader)
    items = t.items(operation.items)
    if not items and not t.unresolved and operation.fallback:
        items = t.items(operation.fallback)
    return Translation(operation, tuple(items), tuple(dict.fromkeys(t.unresolved)),
                       tuple(t.resources(operation.created)), tuple(t.notes))
