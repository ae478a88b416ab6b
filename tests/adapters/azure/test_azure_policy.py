"""The Azure policy's guarantees beyond the matrix: case-insensitivity, subjects, fail-closed paths,
shadow mode, install()/uninstall(), the async pipeline, and the error contract."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import AsyncioRequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient as AsyncComputeClient

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.azure import ExportControlHttpError, GatekeeperPolicy
from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken
from gatekeeper.audit import open_audit_log
from gatekeeper.service import Gatekeeper
from tests.adapters._support import shipped_policies
from tests.adapters.azure.conftest import (
    CN_SUB,
    GPU,
    UNKNOWN_SUB,
    US_SUB,
    TeeAudit,
    compute,
    make_gatekeeper,
    rid,
    writes,
)

API = "api-version=2024-07-01"


def vm_path(sub: str, name: str = "vm1") -> str:
    return rid(sub, "Microsoft.Compute", "virtualMachines", name)


def raw_put(arm: ArmStandIn, sub: str, path: str, body: object, method: str = "PUT") -> None:
    """Send a raw ARM request through the protected client's pipeline (client.send_request)."""
    client = compute(arm, sub)
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.send_request(HttpRequest(method, f"{arm.url}{path}?{API}", content=content,
                                               headers={"Content-Type": "application/json"}))
    response.raise_for_status()


def create_vm(arm: ArmStandIn, sub: str, size: str, name: str = "vm1", **kwargs: object) -> None:
    vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=size))
    compute(arm, sub, **kwargs).virtual_machines.begin_create_or_update("rg", name, vm).result()


# -- case-insensitivity and odd spellings ----------------------------------------------------------
@pytest.mark.parametrize("size", ["standard_nd96asr_v4", "STANDARD_ND96ASR_V4", " Standard_ND96asr_v4 "])
def test_size_names_are_case_insensitive(gk: Gatekeeper, arm: ArmStandIn, size: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, CN_SUB, size)
    assert info.value.error is not None and info.value.error.code == "ExportLicensePending"
    assert writes(arm, vm_path(CN_SUB)) == []


def test_property_names_are_matched_case_insensitively_as_arm_does(gk: Gatekeeper, arm: ArmStandIn) -> None:
    body = {"location": "eastus", "Properties": {"HardwareProfile": {"VMSize": GPU}}}
    with pytest.raises(HttpResponseError) as info:
        raw_put(arm, CN_SUB, vm_path(CN_SUB), body)
    assert info.value.status_code == 403
    assert writes(arm, vm_path(CN_SUB)) == []


def test_two_spellings_of_one_key_with_different_sizes_fail_closed(gk: Gatekeeper, arm: ArmStandIn) -> None:
    body = {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5", "VMSize": GPU}}}
    with pytest.raises(ExportControlHttpError) as info:
        raw_put(arm, US_SUB, vm_path(US_SUB), body)  # even a verified customer: the request is ambiguous
    assert info.value.code == "ExportControlDenied"
    assert "twice" in info.value.decision.request.unresolved[0]
    assert writes(arm, vm_path(US_SUB)) == []


def test_percent_encoded_and_doubled_path_is_still_recognised(gk: Gatekeeper, arm: ArmStandIn) -> None:
    path = vm_path(CN_SUB).replace("virtualMachines", "virtualMachine%73")
    path = path.replace("/resourceGroups", "//resourceGroups")
    body = {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}}
    with pytest.raises(HttpResponseError):
        raw_put(arm, CN_SUB, path, body)
    assert writes(arm, vm_path(CN_SUB)) == []


# -- subjects ----------------------------------------------------------------------------------------
def test_acting_for_names_the_customer(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    with gatekeeper.acting_for(provider="azure", account_id=CN_SUB.upper()), pytest.raises(HttpResponseError):
        create_vm(arm, US_SUB, GPU)  # the provider's own subscription, on behalf of the China-owned customer
    assert audit.decisions[-1]["account_id"] == CN_SUB
    assert writes(arm, vm_path(US_SUB)) == []


def test_acting_for_another_provider_does_not_apply(gk: Gatekeeper, arm: ArmStandIn) -> None:
    with gatekeeper.acting_for(provider="aws", account_id="222222222222"):
        create_vm(arm, US_SUB, GPU)
    assert len(writes(arm, vm_path(US_SUB))) == 1


def test_subscription_in_the_url_is_compared_case_insensitively(gk: Gatekeeper, arm: ArmStandIn) -> None:
    with pytest.raises(HttpResponseError):
        create_vm(arm, CN_SUB.upper(), GPU)


# -- what is and is not a provisioning change ------------------------------------------------------
def test_tags_only_patch_is_not_a_provisioning_change(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    arm.seed(vm_path(CN_SUB), {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    compute(arm, CN_SUB).virtual_machines.begin_update("rg", "vm1", cm.VirtualMachineUpdate(tags={"a": "b"})).result()
    assert [r.method for r in arm.arrived()] == ["PATCH"]  # no resolving read either
    assert audit.records == []


def test_reads_and_deletes_pass_without_a_decision(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    arm.seed(vm_path(CN_SUB), {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    client = compute(arm, CN_SUB)
    assert client.virtual_machines.get("rg", "vm1").hardware_profile.vm_size == GPU
    client.virtual_machines.begin_delete("rg", "vm1").result()
    assert [r.method for r in arm.arrived()] == ["GET", "DELETE"]
    assert audit.records == []


def test_plain_resize_does_not_read_the_vm(gk: Gatekeeper, arm: ArmStandIn) -> None:
    arm.seed(vm_path(CN_SUB), {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    update = cm.VirtualMachineUpdate(hardware_profile=cm.HardwareProfile(vm_size="Standard_D2s_v5"))
    compute(arm, CN_SUB).virtual_machines.begin_update("rg", "vm1", update).result()
    assert [r.method for r in arm.arrived()] == ["PATCH"]


def test_vm_resize_reads_the_location_it_does_not_carry(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    arm.seed(vm_path(US_SUB), {"location": "West Europe", "properties": {"hardwareProfile": {"vmSize": "x"}}})
    update = cm.VirtualMachineUpdate(hardware_profile=cm.HardwareProfile(vm_size=GPU))
    compute(arm, US_SUB).virtual_machines.begin_update("rg", "vm1", update).result()
    assert [r.method for r in arm.arrived()][:2] == ["GET", "PATCH"]
    assert audit.decisions[-1]["region"] == "westeurope"


def test_scale_set_instance_mix_is_decided_on_every_size(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    ss = cm.VirtualMachineScaleSet(
        location="eastus", sku=cm.Sku(name="Mix", capacity=4),
        sku_profile=cm.SkuProfile(vm_sizes=[cm.SkuProfileVMSize(name="Standard_D4s_v5"),
                                            cm.SkuProfileVMSize(name=GPU)], allocation_strategy="LowestPrice"))
    with pytest.raises(HttpResponseError):
        compute(arm, CN_SUB).virtual_machine_scale_sets.begin_create_or_update("rg", "ss1", ss).result()
    items = audit.decisions[-1]["items"]
    assert {i["instance_type"] for i in items} == {"Standard_D4s_v5", GPU}
    assert {i["choice"] for i in items} == {"properties.skuProfile.vmSizes"}
    assert all(i["count"] == 4 for i in items)


# -- fail closed ----------------------------------------------------------------------------------
def test_capacity_patch_of_a_scale_set_that_does_not_exist_fails_closed(gk: Gatekeeper, arm: ArmStandIn) -> None:
    update = cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=3))
    with pytest.raises(ExportControlHttpError) as info:
        compute(arm, US_SUB).virtual_machine_scale_sets.begin_update("rg", "ss1", update).result()
    assert info.value.code == "ExportControlDenied" and info.value.status_code == 403
    assert "does not exist" in info.value.decision.request.unresolved[0]
    assert [r.method for r in arm.arrived()] == ["GET"]


def test_a_failing_read_fails_closed(gk: Gatekeeper, arm: ArmStandIn) -> None:
    path = rid(US_SUB, "Microsoft.Compute", "virtualMachineScaleSets", "ss1")
    arm.seed(path, {"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": 1}})
    arm.fail_reads = True
    update = cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=3))
    with pytest.raises(ExportControlHttpError) as info:
        compute(arm, US_SUB, retry_total=0).virtual_machine_scale_sets.begin_update("rg", "ss1", update).result()
    assert "HTTP 500" in info.value.decision.request.unresolved[0]
    assert writes(arm, path) == []


@pytest.mark.parametrize("body", [
    '{"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": "lots"}}',
    '{"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": -2}}',
    '{"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": true}}',
    '{"location": "eastus", "sku": {"name": 42, "capacity": 1}}',
    '["not", "an", "object"]',
    'not json at all',
], ids=["word-count", "negative", "bool", "size-not-string", "array", "not-json"])
def test_malformed_bodies_fail_closed(gk: Gatekeeper, arm: ArmStandIn, body: str) -> None:
    path = rid(US_SUB, "Microsoft.Compute", "virtualMachineScaleSets", "ss1")
    with pytest.raises(ExportControlHttpError) as info:
        raw_put(arm, US_SUB, path, body)
    assert info.value.code == "ExportControlDenied"
    assert info.value.decision.request.unresolved
    assert writes(arm, path) == []


def test_agent_pool_without_a_size_that_does_not_exist_fails_closed(gk: Gatekeeper, arm: ArmStandIn) -> None:
    path = rid(US_SUB, "Microsoft.ContainerService", "managedClusters", "aks1", "agentPools", "p1")
    with pytest.raises(ExportControlHttpError):
        raw_put(arm, US_SUB, path, {"properties": {"count": 3}})
    assert writes(arm, path) == []


def test_unknown_subscription_with_gpu_is_not_let_through(gk: Gatekeeper, arm: ArmStandIn) -> None:
    with pytest.raises(HttpResponseError):
        create_vm(arm, UNKNOWN_SUB, GPU)
    assert writes(arm, vm_path(UNKNOWN_SUB)) == []


# -- modes and installation ----------------------------------------------------------------------
def test_shadow_mode_decides_and_audits_but_never_blocks(tmp_path: Path, arm: ArmStandIn) -> None:
    _, audit = make_gatekeeper(tmp_path, mode="shadow")
    try:
        create_vm(arm, CN_SUB, GPU)
        assert len(writes(arm, vm_path(CN_SUB))) == 1
        assert audit.decisions[-1]["decision"] == "pending" and audit.decisions[-1]["mode"] == "shadow"
    finally:
        runtime.reset()


def test_install_protects_clients_created_afterwards_only(gk: Gatekeeper, arm: ArmStandIn) -> None:
    before = compute(arm, CN_SUB, protected=False)
    gatekeeper.azure.install()
    try:
        assert gatekeeper.azure.installed()
        after = compute(arm, CN_SUB, protected=False)
        vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=GPU))
        with pytest.raises(HttpResponseError):
            after.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
        assert writes(arm, vm_path(CN_SUB)) == []
        before.virtual_machines.begin_create_or_update("rg", "vm2", vm).result()  # created before install()
        assert len(writes(arm, vm_path(CN_SUB, "vm2"))) == 1
    finally:
        gatekeeper.azure.uninstall()
    assert not gatekeeper.azure.installed()
    later = compute(arm, CN_SUB, protected=False)
    vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=GPU))
    later.virtual_machines.begin_create_or_update("rg", "vm3", vm).result()
    assert len(writes(arm, vm_path(CN_SUB, "vm3"))) == 1


def test_policy_given_twice_decides_once(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    gatekeeper.azure.install()
    try:
        client = compute(arm, CN_SUB)  # per_call_policies=[policy()] and install(): one policy, one decision
        vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=GPU))
        with pytest.raises(HttpResponseError):
            client.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
    finally:
        gatekeeper.azure.uninstall()
    assert len(audit.decisions) == 1
    assert sum(isinstance(p, GatekeeperPolicy) for p in client._client._pipeline._impl_policies) == 1


def test_async_client_is_protected_too(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    class AsyncToken:
        async def get_token(self, *scopes: str, **kwargs: object) -> object:
            return StaticToken().get_token(*scopes)

        async def close(self) -> None:
            return None

    async def run(sub: str, name: str, size: str) -> None:
        async with AsyncComputeClient(AsyncToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
                                      transport=AsyncioRequestsTransport(connection_verify=arm.ca_file),
                                      per_call_policies=[gatekeeper.azure.async_policy()],
                                      polling_interval=0) as client:
            path = rid(sub, "Microsoft.Compute", "virtualMachineScaleSets", name)
            arm.seed(path, {"location": "eastus", "sku": {"name": size, "capacity": 1}})
            poller = await client.virtual_machine_scale_sets.begin_update(
                "rg", name, cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=5)))
            await poller.result()

    with pytest.raises(HttpResponseError) as info:
        asyncio.run(run(CN_SUB, "ss1", GPU))  # capacity-only: resolved by a GET down the async pipeline
    assert info.value.status_code == 403
    assert writes(arm, rid(CN_SUB, "Microsoft.Compute", "virtualMachineScaleSets", "ss1")) == []
    assert audit.decisions[-1]["items"][0]["count"] == 5
    asyncio.run(run(US_SUB, "ss2", GPU))
    assert writes(arm, rid(US_SUB, "Microsoft.Compute", "virtualMachineScaleSets", "ss2")) == ["PATCH"]


# -- the error contract -------------------------------------------------------------------------
def test_blocked_error_carries_the_arm_error_shape(gk: Gatekeeper, arm: ArmStandIn) -> None:
    with pytest.raises(HttpResponseError) as info:
        create_vm(arm, CN_SUB, GPU)
    err = info.value
    assert isinstance(err, ExportControlHttpError)
    assert err.response is not None and err.response.status_code == 403
    body = err.response.json()
    assert body["error"]["code"] == "ExportLicensePending"
    extra = body["error"]["additionalInfo"][0]
    assert extra["type"] == "Gatekeeper" and extra["info"]["case_id"] == err.case_id
    assert extra["info"]["decision_id"] == err.decision_id
    assert "licence" in err.error.message and "Why:" in err.error.message and "What to do:" in err.error.message
    assert err.decision.outcome.label == "pending"


def test_a_client_given_an_explicit_gatekeeper_uses_it(gk: Gatekeeper, audit: TeeAudit, tmp_path: Path,
                                                        arm: ArmStandIn) -> None:
    own_audit = TeeAudit(open_audit_log(f"file://{tmp_path}/own", signing_key=tmp_path / "own.pem"))
    own = Gatekeeper(gk.config, store=gk.store, audit=own_audit, policies=shipped_policies())
    client = ComputeManagementClient(StaticToken(), CN_SUB, base_url=arm.url, connection_verify=arm.ca_file,
                                     per_call_policies=[gatekeeper.azure.policy(own)], polling_interval=0)
    vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=GPU))
    with pytest.raises(HttpResponseError):
        client.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
    assert own_audit.decisions[-1]["decision"] == "pending"
    assert audit.decisions == []  # not the process-wide runtime
    own_audit.close()


def test_a_translation_bug_fails_closed(gk: Gatekeeper, arm: ArmStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("gatekeeper.adapters.azure._policy.translate", broken)
    with pytest.raises(ExportControlHttpError) as info:
        create_vm(arm, US_SUB, "Standard_D2s_v5")
    assert info.value.code == "ExportControlDenied" and "boom" in info.value.decision.request.unresolved[0]
    assert writes(arm, vm_path(US_SUB)) == []


def test_a_runtime_that_cannot_start_blocks_with_the_sdk_error(
        tmp_path: Path, arm: ArmStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "loose"\n', encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(bad))
    runtime.reset()
    try:
        with pytest.raises(HttpResponseError) as info:
            create_vm(arm, US_SUB, GPU)
    finally:
        runtime.reset()
    err = info.value
    assert err.status_code == 403 and err.error is not None and err.error.code == "ExportControlDenied"
    assert "could not start" in str(err) and "mode" in str(err)
    assert writes(arm, vm_path(US_SUB)) == []
