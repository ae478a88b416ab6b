"""What a pending request needs from a licence: controlled accelerators, quantity, scope (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gatekeeper.catalog import default_catalog
from gatekeeper.model import (
    AttachedAccelerator,
    ComputeItem,
    CustomerProfile,
    Decision,
    Outcome,
    ProvisioningRequest,
)
from gatekeeper.workflow.model import Licence, Scope
from gatekeeper.workflow.scope import need_of, uncovered


def _decision(provider: str, *items: ComputeItem, region: str = "us-east-1") -> Decision:
    req = ProvisioningRequest(provider=provider, account_id="acct", items=items, region=region)
    cat = default_catalog()
    classified = tuple(cat.classify_item(provider, i) for i in items)
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return Decision("dec-1", Outcome.PENDING, req, CustomerProfile(provider, "acct"), classified, (),
                    Outcome.PENDING, now)


def test_quantity_is_accelerators_times_instances() -> None:
    need = need_of(_decision("aws", ComputeItem("p4d.24xlarge", 3)))
    assert need.quantity == 24 and need.units == ("3A090.a",)
    assert need.scope_key == "aws|acct|3A090.a"


def test_choice_groups_count_their_largest_alternative_once() -> None:
    need = need_of(_decision("aws",
                             ComputeItem("p4d.24xlarge", 2, choice="slot-1"),   # 16
                             ComputeItem("p5.48xlarge", 1, choice="slot-1"),    # 8
                             ComputeItem("p5.48xlarge", 1, choice="slot-2"),    # 8
                             ComputeItem("p4d.24xlarge", 1)))                   # 8
    assert need.quantity == 16 + 8 + 8
    assert {a.model for a in need.accelerators} == {"A100", "H100-SXM"}


def test_uncontrolled_items_neither_count_nor_widen_the_scope() -> None:
    need = need_of(_decision("aws", ComputeItem("p4d.24xlarge", 1), ComputeItem("g4dn.xlarge", 5),
                             ComputeItem("t3.micro", 10)))
    assert need.quantity == 8 and need.units == ("3A090.a",)


def test_named_chip_is_its_own_scope_unit() -> None:
    need = need_of(_decision("gcp", ComputeItem("n1-standard-8", 2, (AttachedAccelerator("H20", 1),)),
                             region="us-central1"))
    assert need.quantity == 2 and need.units == ("H20",)
    scope = need.scope()
    assert scope.chips == ("H20",) and scope.export_classes == () and scope.providers == ("gcp",)


def test_unknown_family_counts_one_per_instance() -> None:
    need = need_of(_decision("aws", ComputeItem("p9.96xlarge", 3)))
    assert need.quantity == 3
    assert need.accelerators[0].export_class == "unknown"


def test_only_uncontrolled_accelerators_pending_counts_them_all() -> None:
    """A custom pack holding T4s: nothing pending is ever licensed for free."""
    need = need_of(_decision("aws", ComputeItem("g4dn.xlarge", 4)))
    assert need.quantity == 4 and need.units == ("T4",)


@pytest.mark.parametrize(("provider", "scope_region", "region", "covered"), [
    ("aws", "us-east-1", "us-east-1", True),
    ("aws", "us-east-1", "us-east-1a", True),
    ("aws", "us-east-1", "us-east-2", False),
    ("aws", "us-east-1", "", False),
    ("gcp", "us-central1", "us-central1-a", True),
    ("gcp", "us-central1", "us-central2", False),
    ("azure", "eastus", "eastus2", False),
    ("azure", "eastus", "EastUS", True),
])
def test_region_scope(provider: str, scope_region: str, region: str, covered: bool) -> None:
    assert Scope(export_classes=("3A090.a",), regions=(scope_region,)).covers_place(provider, region) is covered


def test_empty_regions_and_providers_mean_any() -> None:
    assert Scope(export_classes=("3A090.a",)).covers_place("gcp", "asia-east1")
    assert not Scope(providers=("aws",)).covers_place("gcp", "asia-east1")


def test_uncovered_names_what_is_missing() -> None:
    need = need_of(_decision("aws", ComputeItem("p5.48xlarge", 1), region="eu-west-1"))
    lic = Licence(number="L-1", provider="aws", account_id="acct", scope=Scope(export_classes=("3A090.b",),
                  providers=("aws",), regions=("us-east-1",)), quantity=8, remaining=8,
                  valid_from=date(2026, 1, 1), valid_until=date(2026, 12, 31), issued_at=datetime.now(UTC))
    why = " ".join(uncovered(lic, need))
    assert "does not cover aws eu-west-1" in why and "H100-SXM (3A090.a)" in why
    good = lic.model_copy(update={"scope": Scope(chips=("H100-SXM",))})
    assert uncovered(good, need) == []


def test_licence_states() -> None:
    lic = Licence(number="L-1", provider="aws", account_id="acct", scope=Scope(export_classes=("3A090.a",)),
                  quantity=8, remaining=8, valid_from=date(2026, 1, 10), valid_until=date(2026, 1, 20),
                  issued_at=datetime.now(UTC))
    assert lic.state(date(2026, 1, 9)) == "not yet valid"
    assert lic.state(date(2026, 1, 10)) == "active"
    assert lic.state(date(2026, 1, 20)) == "active"
    assert lic.state(date(2026, 1, 21)) == "expired"
    assert lic.model_copy(update={"remaining": 0}).state(date(2026, 1, 15)) == "exhausted"
    assert lic.model_copy(update={"status": "revoked"}).state(date(2026, 1, 15)) == "revoked"


def test_account_is_the_profiles_normalised_id() -> None:
    """Azure subscription ids are case-insensitive: cases and licences use the normalised (lower-case) id."""
    d = _decision("azure", ComputeItem("Standard_ND96asr_v4", 1), region="eastus")
    upper = ProvisioningRequest(provider="azure", account_id="AB12CD34-0000-0000-0000-000000000000",
                                items=d.request.items, region="eastus")
    from dataclasses import replace

    d = replace(d, request=upper, profile=CustomerProfile("azure", "ab12cd34-0000-0000-0000-000000000000"))
    need = need_of(d)
    assert need.account_id == "ab12cd34-0000-0000-0000-000000000000"
    assert need.scope_key.startswith("azure|ab12cd34-")
