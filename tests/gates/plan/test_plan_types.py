"""Every resource type the gate reads, in a plan of the documented format: a China-owned customer is
held (pending, a case opened), a verified US customer allowed, a plain machine allowed, and a machine
type known only after apply decided as an unknown accelerator with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.gates.plan import RESOURCE_TYPES, UNKNOWN_TYPE, check_plan, parse_plan
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.adapters._support import TeeAudit
from tests.gates.conftest import CN, US
from tests.gates.plan._matrix import BUILD, CONTROLLED, PLAIN
from tests.gates.plan._plans import aws_provider, azure_provider, google_provider, plan

TYPES = sorted(RESOURCE_TYPES)


def providers(provider: str, account: str) -> dict[str, Any]:
    return {"aws": lambda: aws_provider(account), "azure": lambda: azure_provider(account),
            "gcp": lambda: google_provider(account)}[provider]()


def run(gk: Gatekeeper, rtype: str, account_of: dict[str, str], machine: str | None):
    provider = RESOURCE_TYPES[rtype].provider
    doc = plan(*BUILD[rtype](machine), providers=providers(provider, account_of[provider]))
    report = check_plan(gk, parse_plan(doc, source=f"{rtype}.json"))
    return [f for f in report.findings if f.type == rtype], report


def test_every_type_has_a_fixture() -> None:
    assert sorted(BUILD) == TYPES


@pytest.mark.parametrize("rtype", TYPES)
def test_china_owned_customer_is_held(gate: tuple[Gatekeeper, TeeAudit], rtype: str) -> None:
    gk, tee = gate
    provider = RESOURCE_TYPES[rtype].provider
    found, report = run(gk, rtype, CN, CONTROLLED[provider])
    assert len(found) == 1, report
    d = found[0].decision
    assert d is not None and d.outcome == Outcome.PENDING, (d and d.as_dict())
    assert d.blocks and d.case_id
    assert any(i.export_class.startswith("3A090") for i in d.items)
    assert d.request.source == "plan" and d.request.account_id == CN[provider]
    assert d.request.resource_ids == (found[0].address,)
    # audited before the report is returned
    assert any(r["decision_id"] == d.decision_id and r["source"] == "plan" for r in tee.decisions)


@pytest.mark.parametrize("rtype", TYPES)
def test_verified_us_customer_is_allowed(gate: tuple[Gatekeeper, TeeAudit], rtype: str) -> None:
    gk, _ = gate
    provider = RESOURCE_TYPES[rtype].provider
    found, _ = run(gk, rtype, US, CONTROLLED[provider])
    d = found[0].decision
    assert d is not None and d.outcome == Outcome.ALLOW, d and d.as_dict()
    assert d.accelerated  # the machine was read, not missed


@pytest.mark.parametrize("rtype", TYPES)
def test_plain_machine_is_allowed_for_china_owned_customer(gate: tuple[Gatekeeper, TeeAudit], rtype: str) -> None:
    gk, _ = gate
    provider = RESOURCE_TYPES[rtype].provider
    found, _ = run(gk, rtype, CN, PLAIN[provider])
    d = found[0].decision
    assert d is not None and d.outcome == Outcome.ALLOW and not d.accelerated, d and d.as_dict()


@pytest.mark.parametrize("rtype", TYPES)
def test_unknown_until_apply_is_an_unknown_accelerator(gate: tuple[Gatekeeper, TeeAudit], rtype: str) -> None:
    gk, _ = gate
    found, _ = run(gk, rtype, CN, None)
    f = found[0]
    d = f.decision
    assert d is not None and d.outcome == Outcome.PENDING, d and d.as_dict()
    unknown = [i for i in d.items if i.instance_type == UNKNOWN_TYPE or i.item.instance_type == UNKNOWN_TYPE]
    assert unknown and all(i.export_class == "unknown" for i in unknown)
    assert any("known only after apply" in n for n in f.notes)
    assert all("known only after apply" in i.item.path for i in unknown)  # the reason is in the record
    # the same plan for a verified US customer: flagged for review, not silently allowed
    found_us, _ = run(gk, rtype, US, None)
    assert found_us[0].decision is not None and found_us[0].decision.outcome == Outcome.FLAG
