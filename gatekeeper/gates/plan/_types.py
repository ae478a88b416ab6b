"""Which Terraform resource types can carry an accelerator, and where their values name it: data.

One row per resource type (Checkov's habit: a check registered by the type it reads). Each row names
the provider spec operation that creates the same thing through an SDK (``operation``), so that a
plan's resource and an SDK call are decided by the same row of ``gatekeeper.providers``; a test fails
when a type maps to no operation of its cloud's spec.

Paths are those of :mod:`gatekeeper.providers._paths` over Terraform's planned values: ``.`` between
attributes, ``[]`` over a nested block (Terraform's JSON gives every block as a list) or a list.

``Slot``   one thing that will run: each element at ``at`` is one slot. ``type`` paths name machine
           types (a string or a list); ``attached`` names accelerators attached apart from the machine
           type; ``refs`` name other resources (a launch template, an endpoint configuration, an
           instance template) whose own row says what they run; ``count`` paths give the number of
           machines (the largest; ``A+B`` sums two; none: 1). ``families``: values may be bare
           families or AWS Batch keywords (``p4d``, ``optimal``). ``tpu``: a Cloud TPU accelerator type
           (``v5litepod-8``), read through :func:`gatekeeper.providers.gcp.vocabulary.tpu_slice`.
           ``requirements``: EC2 attribute-based selection (``instance_requirements``), expanded by
           the AWS spec's own reader into every catalog type it admits (each an alternative).
``Ref``    where a reference is (relative to the slot's element), the resource types it may name, and the
           attribute of the target its value equals when the plan gives a literal (``id``, ``name``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ref:
    at: str
    targets: tuple[str, ...]
    match: tuple[str, ...] = ("id",)  # target attributes a literal value may equal (id, name, self_link)


@dataclass(frozen=True, slots=True)
class Attached:
    at: str  # accelerator blocks
    type: str  # relative path of the accelerator type
    count: str = ""  # relative path of the number per machine (default 1)


@dataclass(frozen=True, slots=True)
class Slot:
    type: tuple[str, ...] = ()
    at: str = ""
    attached: tuple[Attached, ...] = ()
    refs: tuple[Ref, ...] = ()
    count: tuple[str, ...] = ()
    choice: bool = False  # the types found are alternatives for one slot (overrides), not separate items
    families: bool = False
    tpu: str = ""
    requirements: tuple[str, ...] = ()  # attribute-based selection blocks (``instance_requirements``)
    unit: str = ""  # the counts are capacity in this unit ("vcpu"), converted per type as the spec does
    overshoot: int = 0  # machines a service may launch beyond the capacity (AWS Batch: one)


@dataclass(frozen=True, slots=True)
class ResourceType:
    type: str
    provider: str  # aws, azure, gcp
    operation: tuple[str, str]  # (service, operation) in the provider spec
    slots: tuple[Slot, ...]
    region: tuple[str, ...] = ()  # attributes naming the region, zone or location
    note: str = ""


# -- AWS --------------------------------------------------------------------------------------------
_LT = Ref("launch_template[].id", ("aws_launch_template",))
_LT_NAME = Ref("launch_template[].name", ("aws_launch_template",), ("name",))
_LT_SPEC = (Ref("launch_template_specification[].launch_template_id", ("aws_launch_template",)),
            Ref("launch_template_specification[].launch_template_name", ("aws_launch_template",), ("name",)))
_SM_APPS = ("jupyter_server_app_settings", "kernel_gateway_app_settings", "jupyter_lab_app_settings",
            "code_editor_app_settings")


def _sm_defaults(settings: str) -> tuple[str, ...]:
    return tuple(f"{settings}[].{app}[].default_resource_spec[].instance_type" for app in _SM_APPS)


AWS: tuple[ResourceType, ...] = (
    ResourceType("aws_instance", "aws", ("ec2", "RunInstances"),
                 (Slot(type=("instance_type",), refs=(_LT, _LT_NAME)),), ("availability_zone",)),
    ResourceType("aws_launch_template", "aws", ("ec2", "CreateLaunchTemplate"),
                 (Slot(type=("instance_type",), requirements=("instance_requirements",),
                       attached=(Attached("elastic_inference_accelerator[]", "type"),
                                 Attached("elastic_gpu_specifications[]", "type"))),)),
    ResourceType("aws_launch_configuration", "aws", ("autoscaling", "CreateLaunchConfiguration"),
                 (Slot(type=("instance_type",)),)),
    ResourceType("aws_autoscaling_group", "aws", ("autoscaling", "CreateAutoScalingGroup"), (
        Slot(refs=(_LT, _LT_NAME, Ref("launch_configuration", ("aws_launch_configuration",), ("name", "id"))),
             count=("max_size", "desired_capacity", "min_size")),
        Slot(at="mixed_instances_policy[].launch_template[]", choice=True,
             type=("override[].instance_type",), requirements=("override[].instance_requirements",),
             refs=tuple(Ref(f"{r.at}", r.targets, r.match) for r in _LT_SPEC),
             count=("$.max_size", "$.desired_capacity", "$.min_size")),
    )),
    ResourceType("aws_ec2_fleet", "aws", ("ec2", "CreateFleet"), (
        Slot(at="launch_template_config[]", choice=True, type=("override[].instance_type",), refs=_LT_SPEC,
             requirements=("override[].instance_requirements",),
             count=("$.target_capacity_specification[].total_target_capacity",)),
    )),
    ResourceType("aws_spot_fleet_request", "aws", ("ec2", "RequestSpotFleet"), (
        Slot(type=("launch_specification[].instance_type",), choice=True, count=("target_capacity",)),
        Slot(at="launch_template_config[]", choice=True, type=("overrides[].instance_type",),
             requirements=("overrides[].instance_requirements",),
             refs=(Ref("launch_template_specification[].id", ("aws_launch_template",)),
                   Ref("launch_template_specification[].name", ("aws_launch_template",), ("name",))),
             count=("$.target_capacity",)),
    )),
    ResourceType("aws_eks_node_group", "aws", ("eks", "CreateNodegroup"), (
        Slot(type=("instance_types",), choice=True, refs=(_LT, _LT_NAME),
             count=("scaling_config[].max_size", "scaling_config[].desired_size")),
    )),
    ResourceType("aws_batch_compute_environment", "aws", ("batch", "CreateComputeEnvironment"), (
        Slot(at="compute_resources[]", type=("instance_type",), choice=True, families=True,
             refs=(Ref("launch_template[].launch_template_id", ("aws_launch_template",)),
                   Ref("launch_template[].launch_template_name", ("aws_launch_template",), ("name",))),
             count=("max_vcpus",), unit="vcpu", overshoot=1),
    )),
    ResourceType("aws_emr_cluster", "aws", ("emr", "RunJobFlow"), (
        Slot(at="master_instance_group[]", type=("instance_type",), count=("instance_count",)),
        Slot(at="core_instance_group[]", type=("instance_type",), count=("instance_count",)),
        Slot(at="master_instance_fleet[]", type=("instance_type_configs[].instance_type",), choice=True,
             count=("target_on_demand_capacity+target_spot_capacity",)),
        Slot(at="core_instance_fleet[]", type=("instance_type_configs[].instance_type",), choice=True,
             count=("target_on_demand_capacity+target_spot_capacity",)),
    )),
    ResourceType("aws_emr_instance_group", "aws", ("emr", "AddInstanceGroups"),
                 (Slot(type=("instance_type",), count=("instance_count",)),)),
    ResourceType("aws_emr_instance_fleet", "aws", ("emr", "AddInstanceFleet"), (
        Slot(type=("instance_type_configs[].instance_type",), choice=True,
             count=("target_on_demand_capacity+target_spot_capacity",)),
    )),
    ResourceType("aws_ec2_capacity_reservation", "aws", ("ec2", "CreateCapacityReservation"),
                 (Slot(type=("instance_type",), count=("instance_count",)),), ("availability_zone",)),
    ResourceType("aws_ec2_host", "aws", ("ec2", "AllocateHosts"),
                 (Slot(type=("instance_type", "instance_family"), families=True),), ("availability_zone",)),
    ResourceType("aws_sagemaker_endpoint_configuration", "aws", ("sagemaker", "CreateEndpointConfig"), (
        Slot(at="production_variants[]", type=("instance_type",), count=("initial_instance_count",)),
        Slot(at="shadow_production_variants[]", type=("instance_type",), count=("initial_instance_count",)),
    )),
    ResourceType("aws_sagemaker_endpoint", "aws", ("sagemaker", "CreateEndpoint"), (
        Slot(refs=(Ref("endpoint_config_name", ("aws_sagemaker_endpoint_configuration",), ("name", "id")),)),
    )),
    ResourceType("aws_sagemaker_notebook_instance", "aws", ("sagemaker", "CreateNotebookInstance"),
                 (Slot(type=("instance_type",)),)),
    ResourceType("aws_sagemaker_domain", "aws", ("sagemaker", "CreateDomain"), (
        Slot(type=_sm_defaults("default_user_settings") + _sm_defaults("default_space_settings")),
    )),
    ResourceType("aws_sagemaker_space", "aws", ("sagemaker", "CreateSpace"),
                 (Slot(type=_sm_defaults("space_settings")),)),
    ResourceType("aws_sagemaker_app", "aws", ("sagemaker", "CreateApp"),
                 (Slot(type=("resource_spec[].instance_type",)),)),
    ResourceType("aws_sagemaker_data_quality_job_definition", "aws", ("sagemaker", "CreateDataQualityJobDefinition"), (
        Slot(at="job_resources[].cluster_config[]", type=("instance_type",), count=("instance_count",)),
    )),
)

# -- Azure ------------------------------------------------------------------------------------------


def _arm(provider: str, resource: str) -> tuple[str, str]:
    """The Azure spec's key of a PUT of ``provider/resource`` (its authorization action)."""
    return (provider, f"{provider}/{resource}/write")


_VM = _arm("Microsoft.Compute", "virtualMachines")
_VMSS = _arm("Microsoft.Compute", "virtualMachineScaleSets")
_AKS = _arm("Microsoft.ContainerService", "managedClusters")
_AKS_POOL = _arm("Microsoft.ContainerService", "managedClusters/agentPools")
_AML = _arm("Microsoft.MachineLearningServices", "workspaces/computes")
_BATCH = _arm("Microsoft.Batch", "batchAccounts/pools")

AZURE: tuple[ResourceType, ...] = (
    ResourceType("azurerm_linux_virtual_machine", "azure", _VM, (Slot(type=("size",)),), ("location",)),
    ResourceType("azurerm_windows_virtual_machine", "azure", _VM, (Slot(type=("size",)),), ("location",)),
    ResourceType("azurerm_virtual_machine", "azure", _VM, (Slot(type=("vm_size",)),), ("location",)),
    ResourceType("azurerm_linux_virtual_machine_scale_set", "azure", _VMSS,
                 (Slot(type=("sku",), count=("instances",)),), ("location",)),
    ResourceType("azurerm_windows_virtual_machine_scale_set", "azure", _VMSS,
                 (Slot(type=("sku",), count=("instances",)),), ("location",)),
    ResourceType("azurerm_orchestrated_virtual_machine_scale_set", "azure", _VMSS, (
        Slot(type=("sku_name",), count=("instances",)),
        Slot(at="sku_profile[]", type=("vm_sizes",), choice=True, count=("$.instances",)),
    ), ("location",)),
    ResourceType("azurerm_virtual_machine_scale_set", "azure", _VMSS,
                 (Slot(at="sku[]", type=("name",), count=("capacity",)),), ("location",)),
    ResourceType("azurerm_kubernetes_cluster", "azure", _AKS, (
        Slot(at="default_node_pool[]", type=("vm_size",), count=("node_count", "max_count")),
    ), ("location",)),
    ResourceType("azurerm_kubernetes_cluster_node_pool", "azure",
                 _AKS_POOL,
                 (Slot(type=("vm_size",), count=("node_count", "max_count")),)),
    ResourceType("azurerm_machine_learning_compute_cluster", "azure",
                 _AML,
                 (Slot(type=("vm_size",), count=("scale_settings[].max_node_count",)),), ("location",)),
    ResourceType("azurerm_machine_learning_compute_instance", "azure",
                 _AML,
                 (Slot(type=("virtual_machine_size",)),), ("location",)),
    ResourceType("azurerm_batch_pool", "azure", _BATCH, (
        Slot(type=("vm_size",),
             count=("fixed_scale[].target_dedicated_nodes+fixed_scale[].target_low_priority_nodes",)),
    )),
)

# -- Google Cloud -----------------------------------------------------------------------------------
_GCE, _GKE = "compute.googleapis.com", "container.googleapis.com"
_GUEST = Attached("guest_accelerator[]", "type", "count")
_TEMPLATE_REF = Ref("instance_template",
                    ("google_compute_instance_template", "google_compute_region_instance_template"),
                    ("self_link", "self_link_unique", "id", "name"))

GCP: tuple[ResourceType, ...] = (
    ResourceType("google_compute_instance", "gcp", (_GCE, "compute.instances.insert"),
                 (Slot(type=("machine_type",), attached=(_GUEST,)),), ("zone",)),
    ResourceType("google_compute_instance_template", "gcp", (_GCE, "compute.instanceTemplates.insert"),
                 (Slot(type=("machine_type",), attached=(_GUEST,)),), ("region",)),
    ResourceType("google_compute_region_instance_template", "gcp",
                 (_GCE, "compute.regionInstanceTemplates.insert"),
                 (Slot(type=("machine_type",), attached=(_GUEST,)),), ("region",)),
    ResourceType("google_compute_instance_group_manager", "gcp", (_GCE, "compute.instanceGroupManagers.insert"), (
        Slot(at="version[]", choice=True, refs=(_TEMPLATE_REF,), count=("$.target_size",)),
    ), ("zone",)),
    ResourceType("google_compute_region_instance_group_manager", "gcp",
                 (_GCE, "compute.regionInstanceGroupManagers.insert"), (
        Slot(at="version[]", choice=True, refs=(_TEMPLATE_REF,), count=("$.target_size",)),
    ), ("region",)),
    ResourceType("google_container_node_pool", "gcp",
                 (_GKE, "container.projects.locations.clusters.nodePools.create"), (
        Slot(at="node_config[]", type=("machine_type",), attached=(_GUEST,),
             count=("$.node_count", "$.initial_node_count", "$.autoscaling[].max_node_count",
                    "$.autoscaling[].total_max_node_count")),
    ), ("location",)),
    ResourceType("google_container_cluster", "gcp", (_GKE, "container.projects.locations.clusters.create"), (
        Slot(at="node_config[]", type=("machine_type",), attached=(_GUEST,), count=("$.initial_node_count",)),
        Slot(at="node_pool[]", type=("node_config[].machine_type",), attached=(
            Attached("node_config[].guest_accelerator[]", "type", "count"),),
             count=("node_count", "initial_node_count", "autoscaling[].max_node_count")),
    ), ("location",)),
    ResourceType("google_tpu_v2_vm", "gcp", ("tpu.googleapis.com", "tpu.projects.locations.nodes.create"),
                 (Slot(tpu="accelerator_type"), Slot(at="accelerator_config[]", tpu="type")), ("zone",)),
    ResourceType("google_compute_reservation", "gcp", (_GCE, "compute.reservations.insert"), (
        Slot(at="specific_reservation[]", type=("instance_properties[].machine_type",),
             attached=(Attached("instance_properties[].guest_accelerators[]", "accelerator_type",
                                "accelerator_count"),), count=("count",)),
    ), ("zone",)),
)

RESOURCE_TYPES: dict[str, ResourceType] = {r.type: r for r in (*AWS, *AZURE, *GCP)}
