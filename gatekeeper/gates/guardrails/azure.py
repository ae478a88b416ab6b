"""Azure: a Policy definition denying controlled VM sizes, assigned per customer subscription.

One definition (``gatekeeper-deny-controlled-compute``), created in each customer subscription, with
a rule over every resource that names a VM size (the aliases below: virtual machines, scale sets, AKS
clusters' pools and agent pools, Batch pools, Azure ML computes), so a sibling API is not a way
round it (the scale-set bypass of azure-policy PR #589). Its parameters are the sizes to deny and the
window in which the assignment applies (``notBefore``/``notAfter``, compared with ``utcNow()``):

- one assignment per subscription denies the controlled sizes at all times;
- sizes controlled only in some locations (a controlled destination, a location gatekeeper does not
  know) get assignments limited to those locations (``onlyLocations``) or outside the known ones;
- a licence on file is an exception for its scope: its sizes leave that list and get assignments
  of their own, in force before the licence is valid and after it expires. (A licence limited to
  regions also denies its sizes outside them, through ``allowedLocations``.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gatekeeper.gates.guardrails._bundle import Artifact, Bundle
from gatekeeper.gates.guardrails._compile import Guard

DEFINITION = "gatekeeper-deny-controlled-compute"
EPOCH, FOREVER = "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"
# (resource type, alias of its VM size; "[*]" aliases are counted over the array).
SIZE_ALIASES: tuple[tuple[str, str], ...] = (
    ("Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachines/sku.name"),
    ("Microsoft.Compute/virtualMachineScaleSets", "Microsoft.Compute/virtualMachineScaleSets/sku.name"),
    ("Microsoft.ContainerService/managedClusters",
     "Microsoft.ContainerService/managedClusters/agentPoolProfiles[*].vmSize"),
    ("Microsoft.ContainerService/managedClusters/agentPools",
     "Microsoft.ContainerService/managedClusters/agentPools/vmSize"),
    ("Microsoft.Batch/batchAccounts/pools", "Microsoft.Batch/batchAccounts/pools/vmSize"),
    ("Microsoft.MachineLearningServices/workspaces/computes",
     "Microsoft.MachineLearningServices/workspaces/computes/vmSize"),
)


def _size_matches(rtype: str, alias: str) -> dict[str, Any]:
    denied = "[parameters('deniedSizes')]"
    if "[*]" in alias:
        test: dict[str, Any] = {"count": {"field": alias.split("[*]")[0] + "[*]",
                                          "where": {"field": alias, "in": denied}}, "greater": 0}
    else:
        test = {"field": alias, "in": denied}
    return {"allOf": [{"field": "type", "equals": rtype}, test]}


def definition() -> dict[str, Any]:
    """The policy definition's properties (PUT .../policyDefinitions/{DEFINITION})."""
    return {
        "displayName": "Gatekeeper: deny export-controlled AI compute sizes",
        "description": "Compiled by `gatekeeper guardrails export` from the policy packs and the customer on "
                       "file; do not edit by hand (re-export instead).",
        "policyType": "Custom",
        "mode": "All",
        "metadata": {"category": "Compute", "generatedBy": "gatekeeper"},
        "parameters": {
            "deniedSizes": {"type": "Array", "metadata": {"displayName": "Denied VM sizes"}},
            "notBefore": {"type": "String", "defaultValue": EPOCH,
                          "metadata": {"displayName": "In force from (UTC, ISO 8601)"}},
            "notAfter": {"type": "String", "defaultValue": FOREVER,
                         "metadata": {"displayName": "In force until (UTC, ISO 8601)"}},
            "allowedLocations": {"type": "Array", "defaultValue": [],
                                 "metadata": {"displayName": "Locations where the sizes are not denied"}},
            "onlyLocations": {"type": "Array", "defaultValue": [],
                              "metadata": {"displayName": "Locations where the sizes are denied (empty: all)"}},
            "effect": {"type": "String", "allowedValues": ["Deny", "Audit", "Disabled"], "defaultValue": "Deny"},
        },
        "policyRule": {
            "if": {"allOf": [
                {"anyOf": [_size_matches(t, a) for t, a in SIZE_ALIASES]},
                {"value": "[utcNow()]", "greaterOrEquals": "[parameters('notBefore')]"},
                {"value": "[utcNow()]", "lessOrEquals": "[parameters('notAfter')]"},
                {"not": {"field": "location", "in": "[parameters('allowedLocations')]"}},
                {"anyOf": [{"value": "[empty(parameters('onlyLocations'))]", "equals": True},
                           {"field": "location", "in": "[parameters('onlyLocations')]"}]},
            ]},
            "then": {"effect": "[parameters('effect')]"},
        },
    }


def _assignment(subscription: str, name: str, display: str, sizes: list[str], *, not_before: str = EPOCH,
                not_after: str = FOREVER, locations: list[str] | None = None,
                only: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "properties": {
        "displayName": display,
        "policyDefinitionId": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
                              f"policyDefinitions/{DEFINITION}",
        "enforcementMode": "Default",
        "parameters": {"deniedSizes": {"value": sizes}, "notBefore": {"value": not_before},
                       "notAfter": {"value": not_after}, "allowedLocations": {"value": locations or []},
                       "onlyLocations": {"value": only or []}},
    }}


def assignments(g: Guard) -> list[dict[str, Any]]:
    sub = g.account_id
    out = []
    if g.denied:
        out.append(_assignment(sub, "gatekeeper-controlled", f"Gatekeeper: controlled compute for {g.customer}",
                               list(g.denied)))
    for n, e in enumerate(g.exceptions):
        sizes = list(e.types)
        if not sizes:
            continue
        tag = f"gatekeeper-licence-{n}"
        out.append(_assignment(sub, f"{tag}-expired", f"Gatekeeper: licence {e.licence} expired", sizes,
                               not_before=f"{(e.until + timedelta(days=1)).isoformat()}T00:00:00Z"))
        out.append(_assignment(sub, f"{tag}-not-yet-valid", f"Gatekeeper: licence {e.licence} not yet valid",
                               sizes, not_after=f"{(e.since - timedelta(days=1)).isoformat()}T23:59:59Z"))
        if e.regions:
            out.append(_assignment(sub, f"{tag}-regions", f"Gatekeeper: licence {e.licence} outside its regions",
                                   sizes, locations=[r.lower() for r in e.regions]))
    for n, rg in enumerate(g.regional):
        regions = [r.lower() for r in rg.regions]
        if rg.unknown:  # outside every location gatekeeper knows
            out.append(_assignment(sub, f"gatekeeper-unknown-locations-{n}", "Gatekeeper: controlled compute in "
                                   "locations gatekeeper does not know", list(rg.types), locations=regions))
        else:
            out.append(_assignment(sub, f"gatekeeper-locations-{n}", "Gatekeeper: controlled compute in "
                                   f"{', '.join(regions[:3])}{' ...' if len(regions) > 3 else ''}",
                                   list(rg.types), only=regions))
    return out


def build(guards: list[Guard], bundle: Bundle) -> None:
    subs = [g.account_id for g in guards]
    if subs:
        bundle.artifacts.append(Artifact(DEFINITION, "azure-policy-definition", {"properties": definition()}, subs))
    for g in guards:
        for a in assignments(g):
            bundle.artifacts.append(Artifact(f"{g.account_id}/{a['name']}", "azure-policy-assignment", a,
                                             [g.account_id]))
    # No confirmed policy alias names the sizes of a scale set with instance mix (sku.name "Mix").
    bundle.uncovered = ["Microsoft.Compute/virtualMachineScaleSets with instance mix (skuProfile.vmSizes)"]
