"""Which Google Cloud client calls provision compute, and where their machine types are: data.

Each row names a GAPIC client class, the transport method the client calls (the key of the
transport's ``_wrapped_methods``), what shape the request carries (``reads``) and where in the
request (snake_case field paths of the proto-plus message, as ``to_dict`` gives them). The generic
code in ``_translate`` interprets the rows; adding a call is adding a row.

``reads``:
  instance     an Instance / InstanceProperties-like message at ``at``: ``machine_type`` and
               ``guest_accelerators``; ``template`` / ``image`` / ``source_instance`` name where the
               machine type comes from when the message has none
  node_pool    a GKE NodePool at ``at``
  cluster      a GKE Cluster at ``at`` (its ``node_pools``, else its legacy default pool)
  pool_update  a GKE UpdateNodePoolRequest (``machine_type`` / ``accelerators``); count from the pool
  pool_size    a GKE SetNodePoolSizeRequest (``node_count`` per zone); type from the pool
  pool_autoscaling  a GKE SetNodePoolAutoscalingRequest (``autoscaling``); type from the pool
"""

from __future__ import annotations

from dataclasses import dataclass

COMPUTE = "google.cloud.compute_v1"
CONTAINER = "google.cloud.container_v1"


@dataclass(frozen=True, slots=True)
class GcpOperation:
    module: str
    client: str
    method: str
    operation: str
    service: str
    reads: str
    at: str = ""
    count: str = ""
    template: str = ""
    image: str = ""
    source_instance: str = ""
    # False where a call attaches accelerators without naming a machine type (setMachineResources).
    machine_type_required: bool = True


def _compute(client: str, method: str, operation: str, *, reads: str, at: str, count: str = "", template: str = "",
             image: str = "", source_instance: str = "", machine_type_required: bool = True) -> GcpOperation:
    return GcpOperation(COMPUTE, client, method, operation, "compute.googleapis.com", reads, at, count, template,
                        image, source_instance, machine_type_required)


def _gke(method: str, operation: str, reads: str, at: str = "") -> GcpOperation:
    return GcpOperation(CONTAINER, "ClusterManagerClient", method, operation, "container.googleapis.com", reads, at)


BULK = "bulk_insert_instance_resource_resource"

OPERATIONS: tuple[GcpOperation, ...] = (
    _compute("InstancesClient", "insert", "compute.instances.insert", reads="instance", at="instance_resource",
             template="source_instance_template", image="source_machine_image"),
    _compute("InstancesClient", "update", "compute.instances.update", reads="instance", at="instance_resource"),
    _compute("InstancesClient", "set_machine_type", "compute.instances.setMachineType", reads="instance",
             at="instances_set_machine_type_request_resource"),
    # The sibling call that attaches GPUs to an existing (n1) instance.
    _compute("InstancesClient", "set_machine_resources", "compute.instances.setMachineResources",
             reads="instance", at="instances_set_machine_resources_request_resource", machine_type_required=False),
    _compute("InstancesClient", "bulk_insert", "compute.instances.bulkInsert", reads="instance",
             at=f"{BULK}.instance_properties", count=f"{BULK}.count", template=f"{BULK}.source_instance_template"),
    _compute("RegionInstancesClient", "bulk_insert", "compute.regionInstances.bulkInsert", reads="instance",
             at=f"{BULK}.instance_properties", count=f"{BULK}.count", template=f"{BULK}.source_instance_template"),
    _compute("InstanceTemplatesClient", "insert", "compute.instanceTemplates.insert", reads="instance",
             at="instance_template_resource.properties", source_instance="instance_template_resource.source_instance"),
    _compute("RegionInstanceTemplatesClient", "insert", "compute.regionInstanceTemplates.insert", reads="instance",
             at="instance_template_resource.properties", source_instance="instance_template_resource.source_instance"),
    _gke("create_node_pool", "container.projects.locations.clusters.nodePools.create", "node_pool", "node_pool"),
    _gke("create_cluster", "container.projects.locations.clusters.create", "cluster", "cluster"),
    _gke("update_node_pool", "container.projects.locations.clusters.nodePools.update", "pool_update"),
    _gke("set_node_pool_size", "container.projects.locations.clusters.nodePools.setSize", "pool_size"),
    _gke("set_node_pool_autoscaling", "container.projects.locations.clusters.nodePools.setAutoscaling",
         "pool_autoscaling"),
)
