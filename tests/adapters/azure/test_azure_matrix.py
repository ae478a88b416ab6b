"""The Azure matrix: every decided operation x {China-owned customer, verified US customer, plain size},
driven through the real azure-mgmt clients over HTTPS against the ARM stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from azure.mgmt.containerservice import models as km

from gatekeeper.adapters.azure.testing import ArmStandIn
from gatekeeper.service import Gatekeeper
from tests.adapters.azure.conftest import CN_SUB, GPU, PLAIN, US_SUB, TeeAudit, compute, containers, rid, writes

COMPUTE = "Microsoft.Compute"
AKS = "Microsoft.ContainerService"


@dataclass(frozen=True)
class Op:
    name: str
    target: Callable[[str], str]  # subscription -> the resource id the call writes
    call: Callable[[ArmStandIn, str, str], None]  # (arm, subscription, size)
    count: int


def _vm_create(arm: ArmStandIn, sub: str, size: str) -> None:
    vm = cm.VirtualMachine(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=size))
    compute(arm, sub).virtual_machines.begin_create_or_update("rg", "vm1", vm).result()


def _vm_resize(arm: ArmStandIn, sub: str, size: str) -> None:
    arm.seed(rid(sub, COMPUTE, "virtualMachines", "vm1"),
             {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5"}}})
    update = cm.VirtualMachineUpdate(hardware_profile=cm.HardwareProfile(vm_size=size))
    compute(arm, sub).virtual_machines.begin_update("rg", "vm1", update).result()


def _vmss_create(arm: ArmStandIn, sub: str, size: str) -> None:
    ss = cm.VirtualMachineScaleSet(location="eastus", sku=cm.Sku(name=size, capacity=3))
    compute(arm, sub).virtual_machine_scale_sets.begin_create_or_update("rg", "ss1", ss).result()


def _vmss_scale(arm: ArmStandIn, sub: str, size: str) -> None:
    # The PATCH carries sku.capacity only: the size is the scale set's own, read through the pipeline.
    arm.seed(rid(sub, COMPUTE, "virtualMachineScaleSets", "ss1"), {"location": "eastus", "sku": {"name": size,
                                                                                                 "capacity": 1}})
    update = cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=3))
    compute(arm, sub).virtual_machine_scale_sets.begin_update("rg", "ss1", update).result()


def _vmss_resize(arm: ArmStandIn, sub: str, size: str) -> None:
    arm.seed(rid(sub, COMPUTE, "virtualMachineScaleSets", "ss1"),
             {"location": "eastus", "sku": {"name": "Standard_D2s_v5", "capacity": 3}})
    update = cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(name=size))
    compute(arm, sub).virtual_machine_scale_sets.begin_update("rg", "ss1", update).result()


def _vmss_vm_resize(arm: ArmStandIn, sub: str, size: str) -> None:
    vm = cm.VirtualMachineScaleSetVM(location="eastus", hardware_profile=cm.HardwareProfile(vm_size=size))
    compute(arm, sub).virtual_machine_scale_set_vms.begin_update("rg", "ss1", "0", vm).result()


def _aks_pool(arm: ArmStandIn, sub: str, size: str) -> None:
    # An agent pool has no location of its own: it is its cluster's, read through the pipeline.
    arm.seed(rid(sub, AKS, "managedClusters", "aks1"), {"location": "westeurope", "properties": {}})
    pool = km.AgentPool(vm_size=size, count=2, mode="User")
    containers(arm, sub).agent_pools.begin_create_or_update("rg", "aks1", "gpu", pool).result()


def _aks_cluster(arm: ArmStandIn, sub: str, size: str) -> None:
    cluster = km.ManagedCluster(location="westeurope", dns_prefix="aks1", agent_pool_profiles=[
        km.ManagedClusterAgentPoolProfile(name="system", vm_size="Standard_D2s_v5", count=1, mode="System"),
        km.ManagedClusterAgentPoolProfile(name="gpu", vm_size=size, count=2, mode="User"),
    ])
    containers(arm, sub).managed_clusters.begin_create_or_update("rg", "aks1", cluster).result()


OPS = (
    Op("vm-create", lambda s: rid(s, COMPUTE, "virtualMachines", "vm1"), _vm_create, 1),
    Op("vm-resize", lambda s: rid(s, COMPUTE, "virtualMachines", "vm1"), _vm_resize, 1),
    Op("vmss-create", lambda s: rid(s, COMPUTE, "virtualMachineScaleSets", "ss1"), _vmss_create, 3),
    Op("vmss-scale-capacity-only", lambda s: rid(s, COMPUTE, "virtualMachineScaleSets", "ss1"), _vmss_scale, 3),
    Op("vmss-resize", lambda s: rid(s, COMPUTE, "virtualMachineScaleSets", "ss1"), _vmss_resize, 3),
    Op("vmss-vm-resize", lambda s: rid(s, COMPUTE, "virtualMachineScaleSets", "ss1", "virtualMachines", "0"),
       _vmss_vm_resize, 1),
    Op("aks-agent-pool", lambda s: rid(s, AKS, "managedClusters", "aks1", "agentPools", "gpu"), _aks_pool, 2),
    Op("aks-managed-cluster", lambda s: rid(s, AKS, "managedClusters", "aks1"), _aks_cluster, 2),
)


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_china_owned_customer_is_held_and_nothing_arrives(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn,
                                                          op: Op) -> None:
    with pytest.raises(HttpResponseError) as info:
        op.call(arm, CN_SUB, GPU)
    err = info.value
    assert err.status_code == 403
    assert err.error is not None and err.error.code == "ExportLicensePending"
    case_id = getattr(err, "case_id", None)
    assert case_id and case_id in err.error.message
    assert writes(arm, op.target(CN_SUB)) == []
    record = audit.decisions[-1]
    assert record["decision"] == "pending" and record["case_id"] == case_id
    assert record["account_id"] == CN_SUB
    gpu_items = [i for i in record["items"] if i["accelerated"]]
    assert [(i["instance_type"], i["count"]) for i in gpu_items] == [(GPU, op.count)]
    assert record["region"] in ("eastus", "westeurope")


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_verified_us_customer_arrives(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn, op: Op) -> None:
    op.call(arm, US_SUB, GPU)
    assert len(writes(arm, op.target(US_SUB))) == 1
    assert audit.decisions[-1]["decision"] == "allow"
    assert audit.decisions[-1]["account_id"] == US_SUB


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_plain_size_arrives_for_china_owned_customer(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn,
                                                     op: Op) -> None:
    op.call(arm, CN_SUB, PLAIN)
    assert len(writes(arm, op.target(CN_SUB))) == 1
    assert all(r["decision"] == "allow" for r in audit.decisions)  # plain compute: nothing held
