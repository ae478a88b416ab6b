"""Fixtures for the Google Cloud adapter tests: a gatekeeper on tmp_path, the GCP stand-in, SDK clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1

import gatekeeper
from gatekeeper.adapters.gcp.testing import GcpStandIn
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters import _support
from tests.adapters._support import TeeAudit as TeeAudit  # re-exported for the tests

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


def make_gatekeeper(tmp_path: Path, **config: Any) -> tuple[Gatekeeper, TeeAudit]:
    """Configure the runtime on ``tmp_path`` with this provider's PROFILES (see tests/adapters/_support.py)."""
    return _support.make_gatekeeper(tmp_path, PROFILES, **config)


@pytest.fixture
def adapter_profiles() -> tuple[CustomerProfile, ...]:
    return PROFILES


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
