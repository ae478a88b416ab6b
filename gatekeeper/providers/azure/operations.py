"""The Azure provider spec: every ARM call that can provision accelerated compute, as data.

Each :class:`AzureOperation` is one ARM resource type: a URL template (matched case-insensitively,
as ARM matches paths), the HTTP methods that change compute (each with the ARM operation id recorded
in the request), the :class:`Shape` of the resource body (where its size, count and location are),
the Event Grid ``operationName`` its writes raise, the hook's remediation kind, the API version the
hook reads it with, and the SDK calls that send it (for the docs and the parity test). The same rows
are read by the SDK adapter (``gatekeeper.azure``: the request body, merged onto the current
resource for a PATCH) and by the Event Grid hook (the resource as it is after the write), through
the one reader ``gatekeeper.providers.azure._read``; ``SPEC`` is the same rows in the cloud-neutral
vocabulary of :mod:`gatekeeper.providers._spec` (generated docs, parity tests).

``DEPLOYMENTS`` are the calls that carry a whole ARM template (deployments, their ``validate`` and
``whatIf`` actions at every scope, deployment stacks): decided on every compute resource of the
template (:mod:`gatekeeper.providers.azure.templates`). ``BATCH`` is ARM's ``/batch`` endpoint,
whose inner requests are each recognised as one of the rows.

ARM property names are case-insensitive too, so :func:`get_path` looks keys up case-insensitively
and reports an ambiguity (two spellings of one key with different values) instead of picking one.
Adding an operation is adding a row here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gatekeeper.providers._spec import Affected, Audit, Operation, ProviderSpec, Slot, Source

_RG = "/subscriptions/{subscription}/resourceGroups/{group}/providers"


@dataclass(frozen=True, slots=True)
class Shape:
    """Where one resource body keeps its size(s), count and location."""

    # Paths of the size; the first present wins (a scale-set VM has ``sku.name`` or a hardware profile).
    size: tuple[str, ...]
    # Paths of counts; the largest present is the count (AKS ``count`` and autoscaler ``maxCount``).
    # ``A+B`` sums the parts present (Batch dedicated + low-priority nodes). Empty: exactly one machine.
    counts: tuple[str, ...] = ()
    # The count when the body and the current resource name none (AKS documents 1); None: unknown.
    default_count: int | None = None
    # A list of ``{"name": size}`` alternatives (VMSS instance mix ``properties.skuProfile.vmSizes``).
    alternatives: str = ""
    # Size values that only mean "see the alternatives" (VMSS ``sku.name = "Mix"``).
    placeholders: frozenset[str] = frozenset()
    location: str = "location"
    # (path, why): when present on an accelerated resource, the count cannot be known statically
    # (a Batch pool's autoscale formula); decided fail-closed with the reason.
    opaque: tuple[tuple[str, str], ...] = ()
    # Only bodies where the member at this path equals one of these values (case-insensitively) carry
    # compute (an Azure ML compute of type AmlCompute or ComputeInstance, not an attached cluster).
    when: tuple[str, frozenset[str]] | None = None
    # Size values are dedicated-host SKUs (``NDamsrA100v4-Type1``): the host family's VM sizes decide.
    hosts: bool = False

    def provisioning_paths(self) -> tuple[str, ...]:
        """Paths whose presence makes a PATCH a provisioning change (anything else, e.g. tags, is not)."""
        counts = tuple(part for c in self.counts for part in c.split("+"))
        return self.size + counts + ((self.alternatives,) if self.alternatives else ())

    def slot(self, at: str = "") -> Slot:
        """This shape in the cloud-neutral vocabulary."""
        sources = [Source(type=self.size)] if self.size else []
        if self.alternatives:
            sources.append(Source(at=f"{self.alternatives}[]", type=("name",)))
        when = None if self.when is None else (self.when[0], "|".join(sorted(self.when[1])))
        if when is not None:
            sources = [Source(at=s.at, type=s.type, when=when) for s in sources]
        return Slot(sources=tuple(sources), at=at, count=self.counts)


@dataclass(frozen=True, slots=True)
class AzureOperation:
    """One ARM resource type whose PUT/PATCH provisions compute."""

    resource: str
    service: str
    template: str
    # HTTP method -> the ARM operation id recorded in the request (``VirtualMachines_CreateOrUpdate``).
    methods: Mapping[str, str]
    shape: Shape
    # Path of a list of bodies of ``shape`` (pools); "" when the resource itself has the shape.
    pools: str = ""
    # Where the location lives when the body has none: "self" (GET the resource) or "parent" (GET the
    # resource two path segments up: an AKS agent pool's managed cluster).
    location_from: str = "self"
    # Where a PATCH body's ``properties`` applies in the resource, when the update model nests it
    # differently from the resource (Azure ML ``ClusterUpdateParameters``: ``properties.properties``).
    patch_properties: str = ""
    # The hook's remediation kind (hooks/remediation.KINDS); "" when the hook remediates its pools.
    kind: str = ""
    # The API version the hook reads the resource with (any version that has the shape's members).
    api_version: str = ""
    # The SDK calls that send it: "package: client.operations.method".
    sdk: tuple[str, ...] = ()
    note: str = ""
    # POST actions that set the resource running again (``start``): decided on what the resource is,
    # read through the pipeline, so a stopped accelerated VM (stopped by the hook, perhaps) does not
    # restart undecided. Action -> (ARM operation id, SDK call).
    actions: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    action_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", compile_template(self.template))
        object.__setattr__(self, "action_pattern", compile_template(self.template + "/{action}"))

    def operation_id(self, method: str, action: str = "") -> str:
        """The ARM operation id of a call of this row (``VirtualMachines_Start`` for a start)."""
        if method == "POST":
            return self.actions[action.lower()][0]
        return self.methods[method]

    def action_name(self, action: str) -> str:
        """The activity-log / Event Grid ``operationName`` of an action."""
        return f"{self.type}/{action}/action"

    @property
    def type(self) -> str:
        """The ARM resource type (``Microsoft.Compute/virtualMachines``), as templates name it."""
        return f"{self.service}/{self.resource}"

    @property
    def write(self) -> str:
        """The Event Grid / activity-log ``operationName`` of a write."""
        return f"{self.type}/write"

    @property
    def spec(self) -> Operation:
        affected = (Affected(self.kind, "resourceUri"),) if self.kind else ()
        return Operation(
            self.service, self.write, (self.shape.slot(self.pools),), ids=("id",),
            audit=Audit("Microsoft.Resources.ResourceWriteSuccess", self.write, affected=affected),
            region=(self.shape.location,), note=self.note)

    @property
    def action_specs(self) -> tuple[Operation, ...]:
        affected = (Affected(self.kind, "resourceUri"),) if self.kind else ()
        return tuple(Operation(self.service, self.action_name(a), (self.shape.slot(self.pools),),
                               audit=Audit("Microsoft.Resources.ResourceActionSuccess", self.action_name(a),
                                           affected=affected),
                               note="the resource as it is, read: a restart of stopped compute")
                     for a in self.actions)


def compile_template(template: str) -> re.Pattern[str]:
    # ARM paths are case-insensitive; names are URL path segments (percent-encoded if at all).
    parts = re.split(r"(\{[a-z_]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


VM_SIZE = "properties.hardwareProfile.vmSize"
CR = "Microsoft.Compute"
AKS = "Microsoft.ContainerService"
BATCH_RP = "Microsoft.Batch"
AML = "Microsoft.MachineLearningServices"
_AML_PROPS = "properties.properties"

OPERATIONS: tuple[AzureOperation, ...] = (
    AzureOperation(
        resource="virtualMachines", service=CR,
        template=f"{_RG}/{CR}/virtualMachines/{{name}}",
        methods={"PUT": "VirtualMachines_CreateOrUpdate", "PATCH": "VirtualMachines_Update"},
        shape=Shape(size=(VM_SIZE,)), kind="azure:virtual-machine", api_version="2024-07-01",
        sdk=("azure-mgmt-compute: virtual_machines.begin_create_or_update",
             "azure-mgmt-compute: virtual_machines.begin_update"),
        actions={"start": ("VirtualMachines_Start", "azure-mgmt-compute: virtual_machines.begin_start"),
                 "restart": ("VirtualMachines_Restart", "azure-mgmt-compute: virtual_machines.begin_restart")},
    ),
    AzureOperation(
        resource="virtualMachineScaleSets", service=CR,
        template=f"{_RG}/{CR}/virtualMachineScaleSets/{{name}}",
        methods={"PUT": "VirtualMachineScaleSets_CreateOrUpdate", "PATCH": "VirtualMachineScaleSets_Update"},
        shape=Shape(size=("sku.name",), counts=("sku.capacity",), alternatives="properties.skuProfile.vmSizes",
                    placeholders=frozenset({"mix"})),
        kind="azure:scale-set", api_version="2024-07-01",
        sdk=("azure-mgmt-compute: virtual_machine_scale_sets.begin_create_or_update",
             "azure-mgmt-compute: virtual_machine_scale_sets.begin_update"),
        actions={"start": ("VirtualMachineScaleSets_Start",
                           "azure-mgmt-compute: virtual_machine_scale_sets.begin_start"),
                 "restart": ("VirtualMachineScaleSets_Restart",
                             "azure-mgmt-compute: virtual_machine_scale_sets.begin_restart")},
    ),
    AzureOperation(
        # A scale-set VM resized on its own (Flexible orchestration, or a single-instance resize).
        resource="virtualMachineScaleSets/virtualMachines", service=CR,
        template=f"{_RG}/{CR}/virtualMachineScaleSets/{{scaleset}}/virtualMachines/{{name}}",
        methods={"PUT": "VirtualMachineScaleSetVMs_Update", "PATCH": "VirtualMachineScaleSetVMs_Update"},
        shape=Shape(size=(VM_SIZE, "sku.name")), kind="azure:scale-set-vm", api_version="2024-07-01",
        sdk=("azure-mgmt-compute: virtual_machine_scale_set_vms.begin_update",),
    ),
    AzureOperation(
        resource="capacityReservationGroups/capacityReservations", service=CR,
        template=f"{_RG}/{CR}/capacityReservationGroups/{{group_name}}/capacityReservations/{{name}}",
        methods={"PUT": "CapacityReservations_CreateOrUpdate", "PATCH": "CapacityReservations_Update"},
        shape=Shape(size=("sku.name",), counts=("sku.capacity",)), kind="azure:capacity-reservation",
        api_version="2024-07-01",
        sdk=("azure-mgmt-compute: capacity_reservations.begin_create_or_update",
             "azure-mgmt-compute: capacity_reservations.begin_update"),
        note="reserved capacity of a size: decided as that many VMs of it",
    ),
    AzureOperation(
        resource="hostGroups/hosts", service=CR,
        template=f"{_RG}/{CR}/hostGroups/{{host_group}}/hosts/{{name}}",
        methods={"PUT": "DedicatedHosts_CreateOrUpdate", "PATCH": "DedicatedHosts_Update"},
        shape=Shape(size=("sku.name",), hosts=True), kind="azure:dedicated-host", api_version="2024-07-01",
        sdk=("azure-mgmt-compute: dedicated_hosts.begin_create_or_update",
             "azure-mgmt-compute: dedicated_hosts.begin_update"),
        note="a host SKU (``NDamsrA100v4-Type1``) is decided as every size of its VM family",
    ),
    AzureOperation(
        resource="managedClusters/agentPools", service=AKS,
        template=f"{_RG}/{AKS}/managedClusters/{{cluster}}/agentPools/{{name}}",
        methods={"PUT": "AgentPools_CreateOrUpdate"},
        shape=Shape(size=("properties.vmSize",), counts=("properties.count", "properties.maxCount"),
                    default_count=1),
        location_from="parent", kind="azure:agent-pool", api_version="2024-09-01",
        sdk=("azure-mgmt-containerservice: agent_pools.begin_create_or_update",),
        note="create, scale (count, autoscaler maxCount) and vmSize change are all this PUT",
    ),
    AzureOperation(
        resource="managedClusters", service=AKS,
        template=f"{_RG}/{AKS}/managedClusters/{{name}}",
        methods={"PUT": "ManagedClusters_CreateOrUpdate"},
        shape=Shape(size=("vmSize",), counts=("count", "maxCount"), default_count=1),
        pools="properties.agentPoolProfiles", api_version="2024-09-01",
        sdk=("azure-mgmt-containerservice: managed_clusters.begin_create_or_update",),
        note="each agentPoolProfiles[] entry; the hook remediates the accelerated pools",
    ),
    AzureOperation(
        resource="batchAccounts/pools", service=BATCH_RP,
        template=f"{_RG}/{BATCH_RP}/batchAccounts/{{account}}/pools/{{name}}",
        methods={"PUT": "Pool_Create", "PATCH": "Pool_Update"},
        shape=Shape(size=("properties.vmSize",),
                    counts=("properties.scaleSettings.fixedScale.targetDedicatedNodes"
                            "+properties.scaleSettings.fixedScale.targetLowPriorityNodes",),
                    default_count=0,
                    opaque=(("properties.scaleSettings.autoScale.formula",
                             "the node count is set by an autoscale formula gatekeeper cannot evaluate"),)),
        location_from="parent", kind="azure:batch-pool", api_version="2024-07-01",
        sdk=("azure-mgmt-batch: pool.create", "azure-mgmt-batch: pool.update"),
        note="dedicated + low-priority nodes; an autoscale formula is decided fail-closed",
    ),
    AzureOperation(
        resource="workspaces/computes", service=AML,
        template=f"{_RG}/{AML}/workspaces/{{workspace}}/computes/{{name}}",
        methods={"PUT": "Compute_CreateOrUpdate", "PATCH": "Compute_Update"},
        shape=Shape(size=(f"{_AML_PROPS}.vmSize",), counts=(f"{_AML_PROPS}.scaleSettings.maxNodeCount",),
                    default_count=1,
                    when=("properties.computeType", frozenset({"amlcompute", "computeinstance"}))),
        patch_properties="properties.properties", kind="azure:ml-compute", api_version="2021-07-01",
        actions={"start": ("Compute_Start", "azure-mgmt-machinelearningservices: machine_learning_compute.start"),
                 "restart": ("Compute_Restart",
                             "azure-mgmt-machinelearningservices: machine_learning_compute.restart")},
        sdk=("azure-mgmt-machinelearningservices: machine_learning_compute.begin_create_or_update",
             "azure-mgmt-machinelearningservices: machine_learning_compute.begin_update"),
        note="AmlCompute (maxNodeCount) and ComputeInstance (one VM); an attached cluster (AKS, Kubernetes) "
             "provisions nothing itself",
    ),
)

# Calls that carry a whole ARM template (``properties.template`` / ``templateLink``, ``parameters``).
DEPLOYMENT_SCOPES: Mapping[str, str] = {
    "resource group": "/subscriptions/{subscription}/resourceGroups/{group}/providers",
    "subscription": "/subscriptions/{subscription}/providers",
    "management group": "/providers/Microsoft.Management/managementGroups/{management_group}/providers",
    "tenant": "/providers",
}


@dataclass(frozen=True, slots=True)
class TemplateCall:
    """A call whose body carries an ARM template: a deployment, its validate/whatIf, a deployment stack."""

    name: str  # the ARM operation id family (``Deployments_CreateOrUpdate``)
    resource: str  # ``deployments`` or ``deploymentStacks``
    method: str
    action: str  # "" for the PUT, ``validate`` / ``whatIf``
    sdk: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    scope: str = ""

    def __post_init__(self) -> None:
        action = f"/{self.action}" if self.action else ""
        template = f"{DEPLOYMENT_SCOPES[self.scope]}/Microsoft.Resources/{self.resource}/{{name}}{action}"
        object.__setattr__(self, "pattern", compile_template(template))

    @property
    def spec(self) -> Operation:
        return Operation("Microsoft.Resources", f"{self.name} ({self.scope})", note=(
            "every compute resource of the template (inline, linked, nested), decided from its rows; each "
            "resource the deployment writes raises its own ResourceWriteSuccess for the hook"))


def _template_calls() -> tuple[TemplateCall, ...]:
    out: list[TemplateCall] = []
    for scope in DEPLOYMENT_SCOPES:
        sfx = {"resource group": "", "subscription": "_at_subscription_scope",
               "management group": "_at_management_group_scope", "tenant": "_at_tenant_scope"}[scope]
        sdk = "azure-mgmt-resource-deployments: deployments."
        out += [
            TemplateCall("Deployments_CreateOrUpdate", "deployments", "PUT", "", f"{sdk}begin_create_or_update{sfx}",
                         scope=scope),
            TemplateCall("Deployments_Validate", "deployments", "POST", "validate", f"{sdk}begin_validate{sfx}",
                         scope=scope),
            TemplateCall("Deployments_WhatIf", "deployments", "POST", "whatIf", f"{sdk}begin_what_if{sfx}",
                         scope=scope),
        ]
        if scope != "tenant":
            stacks = "azure-mgmt-resource-deploymentstacks: deployment_stacks."
            kind = {"resource group": "resource_group", "subscription": "subscription",
                    "management group": "management_group"}[scope]
            out += [
                TemplateCall("DeploymentStacks_CreateOrUpdate", "deploymentStacks", "PUT", "",
                             f"{stacks}begin_create_or_update_at_{kind}", scope=scope),
                TemplateCall("DeploymentStacks_Validate", "deploymentStacks", "POST", "validate",
                             f"{stacks}begin_validate_stack_at_{kind}", scope=scope),
            ]
    return tuple(out)


DEPLOYMENTS: tuple[TemplateCall, ...] = _template_calls()

# ARM's batch endpoint: ``POST /batch`` with ``{"requests": [{"httpMethod", "url", "content"}]}``.
BATCH = re.compile(r"/batch/?$", re.IGNORECASE)
BATCH_OPERATION = Operation("Microsoft.Resources", "batch", note=(
    "each inner request recognised as one of the rows above and decided; one blocked request blocks the batch"))


def _spec() -> ProviderSpec:
    ops = [op.spec for op in OPERATIONS] + [a for op in OPERATIONS for a in op.action_specs]
    ops += [t.spec for t in DEPLOYMENTS if t.action == "" or t.resource == "deployments"]
    ops.append(BATCH_OPERATION)
    return ProviderSpec("azure", tuple(dict((o.key, o) for o in ops).values()))


SPEC: ProviderSpec = _spec()
BY_TYPE: Mapping[str, AzureOperation] = {op.type.lower(): op for op in OPERATIONS}


@dataclass(frozen=True, slots=True)
class Recognised:
    operation: AzureOperation
    method: str
    params: Mapping[str, str]
    path: str


def recognise(method: str, path: str, operations: tuple[AzureOperation, ...] = OPERATIONS) -> Recognised | None:
    """The operation a request is, or None when it provisions nothing (a GET, a delete, another resource)."""
    m = method.upper()
    for op in operations:
        if m == "POST" and op.actions:
            act = op.action_pattern.match(path)
            if act and unquote(act.group("action")).lower() in op.actions:
                params = {k: unquote(v) for k, v in act.groupdict().items()}
                return Recognised(op, m, params, path[:act.start("action") - 1])
            continue
        if m not in op.methods:
            continue
        found = op.pattern.match(path)
        if found:
            return Recognised(op, m, {k: unquote(v) for k, v in found.groupdict().items()}, path)
    return None


class AmbiguousBodyError(ValueError):
    """A key spelt twice (ARM keys are case-insensitive) with different values."""


_MISSING = object()


def _key(d: Mapping[str, Any], key: str) -> Any:
    if key in d:
        exact = d[key]
        others = [v for k, v in d.items() if k != key and k.lower() == key.lower()]
        if any(v != exact for v in others):
            raise AmbiguousBodyError(f"{key!r} is given twice with different values")
        return exact
    found = [v for k, v in d.items() if k.lower() == key.lower()]
    if not found:
        return _MISSING
    if any(v != found[0] for v in found[1:]):
        raise AmbiguousBodyError(f"{key!r} is given twice with different values")
    return found[0]


def get_path(body: Any, path: str) -> Any:
    """The value at a dotted path, keys matched case-insensitively; None when absent (or JSON null)."""
    node = body
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = _key(node, key)
        if node is _MISSING:
            return None
    return node


def has_path(body: Any, path: str) -> bool:
    return get_path(body, path) is not None


def merge(current: Any, patch: Any) -> Any:
    """``patch`` applied to ``current`` as ARM applies a PATCH: objects merge (keys case-insensitively),
    anything else is replaced."""
    if not isinstance(current, Mapping) or not isinstance(patch, Mapping):
        return patch
    out: dict[str, Any] = dict(current)
    lower = {k.lower(): k for k in out}
    for k, v in patch.items():
        existing = lower.get(k.lower())
        if existing is not None:
            out[existing] = merge(out[existing], v)
        else:
            out[k] = v
            lower[k.lower()] = k
    return out
