"""Fixtures shared by the adapter tests: the configured runtime (``gk``) and its audit tee (``audit``).

Each provider's conftest overrides ``adapter_profiles`` with the customers its tests rely on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper import runtime
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters._support import TeeAudit, make_gatekeeper


@pytest.fixture
def adapter_profiles() -> tuple[CustomerProfile, ...]:
    """The customer profiles imported into ``gk``; overridden per provider."""
    return ()


@pytest.fixture
def gk(tmp_path: Path, adapter_profiles: tuple[CustomerProfile, ...]) -> Iterator[Gatekeeper]:
    """A configured process-wide runtime on tmp_path (profiles imported), reset afterwards."""
    g, _ = make_gatekeeper(tmp_path, adapter_profiles)
    yield g
    runtime.reset()


@pytest.fixture
def audit(gk: Gatekeeper) -> TeeAudit:
    """The audit tee of ``gk``, for assertions on what was made durable."""
    a = gk.audit
    assert isinstance(a, TeeAudit)
    return a
