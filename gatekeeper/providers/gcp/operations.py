"""The Google Cloud provider spec: every client call that can provision accelerated compute, as data.

Each row names a GAPIC client class, the transport method the client calls (the key of the
transport's ``_wrapped_methods``), what shape the request carries (``reads``), where in the request
(snake_case field paths of the proto-plus message, as ``to_dict`` gives them), how Cloud Audit Logs
record the call (``audit``: the ``methodName``; ``body``: the request field that is the REST body,
which Compute Engine's audit entries record as ``protoPayload.request``), and the resource kind the
hook puts right. The generic code in ``_read`` interprets the rows for the SDK adapter and for the
detective hook alike; adding a call is adding a row. ``SPEC`` is the same rows in the cloud-neutral
vocabulary of :mod:`gatekeeper.providers._spec` (generated docs, parity tests).

``reads``:
  instance_start  a start / resume of an existing instance: the instance as it is, read
  instance     an Instance / InstanceProperties-like message at ``at``: ``machine_type`` and
               ``guest_accelerators``; ``template`` / ``image`` / ``source_instance`` name where the
               machine type comes from when the message has none
  mig          an InstanceGroupManager at ``at`` (its instance template, or each version's, and
               ``target_size``); a patch/update is applied over the current group
  mig_size     a resize (``size``), a resize request (``resize_by``) or createInstances (one per
               instance) of an existing group: the group's template, the new count
  mig_template setInstanceTemplate: the new template, the group's current size
  reservation  a Reservation at ``at`` (``specific_reservation``: instance properties or a template, count)
  reservation_size  a reservation resize (``specific_sku_count``): the reservation's type
  future_reservation  a FutureReservation (``specific_sku_properties``, ``total_count``)
  tpu_node     a Cloud TPU node at ``at`` (``accelerator_type`` or ``accelerator_config``)
  tpu_start    a start of an existing (stopped) Cloud TPU node: the node as it is, read
  tpu_queued   a queued resource: each ``tpu.node_spec[].node``, times ``multislice_params.node_count``
  machine_specs  Vertex AI: each element at ``at`` with a ``machine_spec`` (``machine_type``,
               ``accelerator_type``, ``accelerator_count``) and a count (``count``), times ``multiplier``
  node_pool / cluster / pool_update / pool_size / pool_autoscaling  GKE (see ``_read``)
"""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.providers._spec import Affected, Audit, Operation, ProviderSpec, Slot, Source, snake_to_camel

COMPUTE = "google.cloud.compute_v1"
CONTAINER = "google.cloud.container_v1"
TPU = "google.cloud.tpu_v2"
VERTEX = "google.cloud.aiplatform_v1"


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
    # Cloud Audit Logs ``protoPayload.methodName``; "" when the call is not audited.
    audit: str = ""
    # The request field that is the REST body (Compute Engine audit entries record only the body).
    body: str = ""
    # The hook's remediation kind (hooks/remediation.KINDS).
    kind: str = ""
    multiplier: str = ""
    note: str = ""

    @property
    def sdk(self) -> str:
        return f"{self.module.rsplit('.', 1)[-1]}.{self.client}.{self.method}"

    @property
    def spec(self) -> Operation:
        slot = Slot(sources=(Source(at=self.at, type=("machine_type",)),), count=(self.count,) if self.count else ())
        audit = Audit(self.service, self.audit, root="protoPayload.request",
                      affected=(Affected(self.kind, "protoPayload.resourceName"),) if self.kind else ())
        return Operation(self.service, self.operation, (slot,), audit=audit if self.audit else None,
                         note=self.note or f"{self.sdk}; reads {self.reads}")


def _compute(client: str, method: str, operation: str, *, reads: str, at: str = "", count: str = "",
             template: str = "", image: str = "", source_instance: str = "", machine_type_required: bool = True,
             body: str = "", kind: str = "", note: str = "") -> GcpOperation:
    # Compute Engine audit method names: "v1.compute.instances.insert".
    return GcpOperation(COMPUTE, client, method, operation, "compute.googleapis.com", reads, at, count, template,
                        image, source_instance, machine_type_required, audit=f"v1.{operation}", body=body, kind=kind,
                        note=note)


def _gke(method: str, operation: str, reads: str, at: str = "", rpc: str = "") -> GcpOperation:
    return GcpOperation(CONTAINER, "ClusterManagerClient", method, operation, "container.googleapis.com", reads, at,
                        audit=f"google.container.v1.ClusterManager.{rpc}", kind="gcp:node-pool")


def _tpu(method: str, operation: str, reads: str, at: str, rpc: str, kind: str) -> GcpOperation:
    return GcpOperation(TPU, "TpuClient", method, operation, "tpu.googleapis.com", reads, at,
                        audit=f"google.cloud.tpu.v2.Tpu.{rpc}", kind=kind)


def _vertex(client: str, method: str, rpc: str, at: str, count: str, *, multiplier: str = "", kind: str = "",
            note: str = "") -> GcpOperation:
    service = client.removesuffix("Client")
    return GcpOperation(VERTEX, client, method, f"aiplatform.{service}.{rpc}", "aiplatform.googleapis.com",
                        "machine_specs", at, count, audit=f"google.cloud.aiplatform.v1.{service}.{rpc}",
                        multiplier=multiplier, kind=kind, note=note)


BULK = "bulk_insert_instance_resource_resource"
IGM = "instance_group_manager_resource"

OPERATIONS: tuple[GcpOperation, ...] = (
    # -- Compute Engine instances and templates -----------------------------------------------------------------
    _compute("InstancesClient", "insert", "compute.instances.insert", reads="instance", at="instance_resource",
             template="source_instance_template", image="source_machine_image", body="instance_resource",
             kind="gcp:instance"),
    _compute("InstancesClient", "update", "compute.instances.update", reads="instance", at="instance_resource",
             body="instance_resource", kind="gcp:instance"),
    _compute("InstancesClient", "set_machine_type", "compute.instances.setMachineType", reads="instance",
             at="instances_set_machine_type_request_resource", body="instances_set_machine_type_request_resource",
             kind="gcp:instance"),
    # The sibling call that attaches GPUs to an existing (n1) instance.
    _compute("InstancesClient", "set_machine_resources", "compute.instances.setMachineResources",
             reads="instance", at="instances_set_machine_resources_request_resource", machine_type_required=False,
             body="instances_set_machine_resources_request_resource", kind="gcp:instance"),
    # A stopped instance started again (perhaps stopped by the hook): decided on what it is, read.
    _compute("InstancesClient", "start", "compute.instances.start", reads="instance_start", kind="gcp:instance",
             note="the instance as it is, read through the transport"),
    _compute("InstancesClient", "start_with_encryption_key", "compute.instances.startWithEncryptionKey",
             reads="instance_start", kind="gcp:instance", note="the instance as it is, read through the transport"),
    _compute("InstancesClient", "resume", "compute.instances.resume", reads="instance_start", kind="gcp:instance",
             note="a suspended instance resumed: the instance as it is"),
    _compute("InstancesClient", "bulk_insert", "compute.instances.bulkInsert", reads="instance",
             at=f"{BULK}.instance_properties", count=f"{BULK}.count", template=f"{BULK}.source_instance_template",
             body=BULK, kind="gcp:bulk-insert"),
    _compute("RegionInstancesClient", "bulk_insert", "compute.regionInstances.bulkInsert", reads="instance",
             at=f"{BULK}.instance_properties", count=f"{BULK}.count", template=f"{BULK}.source_instance_template",
             body=BULK, kind="gcp:bulk-insert"),
    _compute("InstanceTemplatesClient", "insert", "compute.instanceTemplates.insert", reads="instance",
             at="instance_template_resource.properties", source_instance="instance_template_resource.source_instance",
             body="instance_template_resource", kind="gcp:instance-template"),
    _compute("RegionInstanceTemplatesClient", "insert", "compute.regionInstanceTemplates.insert", reads="instance",
             at="instance_template_resource.properties", source_instance="instance_template_resource.source_instance",
             body="instance_template_resource", kind="gcp:instance-template"),
    # -- managed instance groups (zonal and regional) ------------------------------------------------------------
    *(row for prefix, client in (("instanceGroupManagers", "InstanceGroupManagersClient"),
                                 ("regionInstanceGroupManagers", "RegionInstanceGroupManagersClient"))
      for row in (
          _compute(client, "insert", f"compute.{prefix}.insert", reads="mig", at=IGM, count=f"{IGM}.target_size",
                   body=IGM, kind="gcp:instance-group"),
          _compute(client, "patch", f"compute.{prefix}.patch", reads="mig", at=IGM, count=f"{IGM}.target_size",
                   body=IGM, kind="gcp:instance-group", note="applied over the current group"),
          _compute(client, "resize", f"compute.{prefix}.resize", reads="mig_size", count="size",
                   kind="gcp:instance-group", note="the group's template, the new size"),
          _compute(client, "create_instances", f"compute.{prefix}.createInstances", reads="mig_size",
                   count=("instance_group_managers_create_instances_request_resource" if client.startswith("Inst")
                          else "region_instance_group_managers_create_instances_request_resource") + ".instances",
                   body=("instance_group_managers_create_instances_request_resource" if client.startswith("Inst")
                         else "region_instance_group_managers_create_instances_request_resource"),
                   kind="gcp:instance-group", note="the group's template, its size plus the instances named"),
          _compute(client, "set_instance_template", f"compute.{prefix}.setInstanceTemplate", reads="mig_template",
                   template=("instance_group_managers_set_instance_template_request_resource" if client.startswith(
                       "Inst") else "region_instance_group_managers_set_template_request_resource")
                   + ".instance_template",
                   body=("instance_group_managers_set_instance_template_request_resource" if client.startswith("Inst")
                         else "region_instance_group_managers_set_template_request_resource"),
                   kind="gcp:instance-group", note="the new template, the group's current size"),
      )),
    _compute("InstanceGroupManagerResizeRequestsClient", "insert", "compute.instanceGroupManagerResizeRequests.insert",
             reads="mig_size", count="instance_group_manager_resize_request_resource.resize_by",
             body="instance_group_manager_resize_request_resource", kind="gcp:instance-group",
             note="the group's template, its size plus resize_by"),
    _compute("RegionInstanceGroupManagerResizeRequestsClient", "insert",
             "compute.regionInstanceGroupManagerResizeRequests.insert", reads="mig_size",
             count="instance_group_manager_resize_request_resource.resize_by",
             body="instance_group_manager_resize_request_resource", kind="gcp:instance-group"),
    # -- reservations ---------------------------------------------------------------------------------------------
    _compute("ReservationsClient", "insert", "compute.reservations.insert", reads="reservation",
             at="reservation_resource.specific_reservation", body="reservation_resource", kind="gcp:reservation"),
    _compute("ReservationsClient", "resize", "compute.reservations.resize", reads="reservation_size",
             count="reservations_resize_request_resource.specific_sku_count",
             body="reservations_resize_request_resource", kind="gcp:reservation"),
    _compute("ReservationsClient", "update", "compute.reservations.update", reads="reservation",
             at="reservation_resource.specific_reservation", body="reservation_resource", kind="gcp:reservation"),
    _compute("FutureReservationsClient", "insert", "compute.futureReservations.insert", reads="future_reservation",
             at="future_reservation_resource", body="future_reservation_resource", kind="gcp:future-reservation"),
    _compute("FutureReservationsClient", "update", "compute.futureReservations.update", reads="future_reservation",
             at="future_reservation_resource", body="future_reservation_resource", kind="gcp:future-reservation"),
    # -- GKE ------------------------------------------------------------------------------------------------------
    _gke("create_node_pool", "container.projects.locations.clusters.nodePools.create", "node_pool", "node_pool",
         "CreateNodePool"),
    _gke("create_cluster", "container.projects.locations.clusters.create", "cluster", "cluster", "CreateCluster"),
    _gke("update_node_pool", "container.projects.locations.clusters.nodePools.update", "pool_update",
         rpc="UpdateNodePool"),
    _gke("set_node_pool_size", "container.projects.locations.clusters.nodePools.setSize", "pool_size",
         rpc="SetNodePoolSize"),
    _gke("set_node_pool_autoscaling", "container.projects.locations.clusters.nodePools.setAutoscaling",
         "pool_autoscaling", rpc="SetNodePoolAutoscaling"),
    # -- Cloud TPU ------------------------------------------------------------------------------------------------
    _tpu("create_node", "tpu.projects.locations.nodes.create", "tpu_node", "node", "CreateNode", "gcp:tpu-node"),
    _tpu("start_node", "tpu.projects.locations.nodes.start", "tpu_start", "", "StartNode", "gcp:tpu-node"),
    _tpu("create_queued_resource", "tpu.projects.locations.queuedResources.create", "tpu_queued", "queued_resource",
         "CreateQueuedResource", "gcp:queued-resource"),
    # -- Vertex AI ------------------------------------------------------------------------------------------------
    _vertex("JobServiceClient", "create_custom_job", "CreateCustomJob", "custom_job.job_spec.worker_pool_specs",
            "replica_count", kind="gcp:custom-job"),
    _vertex("JobServiceClient", "create_hyperparameter_tuning_job", "CreateHyperparameterTuningJob",
            "hyperparameter_tuning_job.trial_job_spec.worker_pool_specs", "replica_count",
            multiplier="hyperparameter_tuning_job.parallel_trial_count", kind="gcp:tuning-job",
            note="each worker pool times the parallel trials"),
    _vertex("EndpointServiceClient", "deploy_model", "DeployModel", "deployed_model.dedicated_resources",
            "max_replica_count|min_replica_count", kind="gcp:deployed-model"),
    _vertex("EndpointServiceClient", "mutate_deployed_model", "MutateDeployedModel",
            "deployed_model.dedicated_resources", "max_replica_count|min_replica_count", kind="gcp:deployed-model"),
    _vertex("PersistentResourceServiceClient", "create_persistent_resource", "CreatePersistentResource",
            "persistent_resource.resource_pools", "autoscaling_spec.max_replica_count|replica_count",
            kind="gcp:persistent-resource"),
    _vertex("PersistentResourceServiceClient", "update_persistent_resource", "UpdatePersistentResource",
            "persistent_resource.resource_pools", "autoscaling_spec.max_replica_count|replica_count",
            kind="gcp:persistent-resource"),
)

SPEC: ProviderSpec = ProviderSpec("gcp", tuple(op.spec for op in OPERATIONS), casing=snake_to_camel)
BY_AUDIT = {(op.service, op.audit): op for op in OPERATIONS if op.audit}
