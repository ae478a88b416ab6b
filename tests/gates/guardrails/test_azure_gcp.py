"""Azure Policy and GCP custom constraints: their formats, and their rules evaluated over the catalog
(every controlled size of every resource type denied, no plain one), licences as exceptions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import celpy
import jsonschema
import pytest

from gatekeeper.gates.guardrails import azure, export, gcp
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.gates.conftest import CN_AZ, CN_GCP, US_AZ, US_GCP
from tests.gates.guardrails._models import AZURE_POLICY_SCHEMA, azure_rule_matches
from tests.gates.guardrails.conftest import ON, controlled, licence

NOW = "2026-12-04T12:00:00Z"


def arm_resources(size: str, location: str = "westeurope") -> list[dict[str, Any]]:
    """One resource of every type the definition covers, each naming ``size`` where ARM puts it."""
    return [
        {"type": "Microsoft.Compute/virtualMachines", "location": location, "sku": {"name": size}},
        {"type": "Microsoft.Compute/virtualMachineScaleSets", "location": location, "sku": {"name": size}},
        {"type": "Microsoft.ContainerService/managedClusters", "location": location,
         "properties": {"agentPoolProfiles": [{"name": "sys", "vmSize": "Standard_D2s_v3"},
                                              {"name": "gpu", "vmSize": size}]}},
        {"type": "Microsoft.ContainerService/managedClusters/agentPools", "location": location,
         "properties": {"vmSize": size}},
        {"type": "Microsoft.Batch/batchAccounts/pools", "location": location, "properties": {"vmSize": size}},
        {"type": "Microsoft.MachineLearningServices/workspaces/computes", "location": location,
         "properties": {"computeType": "AmlCompute", "properties": {"vmSize": size}}},
    ]


def azure_denies(bundle, subscription: str, resource: dict[str, Any], now: str = NOW) -> bool:
    definition = next(a.content["properties"] for a in bundle.artifacts if a.kind == "azure-policy-definition")
    defaults = {k: v.get("defaultValue") for k, v in definition["parameters"].items()}
    for a in bundle.artifacts:
        if a.kind == "azure-policy-assignment" and a.targets == [subscription]:
            params = {**defaults, **{k: v["value"] for k, v in a.content["properties"]["parameters"].items()}}
            if azure_rule_matches(definition["policyRule"]["if"], resource, params, now):
                assert definition["policyRule"]["then"]["effect"] == "[parameters('effect')]"
                return True
    return False


def test_azure_definition_and_assignments_are_valid(gk: Gatekeeper) -> None:
    bundle = export(gk, "azure", on=ON)
    defs = [a for a in bundle.artifacts if a.kind == "azure-policy-definition"]
    assert len(defs) == 1 and CN_AZ in defs[0].targets
    assert any("instance mix" in u for u in bundle.uncovered)  # said, not silently missing
    # the verified US customer's assignments deny only in some locations
    us = [a.content["properties"]["parameters"] for a in bundle.artifacts
          if a.kind == "azure-policy-assignment" and a.targets == [US_AZ]]
    assert us and all(p["onlyLocations"]["value"] or p["allowedLocations"]["value"] for p in us)
    jsonschema.validate(defs[0].content, AZURE_POLICY_SCHEMA)
    params = defs[0].content["properties"]["parameters"]
    for a in bundle.artifacts:
        if a.kind == "azure-policy-assignment":
            props = a.content["properties"]
            assert props["policyDefinitionId"].endswith(f"/policyDefinitions/{azure.DEFINITION}")
            assert set(props["parameters"]) <= set(params)
            assert re.fullmatch(r"[^<>*%&:\\?.+/]{1,64}", a.content["name"])


@pytest.mark.parametrize("subscription", [CN_AZ, US_AZ])
@pytest.mark.parametrize("location", ["westeurope", "chinanorth", "uaenorth", "nowhereland"])
def test_azure_rule_denies_exactly_the_controlled_sizes_on_every_resource_type(gk: Gatekeeper, subscription: str,
                                                                                 location: str) -> None:
    bundle = export(gk, "azure", on=ON)
    sizes = [*sorted(t.name for t in gk.catalog.types("azure")), "Standard_D2s_v3"]
    expected = {s for s in sizes if controlled(gk, "azure", subscription, s, region=location) >= Outcome.PENDING}
    assert bool(expected) == (subscription == CN_AZ or location != "westeurope")
    for n in range(len(arm_resources("x"))):
        got = {s for s in sizes if azure_denies(bundle, subscription, arm_resources(s, location)[n])}
        assert got == expected, (arm_resources("x")[n]["type"], location, sorted(got ^ expected))
    # ARM compares case-insensitively: a lower-cased size is no way round
    some = sorted(expected or {"Standard_ND96asr_v4"})[0]
    assert azure_denies(bundle, subscription, arm_resources(some.lower(), location)[0]) == bool(expected)


def test_azure_licence_exception_by_dates_and_regions(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("azure", CN_AZ, until=date(2027, 6, 30), regions=("westeurope",)))
    bundle = export(gk, "azure", on=ON)
    vm = arm_resources("Standard_ND96asr_v4")[0]
    assert not azure_denies(bundle, CN_AZ, vm, now="2027-06-30T10:00:00Z")
    assert azure_denies(bundle, CN_AZ, vm, now="2027-07-01T00:00:01Z")
    assert azure_denies(bundle, CN_AZ, vm, now="2025-12-30T10:00:00Z")
    assert azure_denies(bundle, CN_AZ, {**vm, "location": "eastus"})


# -- Google Cloud ---------------------------------------------------------------------------------------
_env = celpy.Environment()


def cel(condition: str, resource: dict[str, Any]) -> bool:
    program = _env.program(_env.compile(condition))
    return bool(program.evaluate({"resource": celpy.json_to_cel(resource)}))


def gcp_denies(bundle, project: str, resource_type: str, resource: dict[str, Any]) -> bool:
    enforced = {a.content["name"].rsplit("/", 1)[-1] for a in bundle.artifacts
                if a.kind == "gcp-policy" and a.targets == [project]}
    return any(cel(a.content["condition"], resource) for a in bundle.artifacts
               if a.kind == "gcp-custom-constraint" and a.name in enforced
               and a.content["resourceTypes"] == [resource_type] and a.content["actionType"] == "DENY")


def instance(machine: str, accelerators: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"name": "vm", "machineType": f"zones/us-central1-a/machineTypes/{machine}",
            "guestAccelerators": [{"acceleratorType": f"projects/p/zones/us-central1-a/acceleratorTypes/{a}",
                                   "acceleratorCount": 1} for a in accelerators]}


def node_pool(machine: str, accelerators: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"name": "pool", "config": {"machineType": machine,
                                       "accelerators": [{"acceleratorType": a, "acceleratorCount": "1"}
                                                        for a in accelerators]}}


def test_gcp_constraints_are_valid_cel_within_the_limits(gk: Gatekeeper) -> None:
    bundle = export(gk, "gcp", on=ON, organization="123456789")
    constraints = [a for a in bundle.artifacts if a.kind == "gcp-custom-constraint"]
    assert {c.content["resourceTypes"][0] for c in constraints} == set(gcp.RESOURCES)
    for c in constraints:
        cid = c.content["name"].rsplit("/", 1)[-1]
        assert c.content["name"].startswith("organizations/123456789/customConstraints/")
        assert re.fullmatch(r"custom\.[A-Za-z0-9]+", cid) and len(cid) <= gcp.MAX_ID_CHARS
        assert len(c.content["condition"]) <= gcp.MAX_CONDITION_CHARS
        _env.compile(c.content["condition"])  # parses as CEL
        assert c.content["methodTypes"] == ["CREATE", "UPDATE"] and c.content["actionType"] == "DENY"
    policies = [a for a in bundle.artifacts if a.kind == "gcp-policy"]
    assert policies and all(p.content["name"].startswith(f"projects/{CN_GCP}/policies/custom.") for p in policies)
    assert not any(US_GCP in a.targets for a in bundle.artifacts)


def test_gcp_conditions_deny_exactly_the_controlled_machine_and_accelerator_types(gk: Gatekeeper) -> None:
    bundle = export(gk, "gcp", on=ON, organization="123456789")
    machines = sorted(t.name for t in gk.catalog.types("gcp"))
    expected = {m for m in machines if controlled(gk, "gcp", CN_GCP, m) >= Outcome.PENDING}
    assert expected and len(expected) < len(machines)
    for rtype, shape in (("compute.googleapis.com/Instance", instance),
                         ("container.googleapis.com/NodePool", node_pool)):
        got = {m for m in machines if gcp_denies(bundle, CN_GCP, rtype, shape(m))}
        assert got == expected, (rtype, sorted(got ^ expected))
        assert gcp_denies(bundle, CN_GCP, rtype, shape("n1-standard-8", ("nvidia-tesla-a100",)))
        assert not gcp_denies(bundle, CN_GCP, rtype, shape("n1-standard-8", ("nvidia-tesla-t4",)))
        assert not gcp_denies(bundle, CN_GCP, rtype, shape("n2-standard-4"))


def test_gcp_condition_over_the_limit_is_split(gk: Gatekeeper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcp, "MAX_CONDITION_CHARS", 300)
    bundle = export(gk, "gcp", on=ON, organization="123456789")
    constraints = [a for a in bundle.artifacts if a.kind == "gcp-custom-constraint"]
    assert len(constraints) > 2 and all(len(c.content["condition"]) <= 300 for c in constraints)
    for m in ("a2-highgpu-1g", "a3-highgpu-8g"):
        assert gcp_denies(bundle, CN_GCP, "compute.googleapis.com/Instance", instance(m))
    h100 = instance("n1-standard-8", ("nvidia-h100-80gb",))
    assert gcp_denies(bundle, CN_GCP, "compute.googleapis.com/Instance", h100)


def test_gcp_licence_leaves_its_types_out(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("gcp", CN_GCP))
    bundle = export(gk, "gcp", on=ON, organization="123456789")
    assert not gcp_denies(bundle, CN_GCP, "compute.googleapis.com/Instance", instance("a2-highgpu-1g"))
    assert any("expiry takes effect at the next export" in n for n in bundle.notes)


def test_gcp_organization_must_be_numeric(gk: Gatekeeper) -> None:
    from gatekeeper.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="numeric organization id"):
        export(gk, "gcp", on=ON, organization="my-org")
    assert any("ORGANIZATION_ID" in n for n in export(gk, "gcp", on=ON).notes)


def test_gcp_policies_go_on_a_folder_when_all_its_projects_take_them(gk: Gatekeeper) -> None:
    from gatekeeper.model import CustomerProfile

    gk.store.profiles.put_profiles([CustomerProfile("gcp", "lion-city-2", "Lion City AI", "SG", "SG", "CN",
                                                    "verified")])
    bundle = export(gk, "gcp", on=ON, organization="123456789", folders={"folders/42": [CN_GCP, "lion-city-2"]})
    policies = [a for a in bundle.artifacts if a.kind == "gcp-policy"]
    assert policies and all(p.content["name"].startswith("folders/42/policies/custom.") for p in policies)
    assert gcp_denies(bundle, "folders/42", "compute.googleapis.com/Instance", instance("a2-highgpu-1g"))
    mixed = export(gk, "gcp", on=ON, organization="123456789", folders={"folders/42": [CN_GCP, US_GCP]})
    assert not any(a.targets == ["folders/42"] for a in mixed.artifacts)
    assert any("enforced per project" in n for n in mixed.notes)
