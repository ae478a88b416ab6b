"""One plan fixture per resource type the gate reads: ``BUILD[type](machine)`` gives the resources of a
plan where that type runs ``machine`` (``None``: the machine type is known only after apply).

Attribute names are the Terraform providers' (hashicorp/aws 5.x, azurerm 4.x, google 6.x); nested
blocks are lists, as ``terraform show -json`` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.gates.plan._plans import Res

CONTROLLED = {"aws": "p4d.24xlarge", "azure": "Standard_ND96asr_v4", "gcp": "a2-highgpu-1g"}
PLAIN = {"aws": "t3.micro", "azure": "Standard_D2s_v3", "gcp": "n2-standard-4"}
Machine = str | None
Build = Callable[[Machine], list[Res]]


def _flat(t: str, attr: str, **extra: Any) -> Build:
    def build(m: Machine) -> list[Res]:
        return [Res(t, "x", {attr: m, **extra}, unknown={attr: True} if m is None else {})]
    return build


def _block(t: str, block: str, attr: str, top: dict[str, Any] | None = None, **inner: Any) -> Build:
    def build(m: Machine) -> list[Res]:
        values = {**(top or {}), block: [{attr: m, **inner}]}
        return [Res(t, "x", values, unknown={block: [{attr: True}]} if m is None else {})]
    return build


def _list(t: str, attr: str, **extra: Any) -> Build:
    def build(m: Machine) -> list[Res]:
        return [Res(t, "x", {attr: [m] if m else None, **extra}, unknown={attr: True} if m is None else {})]
    return build


def _launch_template(m: Machine, name: str = "lt") -> Res:
    return Res("aws_launch_template", name, {"name": "gpu-template", "instance_type": m},
               unknown={"id": True, "instance_type": True} if m is None else {"id": True})


def _via_template(t: str, block: str, attr: str, top: dict[str, Any], *, nest: tuple[str, ...] = ()) -> Build:
    """``t`` names a launch template of the plan by reference (its id is known only after apply)."""
    def build(m: Machine) -> list[Res]:
        inner: dict[str, Any] = {attr: None}
        unknown_inner: dict[str, Any] = {attr: True}
        for n in reversed(nest):
            inner, unknown_inner = {n: [inner]}, {n: [unknown_inner]}
        path = ".".join(f"{b}[]" for b in (block, *nest)) + f".{attr}"
        return [_launch_template(m),
                Res(t, "x", {**top, block: [inner]}, unknown={block: [unknown_inner]},
                    refs={path: ["aws_launch_template.lt.id", "aws_launch_template.lt"]})]
    return build


def _sm(t: str, settings: str) -> Build:
    def build(m: Machine) -> list[Res]:
        spec = {"instance_type": f"ml.{m}" if m else None}
        values = {settings: [{"jupyter_server_app_settings": [{"default_resource_spec": [spec]}]}]}
        unknown = ({settings: [{"jupyter_server_app_settings": [{"default_resource_spec": [{"instance_type": True}]}]}]}
                   if m is None else {})
        return [Res(t, "x", values, unknown=unknown)]
    return build


def _sm_flat(t: str, attr: str, block: str = "", **inner: Any) -> Build:
    def build(m: Machine) -> list[Res]:
        v = f"ml.{m}" if m else None
        if block:
            return [Res(t, "x", {block: [{attr: v, **inner}]}, unknown={block: [{attr: True}]} if m is None else {})]
        return [Res(t, "x", {attr: v}, unknown={attr: True} if m is None else {})]
    return build


def _endpoint(m: Machine) -> list[Res]:
    cfg = _sm_flat("aws_sagemaker_endpoint_configuration", "instance_type", "production_variants",
                   initial_instance_count=2, variant_name="v1")(m)[0]
    cfg.name = "cfg"
    cfg.values["name"] = "gpu-config"
    return [cfg, Res("aws_sagemaker_endpoint", "x", {"name": "ep", "endpoint_config_name": None},
                     unknown={"endpoint_config_name": True},
                     refs={"endpoint_config_name": ["aws_sagemaker_endpoint_configuration.cfg.name",
                                                    "aws_sagemaker_endpoint_configuration.cfg"]})]


def _azure_vm(t: str, attr: str) -> Build:
    return _flat(t, attr, location="westeurope", resource_group_name="rg")


def _gcp_template_group(t: str, template: str, loc: dict[str, Any]) -> Build:
    def build(m: Machine) -> list[Res]:
        tmpl = Res(template, "tmpl", {"machine_type": m, "name": "gpu-tmpl"},
                   unknown={"machine_type": True, "self_link": True} if m is None else {"self_link": True})
        igm = Res(t, "x", {**loc, "target_size": 4, "version": [{"instance_template": None}]},
                  unknown={"version": [{"instance_template": True}]},
                  refs={"version[].instance_template": [f"{template}.tmpl.self_link", f"{template}.tmpl"]})
        return [tmpl, igm]
    return build


def _tpu(m: Machine) -> list[Res]:
    # The TPU row reads an accelerator type, not a machine type: controlled = v5p (its TPP alone decides
    # 3A090.a; v5e's class rests on an unconfirmed die area, so it is flagged for review), plain has no TPU.
    acc = None if m is None else ("v5p-8" if m == CONTROLLED["gcp"] else "")
    return [Res("google_tpu_v2_vm", "x", {"zone": "us-central1-a", "accelerator_type": acc or None},
                unknown={"accelerator_type": True} if m is None else {})]


BUILD: dict[str, Build] = {
    "aws_instance": _flat("aws_instance", "instance_type", availability_zone="us-east-1a"),
    "aws_launch_template": _flat("aws_launch_template", "instance_type", name="gpu"),
    "aws_launch_configuration": _flat("aws_launch_configuration", "instance_type", name="gpu"),
    "aws_autoscaling_group": _via_template("aws_autoscaling_group", "launch_template", "id",
                                           {"max_size": 8, "min_size": 0, "desired_capacity": 2}),
    "aws_ec2_fleet": _via_template("aws_ec2_fleet", "launch_template_config", "launch_template_id",
                                   {"target_capacity_specification": [{"total_target_capacity": 3}]},
                                   nest=("launch_template_specification",)),
    "aws_spot_fleet_request": _block("aws_spot_fleet_request", "launch_specification", "instance_type",
                                     {"target_capacity": 2, "iam_fleet_role": "arn:aws:iam::1:role/f"}, ami="ami-1"),
    "aws_eks_node_group": _list("aws_eks_node_group", "instance_types",
                                scaling_config=[{"desired_size": 2, "max_size": 4, "min_size": 1}]),
    "aws_batch_compute_environment": _block("aws_batch_compute_environment", "compute_resources", "instance_type",
                                            max_vcpus=256, type="EC2"),
    "aws_emr_cluster": _block("aws_emr_cluster", "core_instance_group", "instance_type", {"name": "c"},
                              instance_count=3),
    "aws_emr_instance_group": _flat("aws_emr_instance_group", "instance_type", instance_count=2),
    "aws_emr_instance_fleet": _block("aws_emr_instance_fleet", "instance_type_configs", "instance_type",
                                     {"target_on_demand_capacity": 2, "target_spot_capacity": 1}),
    "aws_ec2_capacity_reservation": _flat("aws_ec2_capacity_reservation", "instance_type", instance_count=4,
                                          availability_zone="us-east-1b", instance_platform="Linux/UNIX"),
    "aws_ec2_host": _flat("aws_ec2_host", "instance_type", availability_zone="us-east-1a"),
    "aws_sagemaker_endpoint_configuration": _sm_flat("aws_sagemaker_endpoint_configuration", "instance_type",
                                                     "production_variants", initial_instance_count=2),
    "aws_sagemaker_endpoint": _endpoint,
    "aws_sagemaker_notebook_instance": _sm_flat("aws_sagemaker_notebook_instance", "instance_type"),
    "aws_sagemaker_domain": _sm("aws_sagemaker_domain", "default_user_settings"),
    "aws_sagemaker_space": _sm("aws_sagemaker_space", "space_settings"),
    "aws_sagemaker_app": _sm_flat("aws_sagemaker_app", "instance_type", "resource_spec"),
    "aws_sagemaker_data_quality_job_definition": lambda m: [Res(
        "aws_sagemaker_data_quality_job_definition", "x",
        {"job_resources": [{"cluster_config": [{"instance_type": f"ml.{m}" if m else None, "instance_count": 1,
                                                "volume_size_in_gb": 20}]}]},
        unknown={"job_resources": [{"cluster_config": [{"instance_type": True}]}]} if m is None else {})],
    "azurerm_linux_virtual_machine": _azure_vm("azurerm_linux_virtual_machine", "size"),
    "azurerm_windows_virtual_machine": _azure_vm("azurerm_windows_virtual_machine", "size"),
    "azurerm_virtual_machine": _azure_vm("azurerm_virtual_machine", "vm_size"),
    "azurerm_linux_virtual_machine_scale_set": _flat("azurerm_linux_virtual_machine_scale_set", "sku", instances=3,
                                                     location="westeurope"),
    "azurerm_windows_virtual_machine_scale_set": _flat("azurerm_windows_virtual_machine_scale_set", "sku",
                                                       instances=3, location="westeurope"),
    "azurerm_orchestrated_virtual_machine_scale_set": _flat("azurerm_orchestrated_virtual_machine_scale_set",
                                                            "sku_name", instances=2, location="westeurope"),
    "azurerm_virtual_machine_scale_set": _block("azurerm_virtual_machine_scale_set", "sku", "name",
                                                {"location": "westeurope"}, capacity=2, tier="Standard"),
    "azurerm_kubernetes_cluster": _block("azurerm_kubernetes_cluster", "default_node_pool", "vm_size",
                                         {"location": "westeurope"}, node_count=3, name="default"),
    "azurerm_kubernetes_cluster_node_pool": _flat("azurerm_kubernetes_cluster_node_pool", "vm_size", node_count=2,
                                                  name="gpu", kubernetes_cluster_id="/subscriptions/x"),
    "azurerm_machine_learning_compute_cluster": _flat("azurerm_machine_learning_compute_cluster", "vm_size",
                                                      location="westeurope", vm_priority="Dedicated",
                                                      scale_settings=[{"max_node_count": 4, "min_node_count": 0}]),
    "azurerm_machine_learning_compute_instance": _flat("azurerm_machine_learning_compute_instance",
                                                       "virtual_machine_size", location="westeurope"),
    "azurerm_batch_pool": _flat("azurerm_batch_pool", "vm_size", node_agent_sku_id="batch.node.ubuntu 22.04",
                                fixed_scale=[{"target_dedicated_nodes": 2, "target_low_priority_nodes": 1}]),
    "google_compute_instance": _flat("google_compute_instance", "machine_type", zone="us-central1-a", name="vm"),
    "google_compute_instance_template": _flat("google_compute_instance_template", "machine_type", name="t"),
    "google_compute_region_instance_template": _flat("google_compute_region_instance_template", "machine_type",
                                                     name="t", region="us-central1"),
    "google_compute_instance_group_manager": _gcp_template_group(
        "google_compute_instance_group_manager", "google_compute_instance_template", {"zone": "us-central1-a"}),
    "google_compute_region_instance_group_manager": _gcp_template_group(
        "google_compute_region_instance_group_manager", "google_compute_region_instance_template",
        {"region": "us-central1"}),
    "google_container_node_pool": _block("google_container_node_pool", "node_config", "machine_type",
                                         {"location": "us-central1", "node_count": 2}),
    "google_container_cluster": _block("google_container_cluster", "node_config", "machine_type",
                                       {"location": "us-central1", "initial_node_count": 1}),
    "google_tpu_v2_vm": _tpu,
    "google_compute_reservation": lambda m: [Res(
        "google_compute_reservation", "x",
        {"zone": "us-central1-a", "specific_reservation": [{"count": 2, "instance_properties": [{"machine_type": m}]}]},
        unknown={"specific_reservation": [{"instance_properties": [{"machine_type": True}]}]} if m is None else {})],
}
