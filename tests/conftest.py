"""Fixtures shared by the whole suite: a configuration and a Gatekeeper on a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gatekeeper import runtime
from gatekeeper.config import AuditConfig, Config, StoreConfig
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper

# How fast hypothesis generates data is not what any test checks: a loaded 2-core machine must not
# fail a test on it (tests that set their own suppressions list too_slow themselves).
settings.register_profile("gatekeeper", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gatekeeper")

SAMPLE_PROFILES = (
    CustomerProfile("aws", "111111111111", "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
    CustomerProfile("aws", "333333333333", "Andes Render SpA", "CL", "CL", "CL", "unverified"),
    CustomerProfile("aws", "444444444444", "Persian Gulf Compute Co.", "IR", "IR", "IR", "verified"),
)


def tmp_config(tmp_path: Path, **overrides: object) -> Config:
    """A Config whose store and audit log live under ``tmp_path``."""
    base: dict[str, object] = {
        "store": StoreConfig(url=f"sqlite:///{tmp_path}/state.db", create=True),
        "audit": AuditConfig(url=f"file://{tmp_path}/audit", signing_key=str(tmp_path / "audit-key.pem")),
    }
    base.update(overrides)
    return Config(**base)  # type: ignore[arg-type]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return tmp_config(tmp_path)


@pytest.fixture
def gk(config: Config) -> Iterator[Gatekeeper]:
    """A Gatekeeper with the sample profiles, also installed as the process-wide runtime."""
    g = runtime.configure(config)
    g.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    yield g
    runtime.reset()
