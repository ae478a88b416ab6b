"""Helpers for users testing their own policy packs and integrations with gatekeeper.

    from gatekeeper.testing import decide, customer, run_pack_tests

    d = decide("policies/my-pack.yaml", provider="aws", instance_type="p5.48xlarge",
               customer=customer(country="SG", parent="CN"))
    assert d.outcome.label == "pending"

``decide`` evaluates with the real catalog and engine and no store, audit log or workflow (pure).
``ListAuditSink`` collects audit records in memory for integration tests of adapters you write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from gatekeeper.engine import Engine, Evaluation
from gatekeeper.model import AttachedAccelerator, ComputeItem, CustomerProfile, ProvisioningRequest, ScreeningHit
from gatekeeper.policy import load_policies
from gatekeeper.policy.testing import CaseResult, run_pack_tests

__all__ = ["CaseResult", "ListAuditSink", "customer", "decide", "run_pack_tests"]


def customer(
    *,
    country: str = "US",
    headquarters: str | None = None,
    parent: str | None = None,
    kyc_status: str = "verified",
    provider: str = "aws",
    account_id: str = "000000000000",
    legal_name: str = "Test Customer",
    screening_lists: Sequence[str] = (),
) -> CustomerProfile:
    """A profile; headquarters and parent default to the country."""
    hq = headquarters or country
    return CustomerProfile(provider, account_id, legal_name, country, hq, parent or hq, kyc_status,
                           screening_hits=tuple(ScreeningHit(code, f"test-{code}", "test entry", 100.0)
                                                for code in screening_lists))


def decide(
    policies: str | Path | Sequence[str | Path],
    *,
    provider: str = "aws",
    instance_type: str,
    count: int = 1,
    region: str = "",
    attached: dict[str, float] | None = None,
    customer: CustomerProfile | None = None,
    on: date | None = None,
) -> Evaluation:
    """Evaluate one request against the packs at ``policies`` (pure: no store, no audit)."""
    paths = [policies] if isinstance(policies, str | Path) else list(policies)
    engine = Engine(load_policies(paths))
    profile = customer or CustomerProfile.unknown(provider, "000000000000")
    items = (ComputeItem(instance_type, count, tuple(AttachedAccelerator(t, n) for t, n in (attached or {}).items())),)
    request = ProvisioningRequest(provider, profile.account_id, items, region=region, source="cli")
    return engine.evaluate(request, profile, on=on or date.today())


class ListAuditSink:
    """An in-memory audit sink (the AuditSink protocol of gatekeeper.service), for tests."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        stored = {**record, "seq": len(self.records) + 1}
        self.records.append(stored)
        return stored

    def append_many(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.append(r) for r in records]

    def close(self) -> None:
        pass
