"""The Google Cloud adapter's guarantees beyond the matrix: URL-form machine types, guestAccelerators,
templates, GKE counts, subjects, fail-closed paths, shadow mode, install()/protect(), the error contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api_core.exceptions import PermissionDenied
from google.cloud import compute_v1 as c
from google.cloud import container_v1 as k

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.gcp import ExportControlPermissionDenied
from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.service import Gatekeeper
from tests.adapters.gcp.conftest import (
    CN_PROJECT,
    GPU,
    REGION,
    UNKNOWN_PROJECT,
    US_PROJECT,
    ZONE,
    TeeAudit,
    gke,
    instances,
    make_gatekeeper,
    options,
    writes,
)

A100 = "nvidia-tesla-a100"


def insert(s: GcpStandIn, project: str, machine_type: str = "", accelerators: tuple[tuple[str, int], ...] = (),
           template: str = "", client: c.InstancesClient | None = None) -> None:
    inst = c.Instance(name="vm1", guest_accelerators=[c.AcceleratorConfig(accelerator_type=t, accelerator_count=n)
                                                      for t, n in accelerators])
    if machine_type:
        inst.machine_type = machine_type
    kwargs = {"source_instance_template": template} if template else {}
    (client or instances(s)).insert(request=c.InsertInstanceRequest(project=project, zone=ZONE,
                                                                     instance_resource=inst, **kwargs))


# -- machine types and accelerators ----------------------------------------------------------------
@pytest.mark.parametrize("machine_type", [
    f"https://www.googleapis.com/compute/v1/projects/{CN_PROJECT}/zones/{ZONE}/machineTypes/{GPU}",
    f"projects/{CN_PROJECT}/zones/{ZONE}/machineTypes/{GPU}",
    f"zones/{ZONE}/machineTypes/{GPU}",
    GPU.upper(),
], ids=["full-url", "project-path", "zone-path", "upper-case"])
def test_url_form_machine_types_are_read(gk: Gatekeeper, gcp: GcpStandIn, machine_type: str) -> None:
    with pytest.raises(PermissionDenied):
        insert(gcp, CN_PROJECT, machine_type)
    assert writes(gcp, "/instances") == []


@pytest.mark.parametrize("accelerator", [A100, f"projects/{CN_PROJECT}/zones/{ZONE}/acceleratorTypes/{A100}"],
                         ids=["name", "url"])
def test_guest_accelerators_on_an_n1_are_decided(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn,
                                                 accelerator: str) -> None:
    with pytest.raises(PermissionDenied):
        insert(gcp, CN_PROJECT, f"zones/{ZONE}/machineTypes/n1-standard-16", ((accelerator, 2),))
    assert writes(gcp, "/instances") == []
    accs = audit.decisions[-1]["items"][0]["accelerators"]
    assert [(a["model"], a["total"]) for a in accs] == [("A100", 2)]


def test_a_t4_on_an_n1_is_not_controlled(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    insert(gcp, CN_PROJECT, f"zones/{ZONE}/machineTypes/n1-standard-8", (("nvidia-tesla-t4", 1),))
    assert len(writes(gcp, "/instances")) == 1


@pytest.mark.parametrize(("accelerator", "blocked"), [(A100, True), ("nvidia-tesla-t4", False)])
def test_attaching_gpus_to_an_existing_instance_is_decided(gk: Gatekeeper, gcp: GcpStandIn, accelerator: str,
                                                           blocked: bool) -> None:
    resources = c.InstancesSetMachineResourcesRequest(
        guest_accelerators=[c.AcceleratorConfig(accelerator_type=accelerator, accelerator_count=4)])

    def call() -> None:
        instances(gcp).set_machine_resources(project=CN_PROJECT, zone=ZONE, instance="vm1",
                                             instances_set_machine_resources_request_resource=resources)

    if blocked:
        with pytest.raises(PermissionDenied):
            call()
        assert writes(gcp, "setMachineResources") == []
    else:
        call()
        assert len(writes(gcp, "setMachineResources")) == 1


# -- templates ------------------------------------------------------------------------------------
def _seed_template(s: GcpStandIn, project: str, name: str, properties: dict[str, object]) -> str:
    s.seed(f"/compute/v1/projects/{project}/global/instanceTemplates/{name}", {"name": name, "properties": properties})
    return f"global/instanceTemplates/{name}"


def test_insert_from_a_template_reads_its_machine_type(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    ref = _seed_template(gcp, CN_PROJECT, "gpu", {"machineType": GPU})
    with pytest.raises(PermissionDenied):
        insert(gcp, CN_PROJECT, template=ref)
    assert [r.method for r in gcp.arrived()] == ["GET"]
    assert audit.decisions[-1]["items"][0]["instance_type"] == GPU


def test_overriding_the_machine_type_keeps_the_templates_accelerators(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    ref = _seed_template(gcp, CN_PROJECT, "n1gpu", {
        "machineType": "n1-standard-8", "guestAccelerators": [{"acceleratorType": A100, "acceleratorCount": 1}]})
    with pytest.raises(PermissionDenied):
        insert(gcp, CN_PROJECT, f"zones/{ZONE}/machineTypes/n1-standard-16", template=ref)
    assert writes(gcp, "/instances") == []


def test_insert_from_a_template_for_a_verified_customer_arrives(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    ref = _seed_template(gcp, US_PROJECT, "gpu", {"machineType": GPU})
    insert(gcp, US_PROJECT, template=f"https://www.googleapis.com/compute/v1/projects/{US_PROJECT}/{ref}")
    assert len(writes(gcp, "/instances")) == 1


def test_a_template_that_cannot_be_read_fails_closed(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(ExportControlPermissionDenied) as info:
        insert(gcp, US_PROJECT, template="global/instanceTemplates/missing")
    assert info.value.reason == "ExportControlDenied"
    assert "does not exist" in info.value.decision.request.unresolved[0]
    assert writes(gcp, "/instances") == []


@pytest.mark.parametrize("template", ["just-a-name", "global/instanceTemplates/../../x", "global/machineImages/m"])
def test_template_references_that_are_not_templates_fail_closed(gk: Gatekeeper, gcp: GcpStandIn,
                                                                template: str) -> None:
    with pytest.raises(ExportControlPermissionDenied):
        insert(gcp, US_PROJECT, template=template)
    assert gcp.arrived() == []


def test_insert_without_a_machine_type_fails_closed(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(ExportControlPermissionDenied) as info:
        insert(gcp, US_PROJECT)
    assert "machine_type is not given" in info.value.decision.request.unresolved[0]
    assert gcp.arrived() == []


# -- GKE ----------------------------------------------------------------------------------------------
def test_regional_node_pool_counts_every_zone(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    gke(gcp).create_node_pool(request=k.CreateNodePoolRequest(
        parent=f"projects/{US_PROJECT}/locations/{REGION}/clusters/c1",
        node_pool=k.NodePool(name="np", initial_node_count=2, config=k.NodeConfig(machine_type=GPU))))
    assert audit.decisions[-1]["items"][0]["count"] == 6  # 2 per zone x GKE's 3 default zones
    gke(gcp).create_node_pool(request=k.CreateNodePoolRequest(
        parent=f"projects/{US_PROJECT}/locations/{REGION}/clusters/c1",
        node_pool=k.NodePool(name="np2", initial_node_count=1, locations=[f"{REGION}-a", f"{REGION}-b"],
                             autoscaling=k.NodePoolAutoscaling(enabled=True, max_node_count=5),
                             config=k.NodeConfig(machine_type=GPU))))
    assert audit.decisions[-1]["items"][0]["count"] == 10  # autoscaler maximum 5 per zone x 2 zones


def test_node_pool_accelerators_are_decided(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(PermissionDenied):
        gke(gcp).create_node_pool(request=k.CreateNodePoolRequest(
            project_id=CN_PROJECT, zone=ZONE, cluster_id="c1",
            node_pool=k.NodePool(name="np", initial_node_count=1, config=k.NodeConfig(
                machine_type="n1-standard-8", accelerators=[k.AcceleratorConfig(accelerator_type=A100,
                                                                                accelerator_count=4)]))))
    assert writes(gcp, "/nodePools") == []


def test_node_pool_update_without_a_size_change_is_not_decided(gk: Gatekeeper, audit: TeeAudit,
                                                                gcp: GcpStandIn) -> None:
    gke(gcp).update_node_pool(request=k.UpdateNodePoolRequest(
        name=f"projects/{CN_PROJECT}/locations/{ZONE}/clusters/c1/nodePools/np", node_version="1.30",
        image_type="COS_CONTAINERD"))
    assert len(writes(gcp, "/nodePools/np")) == 1 and audit.decisions == []
    assert gcp.arrived("GET") == []


def test_resizing_a_node_pool_that_cannot_be_read_fails_closed(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(ExportControlPermissionDenied) as info:
        gke(gcp).set_node_pool_size(request=k.SetNodePoolSizeRequest(
            name=f"projects/{US_PROJECT}/locations/{ZONE}/clusters/c1/nodePools/missing", node_count=3))
    assert info.value.reason == "ExportControlDenied"
    assert writes(gcp, ":setSize") == []


def test_autopilot_cluster_creation_provisions_nothing_here(gk: Gatekeeper, audit: TeeAudit,
                                                             gcp: GcpStandIn) -> None:
    gke(gcp).create_cluster(request=k.CreateClusterRequest(
        parent=f"projects/{CN_PROJECT}/locations/{REGION}", cluster=k.Cluster(name="ap", autopilot=k.Autopilot(
            enabled=True))))
    assert len(writes(gcp, "/clusters")) == 1 and audit.decisions == []


def test_legacy_cluster_default_pool_is_decided(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(PermissionDenied):
        gke(gcp).create_cluster(request=k.CreateClusterRequest(
            parent=f"projects/{CN_PROJECT}/locations/{ZONE}",
            cluster=k.Cluster(name="old", initial_node_count=3, node_config=k.NodeConfig(machine_type=GPU))))
    assert writes(gcp, "/clusters") == []


# -- subjects, modes, installation ------------------------------------------------------------------
def test_acting_for_names_the_customer(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    with gatekeeper.acting_for(provider="gcp", account_id=CN_PROJECT), pytest.raises(PermissionDenied):
        insert(gcp, US_PROJECT, GPU)
    assert audit.decisions[-1]["account_id"] == CN_PROJECT


def test_unknown_project_with_gpu_is_not_let_through(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(PermissionDenied):
        insert(gcp, UNKNOWN_PROJECT, GPU)
    assert writes(gcp, "/instances") == []


def test_shadow_mode_never_blocks(tmp_path: Path, gcp: GcpStandIn) -> None:
    _, audit = make_gatekeeper(tmp_path, mode="shadow")
    try:
        insert(gcp, CN_PROJECT, GPU)
        assert len(writes(gcp, "/instances")) == 1
        assert audit.decisions[-1]["decision"] == "pending" and audit.decisions[-1]["mode"] == "shadow"
    finally:
        runtime.reset()


def test_install_protects_clients_created_afterwards(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    before = c.InstancesClient(**options(gcp))
    gatekeeper.gcp.install()
    try:
        assert gatekeeper.gcp.installed()
        after = c.InstancesClient(**options(gcp))
        with pytest.raises(PermissionDenied):
            insert(gcp, CN_PROJECT, GPU, client=after)
        insert(gcp, CN_PROJECT, GPU, client=before)  # created before install()
        assert len(writes(gcp, "/instances")) == 1
    finally:
        gatekeeper.gcp.uninstall()
    assert not gatekeeper.gcp.installed()
    insert(gcp, CN_PROJECT, GPU, client=c.InstancesClient(**options(gcp)))
    assert len(writes(gcp, "/instances")) == 2


def test_protect_is_idempotent(gk: Gatekeeper, audit: TeeAudit, gcp: GcpStandIn) -> None:
    client = gatekeeper.gcp.protect(gatekeeper.gcp.protect(c.InstancesClient(**options(gcp))))
    with pytest.raises(PermissionDenied):
        insert(gcp, CN_PROJECT, GPU, client=client)
    assert len(audit.decisions) == 1


def test_protect_refuses_a_client_it_does_not_know(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(TypeError, match="cannot protect"):
        gatekeeper.gcp.protect(c.ZonesClient(**options(gcp)))


def test_a_translation_bug_fails_closed(gk: Gatekeeper, gcp: GcpStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("gatekeeper.adapters.gcp._protect.translate", broken)
    with pytest.raises(ExportControlPermissionDenied) as info:
        insert(gcp, US_PROJECT, "e2-small")
    assert info.value.reason == "ExportControlDenied" and "boom" in info.value.decision.request.unresolved[0]
    assert gcp.arrived() == []


def test_blocked_error_contract(gk: Gatekeeper, gcp: GcpStandIn) -> None:
    with pytest.raises(PermissionDenied) as info:
        insert(gcp, CN_PROJECT, GPU)
    err = info.value
    assert isinstance(err, ExportControlPermissionDenied)
    assert err.domain == "gatekeeper" and err.metadata["decision_id"] == err.decision_id
    assert err.metadata["decision"] == "pending" and err.case_id == err.metadata["case_id"]
    assert "Why:" in str(err.message) and "What to do:" in str(err.message)


def test_a_runtime_that_cannot_start_blocks_with_the_sdk_error(
        tmp_path: Path, gcp: GcpStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('mode = "loose"\n', encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(bad))
    runtime.reset()
    try:
        with pytest.raises(PermissionDenied) as info:
            insert(gcp, US_PROJECT, GPU)
    finally:
        runtime.reset()
    assert str(info.value.message).startswith("ExportControlDenied") and "could not start" in str(info.value)
    assert writes(gcp, "/instances") == []
