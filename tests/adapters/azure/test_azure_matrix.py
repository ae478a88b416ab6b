"""The Azure matrix: every decided operation x {China-owned customer, verified US customer, plain size},
driven through the real azure-mgmt clients over HTTPS against the ARM stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.batch import BatchManagementClient
from azure.mgmt.compute import models as cm
from azure.mgmt.containerservice import models as km
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
from azure.mgmt.machinelearningservices import models as mlm
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deploymentstacks import DeploymentStacksClient

from gatekeeper.adapters.azure.testing import ArmStandIn
from gatekeeper.service import Gatekeeper
from tests.adapters.azure.conftest import (
    CN_SUB,
    GPU,
    PLAIN,
    US_SUB,
    TeeAudit,
    compute,
    containers,
    mgmt,
    rid,
    writes,
)

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


def _vm_start(arm: ArmStandIn, sub: str, size: str) -> None:
    # A stopped (deallocated) VM started again: what it is, read through the pipeline, is decided.
    arm.seed(rid(sub, COMPUTE, "virtualMachines", "vm1"),
             {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": size}}})
    compute(arm, sub).virtual_machines.begin_start("rg", "vm1").result()


def _vmss_start(arm: ArmStandIn, sub: str, size: str) -> None:
    arm.seed(rid(sub, COMPUTE, "virtualMachineScaleSets", "ss1"), {"location": "eastus", "sku": {"name": size,
                                                                                                 "capacity": 3}})
    compute(arm, sub).virtual_machine_scale_sets.begin_start("rg", "ss1").result()


def _aks_pool_scale(arm: ArmStandIn, sub: str, size: str) -> None:
    # An existing pool scaled out and moved to another size: the SDK sends the whole pool again.
    arm.seed(rid(sub, AKS, "managedClusters", "aks1"), {"location": "westeurope", "properties": {}})
    arm.seed(rid(sub, AKS, "managedClusters", "aks1", "agentPools", "gpu"),
             {"properties": {"vmSize": "Standard_D4s_v5", "count": 1, "mode": "User"}})
    client = containers(arm, sub)
    pool = client.agent_pools.get("rg", "aks1", "gpu")
    pool.count, pool.vm_size, pool.enable_auto_scaling, pool.max_count = 2, size, True, 5
    client.agent_pools.begin_create_or_update("rg", "aks1", "gpu", pool).result()


def _aks_cluster(arm: ArmStandIn, sub: str, size: str) -> None:
    cluster = km.ManagedCluster(location="westeurope", dns_prefix="aks1", agent_pool_profiles=[
        km.ManagedClusterAgentPoolProfile(name="system", vm_size="Standard_D2s_v5", count=1, mode="System"),
        km.ManagedClusterAgentPoolProfile(name="gpu", vm_size=size, count=2, mode="User"),
    ])
    containers(arm, sub).managed_clusters.begin_create_or_update("rg", "aks1", cluster).result()


def _reservation(arm: ArmStandIn, sub: str, size: str) -> None:
    res = cm.CapacityReservation(location="eastus", sku=cm.Sku(name=size, capacity=4))
    compute(arm, sub).capacity_reservations.begin_create_or_update("rg", "crg", "res1", res).result()


def _batch_pool(arm: ArmStandIn, sub: str, size: str) -> None:
    arm.seed(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct",
             {"location": "eastus"})
    pool = {"properties": {"vmSize": size, "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 3,
                                                                             "targetLowPriorityNodes": 2}}}}
    mgmt(BatchManagementClient, arm, sub).pool.create("rg", "acct", "pool1", pool)


def _batch_resize(arm: ArmStandIn, sub: str, size: str) -> None:
    # PATCH of the node counts only: the size is the pool's own, read through the pipeline.
    arm.seed(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct",
             {"location": "eastus"})
    arm.seed(rid(sub, "Microsoft.Batch", "batchAccounts", "acct", "pools", "pool1"),
             {"properties": {"vmSize": size, "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 0}}}})
    patch = {"properties": {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 5}}}}
    mgmt(BatchManagementClient, arm, sub).pool.update("rg", "acct", "pool1", patch)


def _aml_cluster(arm: ArmStandIn, sub: str, size: str) -> None:
    compute_ = mlm.ComputeResource(location="eastus", properties=mlm.AmlCompute(
        properties=mlm.AmlComputeProperties(vm_size=size, scale_settings=mlm.ScaleSettings(max_node_count=6))))
    client = mgmt(MachineLearningServicesMgmtClient, arm, sub)
    client.machine_learning_compute.begin_create_or_update("rg", "ws", "cluster1", compute_).result()


def _aml_scale(arm: ArmStandIn, sub: str, size: str) -> None:
    arm.seed(rid(sub, "Microsoft.MachineLearningServices", "workspaces", "ws", "computes", "cluster1"),
             {"location": "eastus", "properties": {"computeType": "AmlCompute", "properties": {
                 "vmSize": size, "scaleSettings": {"maxNodeCount": 1}}}})
    update = mlm.ClusterUpdateParameters(scale_settings=mlm.ScaleSettings(max_node_count=6))
    client = mgmt(MachineLearningServicesMgmtClient, arm, sub)
    client.machine_learning_compute.begin_update("rg", "ws", "cluster1", update).result()


def _aml_instance(arm: ArmStandIn, sub: str, size: str) -> None:
    compute_ = mlm.ComputeResource(location="eastus", properties=mlm.ComputeInstance(
        properties=mlm.ComputeInstanceProperties(vm_size=size)))
    client = mgmt(MachineLearningServicesMgmtClient, arm, sub)
    client.machine_learning_compute.begin_create_or_update("rg", "ws", "ci1", compute_).result()


def vm_template(count: int = 2) -> dict[str, object]:
    """A template as Bicep compiles one: a parameter for the size, a copy loop, the RG's location."""
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"size": {"type": "string"}, "count": {"type": "int", "defaultValue": count}},
        "variables": {"prefix": "gpu"},
        "resources": [{
            "type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-07-01",
            "name": "[format('{0}-{1}', variables('prefix'), copyIndex())]",
            "location": "[resourceGroup().location]",
            "copy": {"name": "vms", "count": "[parameters('count')]"},
            "properties": {"hardwareProfile": {"vmSize": "[parameters('size')]"}},
        }],
    }


def _seed_rg(arm: ArmStandIn, sub: str) -> None:
    arm.seed(f"/subscriptions/{sub}/resourceGroups/rg", {"location": "eastus"})


def _deployment(arm: ArmStandIn, sub: str, size: str) -> None:
    _seed_rg(arm, sub)
    body = {"properties": {"mode": "Incremental", "template": vm_template(),
                           "parameters": {"size": {"value": size}}}}
    mgmt(DeploymentsMgmtClient, arm, sub).deployments.begin_create_or_update("rg", "dep1", body).result()


def _deployment_what_if(arm: ArmStandIn, sub: str, size: str) -> None:
    _seed_rg(arm, sub)
    body = {"properties": {"mode": "Incremental", "template": vm_template(),
                           "parameters": {"size": {"value": size}}}}
    mgmt(DeploymentsMgmtClient, arm, sub).deployments.begin_what_if("rg", "dep1", body).result()


def _deployment_validate(arm: ArmStandIn, sub: str, size: str) -> None:
    _seed_rg(arm, sub)
    body = {"properties": {"mode": "Incremental", "template": vm_template(),
                           "parameters": {"size": {"value": size}}}}
    mgmt(DeploymentsMgmtClient, arm, sub).deployments.begin_validate("rg", "dep1", body).result()


def _subscription_deployment(arm: ArmStandIn, sub: str, size: str) -> None:
    # A subscription-scope deployment nesting a resource-group deployment (inner scope, parameters passed).
    _seed_rg(arm, sub)
    nested = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
              "resourceGroup": "rg", "properties": {
                  "mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                  "parameters": {"size": {"value": "[parameters('outerSize')]"}}, "template": vm_template()}}
    template = {"parameters": {"outerSize": {"type": "string"}}, "resources": [nested]}
    body = {"location": "eastus", "properties": {"mode": "Incremental", "template": template,
                                                 "parameters": {"outerSize": {"value": size}}}}
    client = mgmt(DeploymentsMgmtClient, arm, sub)
    client.deployments.begin_create_or_update_at_subscription_scope("dep1", body).result()


def _stack(arm: ArmStandIn, sub: str, size: str) -> None:
    _seed_rg(arm, sub)
    body = {"properties": {"template": vm_template(), "parameters": {"size": {"value": size}},
                           "actionOnUnmanage": {"resources": "detach"}, "denySettings": {"mode": "none"}}}
    client = mgmt(DeploymentStacksClient, arm, sub)
    client.deployment_stacks.begin_create_or_update_at_resource_group("rg", "stack1", body).result()


def _arm_batch(arm: ArmStandIn, sub: str, size: str) -> None:
    # ARM's /batch: each inner request is decided as if sent alone.
    from azure.core.rest import HttpRequest

    vm = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
    body = {"requests": [
        {"httpMethod": "GET", "name": "r0", "url": f"/subscriptions/{sub}/resourceGroups?api-version=2021-04-01"},
        {"httpMethod": "PUT", "name": "r1", "url": f"{vm}?api-version=2024-07-01",
         "content": {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": size}}}},
    ]}
    client = compute(arm, sub)
    response = client._client.send_request(HttpRequest("POST", f"{arm.url}/batch?api-version=2020-06-01", json=body))
    response.raise_for_status()


def _deployment_target(name: str, scope: str = "rg") -> Callable[[str], str]:
    def target(s: str) -> str:
        base = f"/subscriptions/{s}/resourceGroups/rg/providers" if scope == "rg" else f"/subscriptions/{s}/providers"
        return f"{base}/Microsoft.Resources/{name}"
    return target


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
    Op("aks-agent-pool-scale-and-resize", lambda s: rid(s, AKS, "managedClusters", "aks1", "agentPools", "gpu"),
       _aks_pool_scale, 5),
    Op("vm-start", lambda s: rid(s, COMPUTE, "virtualMachines", "vm1") + "/start", _vm_start, 1),
    Op("vmss-start", lambda s: rid(s, COMPUTE, "virtualMachineScaleSets", "ss1") + "/start", _vmss_start, 3),
    Op("capacity-reservation", lambda s: rid(s, COMPUTE, "capacityReservationGroups", "crg", "capacityReservations",
                                             "res1"), _reservation, 4),
    Op("batch-pool", lambda s: rid(s, "Microsoft.Batch", "batchAccounts", "acct", "pools", "pool1"), _batch_pool, 5),
    Op("batch-pool-resize", lambda s: rid(s, "Microsoft.Batch", "batchAccounts", "acct", "pools", "pool1"),
       _batch_resize, 5),
    Op("aml-compute-cluster", lambda s: rid(s, "Microsoft.MachineLearningServices", "workspaces", "ws", "computes",
                                            "cluster1"), _aml_cluster, 6),
    Op("aml-compute-scale", lambda s: rid(s, "Microsoft.MachineLearningServices", "workspaces", "ws", "computes",
                                          "cluster1"), _aml_scale, 6),
    Op("aml-compute-instance", lambda s: rid(s, "Microsoft.MachineLearningServices", "workspaces", "ws", "computes",
                                             "ci1"), _aml_instance, 1),
    Op("arm-deployment", _deployment_target("deployments/dep1"), _deployment, 2),
    Op("arm-deployment-subscription-nested", _deployment_target("deployments/dep1", "sub"), _subscription_deployment,
       2),
    Op("deployment-stack", _deployment_target("deploymentStacks/stack1"), _stack, 2),
    Op("arm-batch", lambda s: "/batch", _arm_batch, 1),
)

# Pre-flight actions: decided (and blocked) like the deployment, but they write nothing themselves.
PREFLIGHT = (
    Op("arm-deployment-what-if", _deployment_target("deployments/dep1/whatIf"), _deployment_what_if, 2),
    Op("arm-deployment-validate", _deployment_target("deployments/dep1/validate"), _deployment_validate, 2),
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


def test_a_batch_pool_sized_by_an_autoscale_formula_is_held_with_the_reason(gk: Gatekeeper, audit: TeeAudit,
                                                                            arm: ArmStandIn) -> None:
    arm.seed(f"/subscriptions/{US_SUB}/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct",
             {"location": "eastus"})
    pool = {"properties": {"vmSize": GPU, "scaleSettings": {"autoScale": {"formula": "$TargetDedicatedNodes=8"}}}}
    with pytest.raises(HttpResponseError):
        mgmt(BatchManagementClient, arm, US_SUB).pool.create("rg", "acct", "auto", pool)
    assert any("autoscale formula" in u for u in audit.decisions[-1]["request"]["unresolved"])
    plain = {"properties": {"vmSize": PLAIN, "scaleSettings": {"autoScale": {"formula": "$TargetDedicatedNodes=8"}}}}
    mgmt(BatchManagementClient, arm, US_SUB).pool.create("rg", "acct", "plain", plain)  # plain: no count needed
    assert len(writes(arm, rid(US_SUB, "Microsoft.Batch", "batchAccounts", "acct", "pools", "plain"))) == 1


def test_an_attached_cluster_compute_provisions_nothing_itself(gk: Gatekeeper, audit: TeeAudit,
                                                                  arm: ArmStandIn) -> None:
    # An existing AKS cluster attached to the workspace (computeType AKS; Kubernetes in later API versions):
    # its pools are decided as pools, the attachment runs nothing.
    attached = mlm.ComputeResource(location="eastus", properties=mlm.AKS(
        resource_id=rid(CN_SUB, AKS, "managedClusters", "aks1")))
    client = mgmt(MachineLearningServicesMgmtClient, arm, CN_SUB)
    client.machine_learning_compute.begin_create_or_update("rg", "ws", "k8s", attached).result()
    assert len(writes(arm, rid(CN_SUB, "Microsoft.MachineLearningServices", "workspaces", "ws", "computes",
                               "k8s"))) == 1
    assert audit.decisions == []
