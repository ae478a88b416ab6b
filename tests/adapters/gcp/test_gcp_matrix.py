"""The Google Cloud matrix: every decided operation x {China-owned customer, verified US customer, plain
machine type}, driven through the real google-cloud-compute / google-cloud-container clients over
HTTP against the stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from google.api_core.exceptions import PermissionDenied
from google.cloud import compute_v1 as c
from google.cloud import container_v1 as k

from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.service import Gatekeeper
from tests.adapters.gcp.conftest import (
    CN_PROJECT,
    GPU,
    PLAIN,
    REGION,
    US_PROJECT,
    ZONE,
    TeeAudit,
    gke,
    instances,
    region_instances,
    region_templates,
    templates,
    writes,
)


@dataclass(frozen=True)
class Op:
    name: str
    target: str  # a path fragment of the write the call makes
    call: Callable[[GcpStandIn, str, str], None]  # (server, project, machine type)
    count: int
    region: str


def _mt(size: str) -> str:
    return f"zones/{ZONE}/machineTypes/{size}"


def _insert(s: GcpStandIn, p: str, size: str) -> None:
    instances(s).insert(project=p, zone=ZONE, instance_resource=c.Instance(name="vm1", machine_type=_mt(size)))


def _update(s: GcpStandIn, p: str, size: str) -> None:
    s.seed(f"/compute/v1/projects/{p}/zones/{ZONE}/instances/vm1", {"name": "vm1", "machineType": _mt("e2-small")})
    instances(s).update(project=p, zone=ZONE, instance="vm1",
                        instance_resource=c.Instance(name="vm1", machine_type=_mt(size)))


def _set_machine_type(s: GcpStandIn, p: str, size: str) -> None:
    s.seed(f"/compute/v1/projects/{p}/zones/{ZONE}/instances/vm1", {"name": "vm1", "machineType": _mt("e2-small")})
    instances(s).set_machine_type(project=p, zone=ZONE, instance="vm1",
                                  instances_set_machine_type_request_resource=c.InstancesSetMachineTypeRequest(
                                      machine_type=_mt(size)))


def _bulk(s: GcpStandIn, p: str, size: str) -> None:
    instances(s).bulk_insert(project=p, zone=ZONE, bulk_insert_instance_resource_resource=c.BulkInsertInstanceResource(
        count=3, name_pattern="vm-###", instance_properties=c.InstanceProperties(machine_type=size)))


def _region_bulk(s: GcpStandIn, p: str, size: str) -> None:
    region_instances(s).bulk_insert(
        project=p, region=REGION, bulk_insert_instance_resource_resource=c.BulkInsertInstanceResource(
            count=3, name_pattern="vm-###", instance_properties=c.InstanceProperties(machine_type=size)))


def _template(s: GcpStandIn, p: str, size: str) -> None:
    templates(s).insert(project=p, instance_template_resource=c.InstanceTemplate(
        name="t1", properties=c.InstanceProperties(machine_type=size)))


def _region_template(s: GcpStandIn, p: str, size: str) -> None:
    region_templates(s).insert(project=p, region=REGION, instance_template_resource=c.InstanceTemplate(
        name="t1", properties=c.InstanceProperties(machine_type=size)))


def _parent(p: str) -> str:
    return f"projects/{p}/locations/{ZONE}/clusters/c1"


def _node_pool(s: GcpStandIn, p: str, size: str) -> None:
    gke(s).create_node_pool(request=k.CreateNodePoolRequest(parent=_parent(p), node_pool=k.NodePool(
        name="np1", initial_node_count=2, config=k.NodeConfig(machine_type=size))))


def _cluster(s: GcpStandIn, p: str, size: str) -> None:
    gke(s).create_cluster(request=k.CreateClusterRequest(parent=f"projects/{p}/locations/{ZONE}", cluster=k.Cluster(
        name="c1", node_pools=[k.NodePool(name="np1", initial_node_count=2, config=k.NodeConfig(machine_type=size))])))


def _seed_pool(s: GcpStandIn, p: str, size: str) -> str:
    name = f"{_parent(p)}/nodePools/np1"
    s.seed(f"/v1/{name}", {"name": "np1", "initialNodeCount": 1, "config": {"machineType": size}})
    return name


def _update_pool(s: GcpStandIn, p: str, size: str) -> None:
    name = _seed_pool(s, p, "e2-standard-4")
    s.resources[f"/v1/{name}"]["initialNodeCount"] = 2
    gke(s).update_node_pool(request=k.UpdateNodePoolRequest(name=name, machine_type=size, node_version="latest",
                                                            image_type="COS_CONTAINERD"))


def _resize_pool(s: GcpStandIn, p: str, size: str) -> None:
    name = _seed_pool(s, p, size)
    gke(s).set_node_pool_size(request=k.SetNodePoolSizeRequest(name=name, node_count=2))


def _autoscale_pool(s: GcpStandIn, p: str, size: str) -> None:
    name = _seed_pool(s, p, size)
    gke(s).set_node_pool_autoscaling(request=k.SetNodePoolAutoscalingRequest(
        name=name, autoscaling=k.NodePoolAutoscaling(enabled=True, min_node_count=0, max_node_count=2)))


OPS = (
    Op("instances.insert", "/instances", _insert, 1, REGION),
    Op("instances.update", "/instances/vm1", _update, 1, REGION),
    Op("instances.setMachineType", "/setMachineType", _set_machine_type, 1, REGION),
    Op("instances.bulkInsert", "/instances/bulkInsert", _bulk, 3, REGION),
    Op("regionInstances.bulkInsert", f"/regions/{REGION}/instances/bulkInsert", _region_bulk, 3, REGION),
    Op("instanceTemplates.insert", "/global/instanceTemplates", _template, 1, ""),
    Op("regionInstanceTemplates.insert", f"/regions/{REGION}/instanceTemplates", _region_template, 1, REGION),
    Op("gke.createNodePool", "/nodePools", _node_pool, 2, REGION),
    Op("gke.createCluster", "/clusters", _cluster, 2, REGION),
    Op("gke.updateNodePool", "/nodePools/np1", _update_pool, 2, REGION),
    Op("gke.setNodePoolSize", ":setSize", _resize_pool, 2, REGION),
    Op("gke.setNodePoolAutoscaling", ":setAutoscaling", _autoscale_pool, 2, REGION),
)


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_china_owned_customer_is_held_and_nothing_arrives(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                          op: Op) -> None:
    with pytest.raises(PermissionDenied) as info:
        op.call(gcp, CN_PROJECT, GPU)
    err = info.value
    assert err.code == 403 and err.reason == "ExportLicensePending"
    assert str(err.message).startswith("ExportLicensePending: ")
    case_id = err.metadata["case_id"]
    assert case_id in str(err.message)
    assert writes(gcp, op.target) == []
    record = audit.decisions[-1]
    assert record["decision"] == "pending" and record["case_id"] == case_id
    assert record["account_id"] == CN_PROJECT and record["provider"] == "gcp"
    assert [(i["instance_type"], i["count"]) for i in record["items"] if i["accelerated"]] == [(GPU, op.count)]
    assert record["region"] == op.region


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_verified_us_customer_arrives(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn, op: Op) -> None:
    op.call(gcp, US_PROJECT, GPU)
    assert len(writes(gcp, op.target)) == 1
    assert audit.decisions[-1]["decision"] == "allow" and audit.decisions[-1]["account_id"] == US_PROJECT


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_plain_machine_type_arrives_for_china_owned_customer(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                             op: Op) -> None:
    op.call(gcp, CN_PROJECT, PLAIN)
    assert len(writes(gcp, op.target)) == 1
    assert all(r["decision"] == "allow" for r in audit.decisions)
