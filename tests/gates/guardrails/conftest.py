"""Guardrail fixtures: a Gatekeeper with customers on file in every cloud, and a licence helper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gatekeeper import runtime
from gatekeeper.model import ComputeItem, CustomerProfile, Outcome, ProvisioningRequest
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow.model import Licence, Scope
from tests.adapters._support import make_gatekeeper
from tests.gates.conftest import GATE_PROFILES

ON = date(2026, 12, 4)
IRAN = CustomerProfile("aws", "444444444444", "Persian Gulf Compute Co.", "IR", "IR", "IR", "verified")


@pytest.fixture
def gk(tmp_path: Path) -> Iterator[Gatekeeper]:
    g, _ = make_gatekeeper(tmp_path, (*GATE_PROFILES, IRAN))
    yield g
    runtime.reset()


def licence(provider: str, account: str, *, number: str = "EAR-2026-001", until: date = date(2027, 6, 30),
            since: date = date(2026, 1, 1), classes: tuple[str, ...] = ("3A090.a",),
            regions: tuple[str, ...] = ()) -> Licence:
    return Licence(number=number, provider=provider, account_id=account, legal_name="Lion City AI Pte. Ltd.",
                   scope=Scope(export_classes=classes, regions=regions), quantity=64, remaining=64,
                   valid_from=since, valid_until=until, issued_at=datetime(2026, 1, 1, tzinfo=UTC))


def controlled(gk: Gatekeeper, provider: str, account: str, name: str, on: date = ON, region: str = "") -> Outcome:
    """What the engine decides for one machine of ``name`` for the customer (the reference answer)."""
    profile = gk.profile(provider, account)
    ev = gk.engine.evaluate(ProvisioningRequest(provider, account, (ComputeItem(name, 1),), region=region), profile,
                            on=on)
    return ev.outcome
