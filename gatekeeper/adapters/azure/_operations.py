"""Which ARM calls provision compute, and where their sizes and counts are: data, read by generic code.

Each :class:`AzureOperation` is a URL template (matched case-insensitively, as ARM matches paths),
the HTTP methods that change compute, and the JSON paths of the size, the count and the location in
the body. ``Shape`` describes one resource body; ``pools`` names a list of such bodies inside the
resource (a managed cluster's ``agentPoolProfiles``). Adding an operation is adding a row here.

ARM property names are case-insensitive too, so :func:`get_path` looks keys up case-insensitively
and reports an ambiguity (two spellings of one key with different values) instead of picking one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_RG = "/subscriptions/{subscription}/resourceGroups/{group}/providers"


@dataclass(frozen=True, slots=True)
class Shape:
    """Where one resource body keeps its size(s), count and location."""

    # Paths of the size; the first present wins (a scale-set VM has ``sku.name`` or a hardware profile).
    size: tuple[str, ...]
    # Paths of counts; the largest present is the count (AKS ``count`` and autoscaler ``maxCount``).
    # Empty: the resource is exactly one machine.
    counts: tuple[str, ...] = ()
    # The count when the body and the current resource name none (AKS documents 1); None: unknown.
    default_count: int | None = None
    # A list of ``{"name": size}`` alternatives (VMSS instance mix ``properties.skuProfile.vmSizes``).
    alternatives: str = ""
    # Size values that only mean "see the alternatives" (VMSS ``sku.name = "Mix"``).
    placeholders: frozenset[str] = frozenset()
    location: str = "location"

    def provisioning_paths(self) -> tuple[str, ...]:
        """Paths whose presence makes a PATCH a provisioning change (anything else, e.g. tags, is not)."""
        return self.size + self.counts + ((self.alternatives,) if self.alternatives else ())


@dataclass(frozen=True, slots=True)
class AzureOperation:
    """One ARM resource type whose PUT/PATCH provisions compute."""

    resource: str
    service: str
    template: str
    # HTTP method -> the ARM operation id recorded in the request (``VirtualMachines_Update``).
    methods: Mapping[str, str]
    shape: Shape
    # Path of a list of bodies of ``shape`` (pools); "" when the resource itself has the shape.
    pools: str = ""
    # Where the location lives when the body has none: "self" (GET the resource) or "parent" (GET the
    # resource two path segments up: an AKS agent pool's managed cluster).
    location_from: str = "self"
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ARM paths are case-insensitive; names are URL path segments (percent-encoded if at all).
        parts = re.split(r"(\{[a-z]+\})", self.template)
        regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}/?$", re.IGNORECASE))


VM_SIZE = "properties.hardwareProfile.vmSize"

OPERATIONS: tuple[AzureOperation, ...] = (
    AzureOperation(
        resource="virtualMachines", service="Microsoft.Compute",
        template=f"{_RG}/Microsoft.Compute/virtualMachines/{{name}}",
        methods={"PUT": "VirtualMachines_CreateOrUpdate", "PATCH": "VirtualMachines_Update"},
        shape=Shape(size=(VM_SIZE,)),
    ),
    AzureOperation(
        resource="virtualMachineScaleSets", service="Microsoft.Compute",
        template=f"{_RG}/Microsoft.Compute/virtualMachineScaleSets/{{name}}",
        methods={"PUT": "VirtualMachineScaleSets_CreateOrUpdate", "PATCH": "VirtualMachineScaleSets_Update"},
        shape=Shape(size=("sku.name",), counts=("sku.capacity",), alternatives="properties.skuProfile.vmSizes",
                    placeholders=frozenset({"mix"})),
    ),
    AzureOperation(
        # A scale-set VM resized on its own (Flexible orchestration, or a single-instance resize).
        resource="virtualMachineScaleSets/virtualMachines", service="Microsoft.Compute",
        template=f"{_RG}/Microsoft.Compute/virtualMachineScaleSets/{{scaleset}}/virtualMachines/{{name}}",
        methods={"PUT": "VirtualMachineScaleSetVMs_Update", "PATCH": "VirtualMachineScaleSetVMs_Update"},
        shape=Shape(size=(VM_SIZE, "sku.name")),
    ),
    AzureOperation(
        resource="managedClusters/agentPools", service="Microsoft.ContainerService",
        template=f"{_RG}/Microsoft.ContainerService/managedClusters/{{cluster}}/agentPools/{{name}}",
        methods={"PUT": "AgentPools_CreateOrUpdate"},
        shape=Shape(size=("properties.vmSize",), counts=("properties.count", "properties.maxCount"),
                    default_count=1),
        location_from="parent",
    ),
    AzureOperation(
        resource="managedClusters", service="Microsoft.ContainerService",
        template=f"{_RG}/Microsoft.ContainerService/managedClusters/{{name}}",
        methods={"PUT": "ManagedClusters_CreateOrUpdate"},
        shape=Shape(size=("vmSize",), counts=("count", "maxCount"), default_count=1),
        pools="properties.agentPoolProfiles",
    ),
)


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
