"""Helpers for the Azure adapter tests: a gatekeeper on tmp_path, the ARM stand-in, SDK clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient

import gatekeeper
from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters import _support
from tests.adapters._support import TeeAudit as TeeAudit  # re-exported for the tests

CN_SUB = "22222222-2222-2222-2222-222222222222"  # Singapore company, ultimate parent in China
US_SUB = "11111111-1111-1111-1111-111111111111"  # verified US company
UNKNOWN_SUB = "99999999-9999-9999-9999-999999999999"

PROFILES = (
    CustomerProfile("azure", US_SUB, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("azure", CN_SUB, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
)

GPU = "Standard_ND96asr_v4"      # 8 x A100, 3A090.a
PLAIN = "Standard_D4s_v5"


def make_gatekeeper(tmp_path: Path, **config: Any) -> tuple[Gatekeeper, TeeAudit]:
    """Configure the runtime on ``tmp_path`` with this provider's PROFILES (see tests/adapters/_support.py)."""
    return _support.make_gatekeeper(tmp_path, PROFILES, **config)


@pytest.fixture
def adapter_profiles() -> tuple[CustomerProfile, ...]:
    return PROFILES


@pytest.fixture
def arm() -> Iterator[ArmStandIn]:
    with ArmStandIn() as server:
        yield server


def compute(arm: ArmStandIn, sub: str, *, protected: bool = True, **kwargs: Any) -> ComputeManagementClient:
    policies = [gatekeeper.azure.policy()] if protected else []
    return ComputeManagementClient(StaticToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
                                   per_call_policies=policies, polling_interval=0, **kwargs)


def containers(arm: ArmStandIn, sub: str) -> ContainerServiceClient:
    return ContainerServiceClient(StaticToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
                                  per_call_policies=[gatekeeper.azure.policy()], polling_interval=0)


def mgmt(cls: Any, arm: ArmStandIn, sub: str) -> Any:
    """Any azure-mgmt client class, protected, against the stand-in."""
    return cls(StaticToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
               per_call_policies=[gatekeeper.azure.policy()], polling_interval=0)


def rid(sub: str, provider: str, *parts: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/{provider}/" + "/".join(parts)


def writes(arm: ArmStandIn, path: str) -> list[str]:
    """PUT/PATCH/POST requests that reached the stand-in for exactly ``path``."""
    return [r.method for r in arm.arrived() if r.method in ("PUT", "PATCH", "POST") and r.path.lower() == path.lower()]
