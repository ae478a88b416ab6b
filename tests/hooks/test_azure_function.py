"""The Azure Function hook through the real SDK pipeline (azure-mgmt-compute, -containerservice) against
a local ARM stand-in over TLS: Event Grid events in, ARM calls out."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken
from gatekeeper.hooks import azure_function
from gatekeeper.hooks.azure_function import AzureClients, AzureHook, parse_resource_id
from gatekeeper.hooks.remediation import TAG_CASE_ID, TAG_DECISION
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import AZ_CHINA_HQ, AZ_US, MakeGk, audit_records, load_event, vouched

ROOT = Path(__file__).resolve().parents[2]
GROUP = "ml-rg"
USER_OID = "0b0b0b0b-1111-4222-8333-444444444444"
HOOK_OID = "9f9f9f9f-1111-4222-8333-555555555555"


def vm_id(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/{name}"


def vmss_id(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"


def cluster_id(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{GROUP}/providers/Microsoft.ContainerService/managedClusters/{name}"


@pytest.fixture
def arm() -> Iterator[ArmStandIn]:
    """The product's ARM stand-in, requiring the bearer token (so the SDK's authentication policy runs)."""
    with ArmStandIn(token=StaticToken().token) as server:
        yield server


def resource(arm: ArmStandIn, rid: str) -> dict[str, Any] | None:
    """The resource as the stand-in holds it now (None once deleted)."""
    return arm.resources.get(rid.lower())


@pytest.fixture
def hook(gk: Gatekeeper, arm: ArmStandIn) -> AzureHook:
    return make_hook(gk, arm)


def make_hook(gk: Gatekeeper, arm: ArmStandIn) -> AzureHook:
    clients = AzureClients(credential=StaticToken(), base_url=arm.url, connection_verify=arm.ca_file,
                           retry_total=0)
    return AzureHook(gk, clients=clients)


def vm_event(sub: str, name: str, *, oid: str = USER_OID) -> dict[str, Any]:
    return load_event("azure-vm-write.json", SUBSCRIPTION=sub, GROUP=GROUP, NAME=name, PRINCIPAL_OID=oid,
                      PRINCIPAL_UPN="wang.fang@example.cn")


def add_vm(arm: ArmStandIn, sub: str, name: str, size: str, tags: dict[str, str] | None = None,
           location: str = "eastasia") -> str:
    rid = vm_id(sub, name)
    arm.seed(rid, {"type": "Microsoft.Compute/virtualMachines", "location": location, "tags": tags or {},
                  "properties": {"hardwareProfile": {"vmSize": size}}})
    return rid


def remediations(home: Path) -> list[dict[str, Any]]:
    return [r for r in audit_records(home) if str(r.get("kind", "")).startswith("remediation.")]


# -- virtual machines ----------------------------------------------------------------------------------
def test_a_vm_of_a_china_hq_customer_is_deallocated_and_tagged_with_its_case(
        hook: AzureHook, arm: ArmStandIn, tmp_path: Path, gk: Gatekeeper) -> None:
    rid = add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_ND96isr_H100_v5", {"owner": "ml-team"})
    out = hook.handle(vm_event(AZ_CHINA_HQ, "trainer-0"))

    assert out["status"] == "remediated" and out["decision"] == "pending"
    assert out["request"]["region"] == "eastasia" and out["request"]["principal"] == "wang.fang@example.cn"
    assert gk.store.cases.get_case(out["case_id"]) is not None
    vm = resource(arm, rid)
    assert vm is not None
    # Tags merged into the VM's own (the owner's tag is kept), through a PATCH of the SDK.
    assert vm["tags"]["owner"] == "ml-team" and vm["tags"][TAG_CASE_ID] == out["case_id"]
    assert [r.body for r in arm.arrived("PATCH", "trainer-0")] == [{"tags": vm["tags"]}]
    assert len(arm.arrived("POST", "trainer-0/deallocate")) == 1
    assert [r["kind"] for r in remediations(tmp_path)] == ["remediation.tag", "remediation.deallocate"]


def test_the_same_event_twice_acts_once(hook: AzureHook, arm: ArmStandIn, tmp_path: Path) -> None:
    add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_ND96isr_H100_v5")
    event = vm_event(AZ_CHINA_HQ, "trainer-0")
    assert hook.handle(event)["status"] == "remediated"
    assert hook.handle(event)["status"] == "duplicate"
    assert len(arm.arrived("POST", "/deallocate")) == 1 and len(remediations(tmp_path)) == 2


def test_a_plain_vm_is_left_alone(hook: AzureHook, arm: ArmStandIn, tmp_path: Path) -> None:
    rid = add_vm(arm, AZ_CHINA_HQ, "web-0", "Standard_D2s_v5")
    out = hook.handle(vm_event(AZ_CHINA_HQ, "web-0"))
    assert out["decision"] == "allow" and out["status"] == "decided"
    assert arm.arrived("PATCH") == [] and arm.arrived("POST") == [] and resource(arm, rid)["tags"] == {}  # type: ignore[index]
    assert audit_records(tmp_path) == []


def test_a_verified_us_customer_is_allowed(hook: AzureHook, arm: ArmStandIn) -> None:
    add_vm(arm, AZ_US, "trainer-0", "Standard_ND96isr_H100_v5", location="eastus")
    out = hook.handle(vm_event(AZ_US, "trainer-0"))
    assert out["decision"] == "allow" and arm.arrived("POST") == []


def test_account_map_maps_a_subscription_to_its_customer(make_gk: MakeGk, arm: ArmStandIn) -> None:
    other = "7c7c7c7c-0000-4000-8000-000000000003"
    gk = make_gk(account_map={other: AZ_CHINA_HQ})
    add_vm(arm, other, "trainer-0", "Standard_ND96isr_H100_v5")
    out = make_hook(gk, arm).handle(vm_event(other, "trainer-0"))
    assert out["request"]["account_id"] == AZ_CHINA_HQ and out["decision"] == "pending"


def test_a_deny_deletes_when_configured(make_gk: MakeGk, arm: ArmStandIn) -> None:
    gk = make_gk(on_pending="none", on_deny="terminate", account_map={AZ_CHINA_HQ: "ir-customer"})
    from gatekeeper.model import CustomerProfile

    gk.store.profiles.put_profiles([CustomerProfile("azure", "ir-customer", "Persian Gulf Compute Co.", "IR", "IR",
                                                    "IR", "verified")])
    rid = add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_NC4as_T4_v3")
    out = make_hook(gk, arm).handle(vm_event(AZ_CHINA_HQ, "trainer-0"))
    assert out["decision"] == "deny" and [a["action"] for a in out["actions"]] == ["tag", "delete"]
    assert resource(arm, rid) is None and len(arm.arrived("DELETE", "trainer-0")) == 1


# -- scale sets and AKS ------------------------------------------------------------------------------
def test_a_scale_set_is_scaled_to_capacity_zero(hook: AzureHook, arm: ArmStandIn) -> None:
    rid = vmss_id(AZ_CHINA_HQ, "trainers")
    arm.seed(rid, {"location": "eastasia", "sku": {"name": "Standard_ND96isr_H100_v5", "tier": "Standard",
                                                  "capacity": 4}, "properties": {}})
    out = hook.handle(load_event("azure-vmss-write.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP=GROUP, NAME="trainers",
                                 PRINCIPAL_OID=USER_OID))
    assert out["decision"] == "pending" and out["request"]["items"][0]["count"] == 4
    ss = resource(arm, rid)
    assert ss is not None and ss["sku"]["capacity"] == 0 and ss["sku"]["name"] == "Standard_ND96isr_H100_v5"
    assert ss["tags"][TAG_DECISION] == "pending"
    # The write of capacity 0 that follows (ours) provisions nothing: ignored, not decided again.
    again = hook.handle(load_event("azure-vmss-write.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP=GROUP, NAME="trainers",
                                   PRINCIPAL_OID=USER_OID))
    assert again["status"] == "ignored" and "no capacity" in again["reason"]


def test_an_aks_agent_pool_from_a_cloud_event_is_scaled_to_zero(hook: AzureHook, arm: ArmStandIn) -> None:
    cluster = cluster_id(AZ_CHINA_HQ, "aks-ml")
    arm.seed(cluster, {"location": "eastasia", "properties": {"agentPoolProfiles": []}})
    pool = f"{cluster}/agentPools/gpu"
    arm.seed(pool, {"properties": {"vmSize": "Standard_ND96isr_H100_v5", "count": 2, "enableAutoScaling": True,
                                  "minCount": 1, "maxCount": 5, "mode": "User"}})
    out = hook.handle(load_event("azure-agentpool-write.cloudevent.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP=GROUP,
                                 CLUSTER="aks-ml", NAME="gpu", PRINCIPAL_OID=USER_OID,
                                 PRINCIPAL_UPN="wang.fang@example.cn"))
    assert out["decision"] == "pending" and out["request"]["items"][0]["count"] == 5
    props = resource(arm, pool)["properties"]  # type: ignore[index]
    assert props["count"] == 0 and props["enableAutoScaling"] is False and "maxCount" not in props
    assert props["tags"][TAG_CASE_ID] == out["case_id"]


def test_a_managed_cluster_write_remediates_its_accelerated_pools_only(hook: AzureHook, arm: ArmStandIn) -> None:
    cluster = cluster_id(AZ_CHINA_HQ, "aks-ml")
    arm.seed(cluster, {"location": "eastasia", "properties": {"agentPoolProfiles": [
        {"name": "system", "vmSize": "Standard_D4s_v5", "count": 3, "mode": "System"},
        {"name": "gpu", "vmSize": "Standard_ND96isr_H100_v5", "count": 2, "mode": "User"}]}})
    for name, size, count in (("system", "Standard_D4s_v5", 3), ("gpu", "Standard_ND96isr_H100_v5", 2)):
        arm.seed(f"{cluster}/agentPools/{name}", {"properties": {"vmSize": size, "count": count}})
    event = load_event("azure-vm-write.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP=GROUP, NAME="x",
                       PRINCIPAL_OID=USER_OID, PRINCIPAL_UPN="wang.fang@example.cn")
    event["data"]["resourceUri"] = event["subject"] = cluster
    event["data"]["operationName"] = "Microsoft.ContainerService/managedClusters/write"
    out = hook.handle(event)
    assert out["decision"] == "pending" and len(out["request"]["items"]) == 2
    assert {a["resource"]["id"].rsplit("/", 1)[-1] for a in out["actions"]} == {"gpu"}
    assert resource(arm, f"{cluster}/agentPools/gpu")["properties"]["count"] == 0  # type: ignore[index]
    assert resource(arm, f"{cluster}/agentPools/system")["properties"]["count"] == 3  # type: ignore[index]


# -- what the hook leaves alone ----------------------------------------------------------------------
def test_its_own_writes_are_ignored(hook: AzureHook, arm: ArmStandIn, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_SELF_PRINCIPAL_ID", HOOK_OID)
    add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_ND96isr_H100_v5")
    out = hook.handle(vm_event(AZ_CHINA_HQ, "trainer-0", oid=HOOK_OID))
    assert out["status"] == "ignored" and arm.requests == [] and audit_records(tmp_path) == []


@pytest.mark.parametrize("change, status", [
    ({"eventType": "Microsoft.Resources.ResourceDeleteSuccess"}, "ignored"),
    ({"data.operationName": "Microsoft.Compute/virtualMachines/extensions/write",
      "data.resourceUri": "/subscriptions/S/resourceGroups/ml-rg/providers/Microsoft.Compute/virtualMachines/v/"
                          "extensions/cuda"}, "ignored"),
    ({"data.status": "Failed"}, "skipped"),
])
def test_other_events_are_left_alone(hook: AzureHook, arm: ArmStandIn, tmp_path: Path, change: dict[str, str],
                                     status: str) -> None:
    event = vm_event(AZ_CHINA_HQ, "trainer-0")
    for key, value in change.items():
        if key.startswith("data."):
            event["data"][key[5:]] = value
        else:
            event[key] = value
    assert hook.handle(event)["status"] == status
    assert arm.requests == [] and audit_records(tmp_path) == []


def test_a_vanished_resource_is_ignored(hook: AzureHook, arm: ArmStandIn, tmp_path: Path) -> None:
    out = hook.handle(vm_event(AZ_CHINA_HQ, "deleted-since"))
    assert out["status"] == "ignored" and "no longer exists" in out["reason"]
    assert len(arm.arrived("GET")) == 1 and audit_records(tmp_path) == []


@pytest.mark.parametrize("event, why", [
    ("not an event", "not a JSON object"),
    ({"eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": {}}, "no id"),
    ({"id": "g-1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": "vm"}, "data is not an object"),
    ({"id": "g-2", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": "vm-1",
      "data": {"resourceUri": "vm-1"}}, "not an ARM resource id"),
])
def test_a_malformed_event_is_recorded_and_does_not_crash(hook: AzureHook, tmp_path: Path, event: Any,
                                                          why: str) -> None:
    out = hook.handle(event)
    assert out["status"] == "error" and why in out["reason"]
    [rec] = audit_records(tmp_path)
    assert rec["kind"] == "hook.error" and rec["data"]["hook"] == "azure-function"


def test_a_failed_deallocation_is_recorded_and_left_for_event_grid_to_retry(
        hook: AzureHook, arm: ArmStandIn, tmp_path: Path) -> None:
    from gatekeeper.errors import RemediationError

    add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_ND96isr_H100_v5")
    arm.fail[("POST", "/deallocate")] = 409
    event = vm_event(AZ_CHINA_HQ, "trainer-0")
    with pytest.raises(RemediationError):
        hook.handle(event)
    [tag, dealloc] = remediations(tmp_path)
    assert tag["data"]["result"] == "ok" and dealloc["data"]["result"] == "failed"
    assert "409" in dealloc["data"]["error"] or "Conflict" in dealloc["data"]["error"]
    del arm.fail[("POST", "/deallocate")]
    assert hook.handle(event)["status"] == "remediated"  # the retry acts


def test_resource_ids_are_parsed_case_insensitively() -> None:
    t = parse_resource_id("/SUBSCRIPTIONS/ABC/resourcegroups/G/providers/microsoft.compute/VIRTUALMACHINES/v1")
    assert t is not None and (t.kind, t.subscription, t.group, t.name) == ("azure:virtual-machine", "abc", "G", "v1")
    assert parse_resource_id("/subscriptions/a/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/s") \
        is None


# -- the Azure Functions entry point -----------------------------------------------------------------
def test_the_function_app_binds_event_grid_and_runs_the_hook(gk: Gatekeeper, arm: ArmStandIn,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.functions as func

    spec = importlib.util.spec_from_file_location("gk_function_app", ROOT / "deploy" / "azure" / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [fn] = module.app.get_functions()
    assert fn.get_function_name() == "gatekeeper_hook"
    assert [b.type for b in fn.get_bindings()] == ["eventGridTrigger"]

    monkeypatch.setattr(azure_function, "_hook", make_hook(gk, arm))  # the container's hook, on the stand-in
    add_vm(arm, AZ_CHINA_HQ, "trainer-0", "Standard_ND96isr_H100_v5")
    raw = vm_event(AZ_CHINA_HQ, "trainer-0")
    event = func.EventGridEvent(id=raw["id"], data=raw["data"], topic=raw["topic"], subject=raw["subject"],
                                event_type=raw["eventType"], event_time=None, data_version=raw["dataVersion"])
    module.gatekeeper_hook(event)
    assert len(arm.arrived("POST", "trainer-0/deallocate")) == 1
    # The instance may be frozen once the invocation returns: its records are vouched for already.
    published, durable = vouched(gk)
    assert durable > 0 and published == durable
