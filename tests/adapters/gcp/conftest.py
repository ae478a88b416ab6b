"""Fixtures for the Google Cloud adapter tests: a gatekeeper on tmp_path, the GCP stand-in, SDK clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.audit import open_audit_log
from gatekeeper.config import AuditConfig, Config, StoreConfig
from gatekeeper.model import CustomerProfile
from gatekeeper.policy import PolicySet, load_policies
from gatekeeper.service import Gatekeeper

CN_PROJECT = "lioncity-ai-train"   # Singapore company, ultimate parent in China
US_PROJECT = "acme-analytics-prod"  # verified US company
UNKNOWN_PROJECT = "nobody-knows"

PROFILES = (
    CustomerProfile("gcp", US_PROJECT, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("gcp", CN_PROJECT, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
)

GPU = "a2-highgpu-1g"      # 1 x A100, 3A090.a
PLAIN = "n2-standard-8"
ZONE = "us-central1-a"
REGION = "us-central1"


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
        return [r for r in self.records if r.get("kind") == "decision"]

    def close(self) -> None:
        self.inner.close()


_policies: list[PolicySet] = []


def shipped_policies() -> PolicySet:
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
def gcp() -> Iterator[GcpStandIn]:
    with GcpStandIn() as server:
        yield server


def options(server: GcpStandIn) -> dict[str, Any]:
    return {"credentials": AnonymousCredentials(), "client_options": {"api_endpoint": server.url}}


def instances(server: GcpStandIn, *, protected: bool = True) -> compute_v1.InstancesClient:
    client = compute_v1.InstancesClient(**options(server))
    return gatekeeper.gcp.protect(client) if protected else client


def region_instances(server: GcpStandIn) -> compute_v1.RegionInstancesClient:
    return gatekeeper.gcp.protect(compute_v1.RegionInstancesClient(**options(server)))


def templates(server: GcpStandIn) -> compute_v1.InstanceTemplatesClient:
    return gatekeeper.gcp.protect(compute_v1.InstanceTemplatesClient(**options(server)))


def region_templates(server: GcpStandIn) -> compute_v1.RegionInstanceTemplatesClient:
    return gatekeeper.gcp.protect(compute_v1.RegionInstanceTemplatesClient(**options(server)))


def gke(server: GcpStandIn) -> container_v1.ClusterManagerClient:
    return gatekeeper.gcp.protect(container_v1.ClusterManagerClient(transport="rest", **options(server)))


def writes(server: GcpStandIn, contains: str) -> list[str]:
    """Writes (POST/PUT/PATCH) that reached the stand-in with ``contains`` in the path."""
    return [f"{r.method} {r.path}" for r in server.arrived() if r.method in ("POST", "PUT", "PATCH")
            and contains.lower() in r.path.lower()]
