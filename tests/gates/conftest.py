"""Fixtures of the gate tests: a real Gatekeeper (SQLite store, signed audit log with a tee) with one
China-owned, one verified US customer per cloud, as the packs decide them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper import runtime
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters._support import TeeAudit, make_gatekeeper

CN_AWS, US_AWS = "222222222222", "111111111111"
CN_AZ, US_AZ = "0c0c0c0c-0000-4000-8000-00000000000c", "0a0a0a0a-0000-4000-8000-00000000000a"
CN_GCP, US_GCP = "lion-city-ml", "acme-analytics"
CN = {"aws": CN_AWS, "azure": CN_AZ, "gcp": CN_GCP}
US = {"aws": US_AWS, "azure": US_AZ, "gcp": US_GCP}

GATE_PROFILES = (
    CustomerProfile("aws", US_AWS, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("aws", CN_AWS, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
    CustomerProfile("azure", US_AZ, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("azure", CN_AZ, "Pearl River Vision Ltd.", "CN", "CN", "CN", "verified"),
    CustomerProfile("gcp", US_GCP, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("gcp", CN_GCP, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[tuple[Gatekeeper, TeeAudit]]:
    gk, tee = make_gatekeeper(tmp_path, GATE_PROFILES)
    yield gk, tee
    runtime.reset()
