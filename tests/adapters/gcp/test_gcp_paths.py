"""Google Cloud paths beyond instances and GKE: managed instance groups (zonal and regional: insert,
patch, resize, createInstances, setInstanceTemplate, resize requests), reservations and future
reservations, Cloud TPU nodes (created and started again) and queued resources, Vertex AI custom
jobs, tuning jobs, model deployments and persistent resources. Each x {China-owned customer held and
nothing sent, verified US customer sent, plain compute sent}, through the real google-cloud-compute /
-tpu / -aiplatform clients over HTTP against the stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core.exceptions import PermissionDenied
from google.cloud import aiplatform_v1 as v
from google.cloud import compute_v1 as c
from google.cloud import tpu_v2 as t

import gatekeeper
from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.service import Gatekeeper
from tests.adapters.gcp.conftest import CN_PROJECT, GPU, PLAIN, REGION, US_PROJECT, ZONE, TeeAudit, options, writes

A100 = "NVIDIA_TESLA_A100"


@dataclass(frozen=True)
class Op:
    name: str
    target: str  # a path fragment of the write the call makes
    call: Callable[[GcpStandIn, str, bool], None]  # (server, project, accelerated?)
    expect: tuple[str, int]  # the accelerated item: (machine type, count)
    plain: bool = True  # whether the call has a plain variant


def _client(cls: Any, server: GcpStandIn, **kw: Any) -> Any:
    return gatekeeper.gcp.protect(cls(**options(server), **kw))


def _seed_templates(server: GcpStandIn, project: str) -> None:
    for name, machine in (("t-gpu", GPU), ("t-plain", PLAIN)):
        server.seed(f"/compute/v1/projects/{project}/global/instanceTemplates/{name}",
                    {"name": name, "properties": {"machineType": machine}})


def _tpl(gpu: bool) -> str:
    return "global/instanceTemplates/" + ("t-gpu" if gpu else "t-plain")


def _seed_mig(server: GcpStandIn, project: str, gpu: bool, size: int = 1, regional: bool = False,
              template: str | None = None) -> None:
    _seed_templates(server, project)
    where = f"regions/{REGION}" if regional else f"zones/{ZONE}"
    server.seed(f"/compute/v1/projects/{project}/{where}/instanceGroupManagers/m1",
                {"name": "m1", "instanceTemplate": template or _tpl(gpu), "targetSize": size})


def _mig_insert(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_templates(server, p)
    _client(c.InstanceGroupManagersClient, server).insert(
        project=p, zone=ZONE, instance_group_manager_resource=c.InstanceGroupManager(
            name="m1", base_instance_name="w", instance_template=_tpl(gpu), target_size=3))


def _region_mig_insert(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_templates(server, p)
    _client(c.RegionInstanceGroupManagersClient, server).insert(
        project=p, region=REGION, instance_group_manager_resource=c.InstanceGroupManager(
            name="m1", base_instance_name="w", versions=[c.InstanceGroupManagerVersion(
                name="v1", instance_template=_tpl(gpu))], target_size=3))


def _mig_resize(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, gpu)
    _client(c.InstanceGroupManagersClient, server).resize(project=p, zone=ZONE, instance_group_manager="m1", size=4)


def _region_mig_resize(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, gpu, regional=True)
    _client(c.RegionInstanceGroupManagersClient, server).resize(project=p, region=REGION,
                                                                instance_group_manager="m1", size=4)


def _mig_create_instances(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, gpu, size=1)
    _client(c.InstanceGroupManagersClient, server).create_instances(
        project=p, zone=ZONE, instance_group_manager="m1",
        instance_group_managers_create_instances_request_resource=c.InstanceGroupManagersCreateInstancesRequest(
            instances=[c.PerInstanceConfig(name="a"), c.PerInstanceConfig(name="b")]))


def _mig_set_template(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, False, size=2)  # a plain group switched to the other template
    _client(c.InstanceGroupManagersClient, server).set_instance_template(
        project=p, zone=ZONE, instance_group_manager="m1",
        instance_group_managers_set_instance_template_request_resource=(
            c.InstanceGroupManagersSetInstanceTemplateRequest(instance_template=_tpl(gpu))))


def _mig_patch(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, gpu, size=1)
    _client(c.InstanceGroupManagersClient, server).patch(
        project=p, zone=ZONE, instance_group_manager="m1",
        instance_group_manager_resource=c.InstanceGroupManager(target_size=5))


def _mig_resize_request(server: GcpStandIn, p: str, gpu: bool) -> None:
    _seed_mig(server, p, gpu, size=1)
    _client(c.InstanceGroupManagerResizeRequestsClient, server).insert(
        project=p, zone=ZONE, instance_group_manager="m1",
        instance_group_manager_resize_request_resource=c.InstanceGroupManagerResizeRequest(name="rr", resize_by=2))


def _reservation(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(c.ReservationsClient, server).insert(project=p, zone=ZONE, reservation_resource=c.Reservation(
        name="r1", specific_reservation=c.AllocationSpecificSKUReservation(
            count=2, instance_properties=c.AllocationSpecificSKUAllocationReservedInstanceProperties(
                machine_type=GPU if gpu else PLAIN))))


def _reservation_resize(server: GcpStandIn, p: str, gpu: bool) -> None:
    server.seed(f"/compute/v1/projects/{p}/zones/{ZONE}/reservations/r1", {"name": "r1", "specificReservation": {
        "count": "1", "instanceProperties": {"machineType": GPU if gpu else PLAIN}}})
    _client(c.ReservationsClient, server).resize(
        project=p, zone=ZONE, reservation="r1",
        reservations_resize_request_resource=c.ReservationsResizeRequest(specific_sku_count=6))


def _future_reservation(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(c.FutureReservationsClient, server).insert(
        project=p, zone=ZONE, future_reservation_resource=c.FutureReservation(
            name="f1", specific_sku_properties=c.FutureReservationSpecificSKUProperties(
                total_count=4, instance_properties=c.AllocationSpecificSKUAllocationReservedInstanceProperties(
                    machine_type=GPU if gpu else PLAIN))))


def _tpu_node(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(t.TpuClient, server, transport="rest").create_node(
        parent=f"projects/{p}/locations/{ZONE}", node_id="n1",
        node=t.Node(accelerator_type="v5p-8", runtime_version="v2-alpha-tpuv5"))


def _tpu_start(server: GcpStandIn, p: str, gpu: bool) -> None:
    """A stopped node started again (as after the hook's remediation): decided on the node as it is."""
    name = f"projects/{p}/locations/{ZONE}/nodes/n1"
    server.seed(f"/v2/{name}", {"name": name, "acceleratorType": "v5p-8", "state": "STOPPED"})
    _client(t.TpuClient, server, transport="rest").start_node(request=t.StartNodeRequest(name=name))


def _tpu_queued(server: GcpStandIn, p: str, gpu: bool) -> None:
    spec = t.QueuedResource.Tpu.NodeSpec(parent=f"projects/{p}/locations/{ZONE}", node=t.Node(
        accelerator_config=t.AcceleratorConfig(type_=t.AcceleratorConfig.Type.V5P, topology="2x2x1"),
        runtime_version="v2-alpha-tpuv5"), multislice_params=t.QueuedResource.Tpu.NodeSpec.MultisliceParams(
            node_count=2))
    _client(t.TpuClient, server, transport="rest").create_queued_resource(
        parent=f"projects/{p}/locations/{ZONE}", queued_resource_id="q1",
        queued_resource=t.QueuedResource(tpu=t.QueuedResource.Tpu(node_spec=[spec])))


def _machine(gpu: bool) -> v.MachineSpec:
    return v.MachineSpec(machine_type=GPU, accelerator_type=A100, accelerator_count=1) if gpu else \
        v.MachineSpec(machine_type=PLAIN)


def _custom_job(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(v.JobServiceClient, server, transport="rest").create_custom_job(
        parent=f"projects/{p}/locations/{REGION}", custom_job=v.CustomJob(display_name="j", job_spec=v.CustomJobSpec(
            worker_pool_specs=[v.WorkerPoolSpec(machine_spec=_machine(gpu), replica_count=2)])))


def _tuning_job(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(v.JobServiceClient, server, transport="rest").create_hyperparameter_tuning_job(
        parent=f"projects/{p}/locations/{REGION}", hyperparameter_tuning_job=v.HyperparameterTuningJob(
            display_name="h", max_trial_count=9, parallel_trial_count=3, trial_job_spec=v.CustomJobSpec(
                worker_pool_specs=[v.WorkerPoolSpec(machine_spec=_machine(gpu), replica_count=2)])))


def _deploy_model(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(v.EndpointServiceClient, server, transport="rest").deploy_model(
        endpoint=f"projects/{p}/locations/{REGION}/endpoints/e1", deployed_model=v.DeployedModel(
            model=f"projects/{p}/locations/{REGION}/models/m", dedicated_resources=v.DedicatedResources(
                machine_spec=_machine(gpu), min_replica_count=1, max_replica_count=3)))


def _persistent(server: GcpStandIn, p: str, gpu: bool) -> None:
    _client(v.PersistentResourceServiceClient, server, transport="rest").create_persistent_resource(
        parent=f"projects/{p}/locations/{REGION}", persistent_resource_id="pr1",
        persistent_resource=v.PersistentResource(resource_pools=[v.ResourcePool(
            machine_spec=_machine(gpu), replica_count=1, autoscaling_spec=v.ResourcePool.AutoscalingSpec(
                min_replica_count=1, max_replica_count=4))]))


def _start(server: GcpStandIn, p: str, gpu: bool) -> None:
    server.seed(f"/compute/v1/projects/{p}/zones/{ZONE}/instances/vm1",
                {"name": "vm1", "machineType": f"zones/{ZONE}/machineTypes/{GPU if gpu else PLAIN}",
                 "status": "TERMINATED"})
    _client(c.InstancesClient, server).start(project=p, zone=ZONE, instance="vm1")


def _resume(server: GcpStandIn, p: str, gpu: bool) -> None:
    server.seed(f"/compute/v1/projects/{p}/zones/{ZONE}/instances/vm1",
                {"name": "vm1", "machineType": GPU if gpu else PLAIN, "status": "SUSPENDED"})
    _client(c.InstancesClient, server).resume(project=p, zone=ZONE, instance="vm1")


MIG = f"/zones/{ZONE}/instanceGroupManagers"
OPS = (
    Op("instances.start", "/instances/vm1/start", _start, (GPU, 1)),
    Op("instances.resume", "/instances/vm1/resume", _resume, (GPU, 1)),
    Op("instanceGroupManagers.insert", MIG, _mig_insert, (GPU, 3)),
    Op("regionInstanceGroupManagers.insert", f"/regions/{REGION}/instanceGroupManagers", _region_mig_insert, (GPU, 3)),
    Op("instanceGroupManagers.resize", f"{MIG}/m1/resize", _mig_resize, (GPU, 4)),
    Op("regionInstanceGroupManagers.resize", f"/regions/{REGION}/instanceGroupManagers/m1/resize",
       _region_mig_resize, (GPU, 4)),
    Op("instanceGroupManagers.createInstances", "/createInstances", _mig_create_instances, (GPU, 3)),
    Op("instanceGroupManagers.setInstanceTemplate", "/setInstanceTemplate", _mig_set_template, (GPU, 2)),
    Op("instanceGroupManagers.patch", f"{MIG}/m1", _mig_patch, (GPU, 5)),
    Op("instanceGroupManagerResizeRequests.insert", "/resizeRequests", _mig_resize_request, (GPU, 3)),
    Op("reservations.insert", f"/zones/{ZONE}/reservations", _reservation, (GPU, 2)),
    Op("reservations.resize", "/reservations/r1/resize", _reservation_resize, (GPU, 6)),
    Op("futureReservations.insert", "/futureReservations", _future_reservation, (GPU, 4)),
    Op("tpu.nodes.create", "/nodes", _tpu_node, ("", 1), plain=False),
    Op("tpu.nodes.start", "/nodes/n1:start", _tpu_start, ("", 1), plain=False),
    Op("tpu.queuedResources.create", "/queuedResources", _tpu_queued, ("", 2), plain=False),
    Op("vertex.customJobs.create", "/customJobs", _custom_job, (GPU, 2)),
    Op("vertex.hyperparameterTuningJobs.create", "/hyperparameterTuningJobs", _tuning_job, (GPU, 6)),
    Op("vertex.endpoints.deployModel", ":deployModel", _deploy_model, (GPU, 3)),
    Op("vertex.persistentResources.create", "/persistentResources", _persistent, (GPU, 4)),
)


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_china_owned_customer_is_held_and_nothing_arrives(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                          op: Op) -> None:
    with pytest.raises(PermissionDenied) as info:
        op.call(gcp, CN_PROJECT, True)
    assert info.value.reason == "ExportLicensePending"
    assert writes(gcp, op.target) == []
    record = audit.decisions[-1]
    assert record["decision"] == "pending" and record["account_id"] == CN_PROJECT
    assert [(i["instance_type"], i["count"]) for i in record["items"] if i["accelerated"]] == [op.expect]
    assert record["region"] == REGION
    assert not record["request"].get("unresolved")  # v2 records leave empty lists out


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_verified_us_customer_arrives(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn, op: Op) -> None:
    op.call(gcp, US_PROJECT, True)
    assert len(writes(gcp, op.target)) == 1
    assert audit.decisions[-1]["decision"] == "allow" and audit.decisions[-1]["account_id"] == US_PROJECT


@pytest.mark.parametrize("op", [o for o in OPS if o.plain], ids=[o.name for o in OPS if o.plain])
def test_plain_compute_arrives_for_china_owned_customer(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                        op: Op) -> None:
    op.call(gcp, CN_PROJECT, False)
    assert len(writes(gcp, op.target)) == 1
    assert all(r["decision"] == "allow" for r in audit.decisions)


def test_tpu_chips_come_from_the_slice_or_the_topology(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    with pytest.raises(PermissionDenied):
        _tpu_node(gcp, CN_PROJECT, True)
    [acc] = audit.decisions[-1]["items"][0]["accelerators"]
    assert acc["model"] == "TPU-v5p" and acc["per_instance"] == 4  # v5p-8: 8 TensorCores, 4 chips
    with pytest.raises(PermissionDenied):
        _tpu_queued(gcp, CN_PROJECT, True)
    [acc] = audit.decisions[-1]["items"][0]["accelerators"]
    assert acc["model"] == "TPU-v5p" and acc["per_instance"] == 4 and acc["total"] == 8  # 2x2x1 x 2 slices


@pytest.mark.parametrize("call, why", [
    (lambda g: _client(c.InstanceGroupManagersClient, g).resize(project=US_PROJECT, zone=ZONE,
                                                                instance_group_manager="nope", size=4),
     "does not exist"),
    (lambda g: _client(t.TpuClient, g, transport="rest").create_node(
        parent=f"projects/{US_PROJECT}/locations/{ZONE}", node_id="n", node=t.Node(accelerator_type="huge")),
     "is not a TPU slice"),
    (lambda g: _client(t.TpuClient, g, transport="rest").start_node(request=t.StartNodeRequest(
        name=f"projects/{US_PROJECT}/locations/{ZONE}/nodes/gone")), "does not exist"),
    (lambda g: _client(t.TpuClient, g, transport="rest").start_node(request=t.StartNodeRequest(
        name=f"projects/{US_PROJECT}/locations/{ZONE}/nodes/a/b")), "is not projects/P/locations/L/nodes/N"),
])
def test_what_cannot_be_read_is_denied_with_the_reason(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                       call: Callable[[GcpStandIn], Any], why: str) -> None:
    with pytest.raises(PermissionDenied):
        call(gcp)
    assert any(why in u for u in audit.decisions[-1]["request"]["unresolved"])


def test_protect_accepts_tpu_and_vertex_clients(gcp: GcpStandIn) -> None:
    for cls in (t.TpuClient, v.JobServiceClient, v.EndpointServiceClient, v.PersistentResourceServiceClient,
                c.InstanceGroupManagersClient, c.ReservationsClient):
        client = cls(**options(gcp), transport="rest")
        assert gatekeeper.gcp.protect(client) is client


def test_install_covers_groups_tpu_and_vertex_clients(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    gatekeeper.gcp.install()
    try:
        _seed_templates(gcp, CN_PROJECT)
        groups = c.InstanceGroupManagersClient(**options(gcp))
        with pytest.raises(PermissionDenied):
            groups.insert(project=CN_PROJECT, zone=ZONE, instance_group_manager_resource=c.InstanceGroupManager(
                name="m", base_instance_name="w", instance_template=_tpl(True), target_size=1))
        with pytest.raises(PermissionDenied):
            t.TpuClient(transport="rest", **options(gcp)).create_node(
                parent=f"projects/{CN_PROJECT}/locations/{ZONE}", node_id="n", node=t.Node(accelerator_type="v4-8"))
        with pytest.raises(PermissionDenied):
            v.JobServiceClient(transport="rest", **options(gcp)).create_custom_job(
                parent=f"projects/{CN_PROJECT}/locations/{REGION}", custom_job=v.CustomJob(
                    display_name="j", job_spec=v.CustomJobSpec(worker_pool_specs=[v.WorkerPoolSpec(
                        machine_spec=_machine(True), replica_count=1)])))
    finally:
        gatekeeper.gcp.uninstall()
    assert gcp.arrived("POST") == []
