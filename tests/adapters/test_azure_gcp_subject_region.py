"""The subject and region holes on Azure and Google Cloud: a call from the provider's own subscription or
project with no customer named is denied (``[azure|gcp] provider_accounts``), with the customer named it
is decided for the customer; an unknown region holds controlled compute for review. Through the real
SDK clients against the stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from google.api_core.exceptions import PermissionDenied
from google.cloud import compute_v1

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.azure.testing import ArmStandIn
from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.audit.record import decision_reasons
from gatekeeper.config import AzureConfig, GcpConfig
from tests.adapters import _support
from tests.adapters.azure import conftest as az
from tests.adapters.gcp import conftest as gc

PROVIDER_SUB = "77777777-7777-7777-7777-777777777777"
PROVIDER_PROJECT = "provider-ops"


@pytest.fixture
def tee(tmp_path: Path) -> Iterator[_support.TeeAudit]:
    _, audit = _support.make_gatekeeper(tmp_path, az.PROFILES + gc.PROFILES,
                                        azure=AzureConfig(provider_accounts=[PROVIDER_SUB.upper()]),
                                        gcp=GcpConfig(provider_accounts=[PROVIDER_PROJECT]))
    yield audit
    runtime.reset()


def _vm(arm: ArmStandIn, sub: str, location: str = "eastus") -> None:
    vm = cm.VirtualMachine(location=location, hardware_profile=cm.HardwareProfile(vm_size=az.GPU))
    az.compute(arm, sub).virtual_machines.begin_create_or_update("rg", "vm1", vm).result()


def _instance(gcp: GcpStandIn, project: str, zone: str = gc.ZONE) -> None:
    gc.instances(gcp).insert(project=project, zone=zone, instance_resource=compute_v1.Instance(
        name="vm1", machine_type=f"zones/{zone}/machineTypes/{gc.GPU}"))


def test_azure_provider_subscription_needs_a_named_customer(tee: _support.TeeAudit) -> None:
    with ArmStandIn() as arm:
        with pytest.raises(HttpResponseError) as info:
            _vm(arm, PROVIDER_SUB)
        assert info.value.error is not None and info.value.error.code == "ExportControlDenied"
        assert "provider_accounts" in " ".join(decision_reasons(tee.decisions[-1]))
        with gatekeeper.acting_for(provider="azure", account_id=az.US_SUB):
            _vm(arm, PROVIDER_SUB)
        assert tee.decisions[-1]["account_id"] == az.US_SUB and tee.decisions[-1]["decision"] == "allow"
        assert az.writes(arm, az.rid(PROVIDER_SUB, "Microsoft.Compute", "virtualMachines", "vm1")) == ["PUT"]


def test_gcp_provider_project_needs_a_named_customer(tee: _support.TeeAudit) -> None:
    with GcpStandIn() as gcp:
        with pytest.raises(PermissionDenied):
            _instance(gcp, PROVIDER_PROJECT)
        with gatekeeper.acting_for(provider="gcp", account_id=gc.US_PROJECT):
            _instance(gcp, PROVIDER_PROJECT)
        assert tee.decisions[-1]["account_id"] == gc.US_PROJECT and tee.decisions[-1]["decision"] == "allow"


def test_unknown_regions_hold_controlled_compute(tee: _support.TeeAudit) -> None:
    with ArmStandIn() as arm, GcpStandIn() as gcp:
        with pytest.raises(HttpResponseError) as info:
            _vm(arm, az.US_SUB, location="eastus9")
        assert info.value.error is not None and info.value.error.code == "ExportLicensePending"
        with pytest.raises(PermissionDenied) as err:
            _instance(gcp, gc.US_PROJECT, zone="xx-fake9-a")
        assert err.value.reason == "ExportLicensePending"
        assert az.writes(arm, az.rid(az.US_SUB, "Microsoft.Compute", "virtualMachines", "vm1")) == []
        assert gc.writes(gcp, "/instances") == []
