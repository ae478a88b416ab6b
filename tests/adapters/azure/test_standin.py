"""The ARM stand-in's own checks, through the real azure-mgmt-compute client: the bearer token it
requires (``token=``) and the failures a test asks for (``fail``)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient

from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken

SUB = "6b6b6b6b-0000-4000-8000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1"


def client(arm: ArmStandIn, token: str) -> ComputeManagementClient:
    return ComputeManagementClient(StaticToken(token), SUB, base_url=arm.url, connection_verify=arm.ca_file,
                                   retry_total=0)


def test_a_request_without_the_token_is_refused_as_arm_does() -> None:
    with ArmStandIn(token="right") as arm:
        arm.seed(VM, {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v5"}}})
        with pytest.raises(ClientAuthenticationError):
            client(arm, "wrong").virtual_machines.get("rg", "vm-1")
        vm = client(arm, "right").virtual_machines.get("rg", "vm-1")
        assert vm.hardware_profile.vm_size == "Standard_D2s_v5"
        assert [r.headers.get("Authorization") for r in arm.arrived("GET")] == ["Bearer wrong", "Bearer right"]


def test_failures_asked_for_are_answered_in_arms_shape_until_removed() -> None:
    with ArmStandIn() as arm:  # no token: any credential is accepted
        arm.seed(VM, {"location": "eastus"})
        arm.fail[("POST", "/deallocate")] = 409
        with pytest.raises(HttpResponseError) as caught:
            client(arm, "any").virtual_machines.begin_deallocate("rg", "vm-1").result()
        assert caught.value.status_code == 409 and caught.value.error is not None
        assert caught.value.error.code == "Conflict"
        del arm.fail[("POST", "/deallocate")]
        client(arm, "any").virtual_machines.begin_deallocate("rg", "vm-1").result()
        assert len(arm.arrived("POST", "vm-1/deallocate")) == 2
        with pytest.raises(ResourceNotFoundError):
            client(arm, "any").virtual_machines.get("rg", "vm-2")
