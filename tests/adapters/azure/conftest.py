"""Helpers for the Azure adapter tests: a gatekeeper on tmp_path, the ARM stand-in, SDK clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerservice import ContainerServiceClient

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken
from gatekeeper.audit import open_audit_log
from gatekeeper.config import AuditConfig, Config, StoreConfig
from gatekeeper.model import CustomerProfile
from gatekeeper.policy import PolicySet, load_policies
from gatekeeper.service import Gatekeeper

CN_SUB = "22222222-2222-2222-2222-222222222222"  # Singapore company, ultimate parent in China
US_SUB = "11111111-1111-1111-1111-111111111111"  # verified US company
UNKNOWN_SUB = "99999999-9999-9999-9999-999999999999"

PROFILES = (
    CustomerProfile("azure", US_SUB, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("azure", CN_SUB, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
)

GPU = "Standard_ND96asr_v4"      # 8 x A100, 3A090.a
PLAIN = "Standard_D4s_v5"


class TeeAudit:
    """The real audit log, with the records it made durable kept for assertions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        written: dict[str, Any] = self.inner.append(record)
        self.records.append(written)
        return written

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The decision records (the workflow also records events, e.g. a case opened)."""
        return [r for r in self.records if r.get("kind") == "decision"]

    def close(self) -> None:
        self.inner.close()


_policies: list[PolicySet] = []


def shipped_policies() -> PolicySet:
    """The shipped packs, loaded once per test process (parsing them is the slow part of a Gatekeeper)."""
    if not _policies:
        _policies.append(load_policies(Config().policy_paths()))
    return _policies[0]


def make_gatekeeper(tmp_path: Path, **config: Any) -> tuple[Gatekeeper, TeeAudit]:
    cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp_path}/state.db"),
                 audit=AuditConfig(url=f"file://{tmp_path}/audit", signing_key=str(tmp_path / "key.pem")),
                 **config)
    tee = TeeAudit(open_audit_log(cfg.audit.url, signing_key=Path(cfg.audit.signing_key), base_dir=tmp_path))
    gk = runtime.configure(cfg, audit=tee, policies=shipped_policies())
    gk.store.profiles.put_profiles(list(PROFILES))
    return gk, tee


@pytest.fixture
def gk(tmp_path: Path) -> Iterator[Gatekeeper]:
    g, _ = make_gatekeeper(tmp_path)
    yield g
    runtime.reset()


@pytest.fixture
def audit(gk: Gatekeeper) -> TeeAudit:
    a = gk.audit
    assert isinstance(a, TeeAudit)
    return a


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


def rid(sub: str, provider: str, *parts: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/{provider}/" + "/".join(parts)


def writes(arm: ArmStandIn, path: str) -> list[str]:
    """PUT/PATCH requests that reached the stand-in for exactly ``path``."""
    return [r.method for r in arm.arrived() if r.method in ("PUT", "PATCH") and r.path.lower() == path.lower()]
