"""Issue 8 end to end: a listed customer is denied with the entry named; a cleared false positive is allowed."""

from __future__ import annotations

from gatekeeper.model import ComputeItem, CustomerProfile, Outcome, ProvisioningRequest
from gatekeeper.screening import clear_hit, load_list, screen_profiles
from gatekeeper.service import Gatekeeper
from tests.screening.conftest import CSV_LIST

LISTED = CustomerProfile("aws", "111111111111", "Shenzen Huawei Technologies Co.", "CN", "CN", "CN", "verified")
NAMESAKE = CustomerProfile("aws", "555555555555", "Sugon GmbH", "DE", "DE", "DE", "verified")
MILITARY = CustomerProfile("aws", "777777777777", "Xian Aircraft Industry Group", "DE", "DE", "DE", "verified")
PLAIN = CustomerProfile("aws", "888888888888", "Acme Corp", "DE", "DE", "DE", "verified")


def a100(account: str) -> ProvisioningRequest:
    return ProvisioningRequest("aws", account, (ComputeItem("p4d.24xlarge", 1),), region="eu-central-1",
                               service="ec2", operation="RunInstances")


def test_listed_customer_is_denied_naming_the_entry(gkeeper: Gatekeeper) -> None:
    load_list(gkeeper, CSV_LIST)
    gkeeper.store.profiles.put_profiles([LISTED])
    screen_profiles(gkeeper, [LISTED])  # what `accounts import` does
    d = gkeeper.decide(a100(LISTED.account_id), dry_run=True)
    assert d.outcome == Outcome.DENY
    assert "entity-list" in [m.rule_id for m in d.matches]
    assert any("Huawei Technologies Co., Ltd." in r and "EL" in r for r in d.reasons), d.reasons


def test_cleared_false_positive_is_allowed(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([NAMESAKE, PLAIN])
    load_list(gkeeper, CSV_LIST)  # the load screens the stored profiles
    assert gkeeper.decide(a100(PLAIN.account_id), dry_run=True).outcome == Outcome.ALLOW
    before = gkeeper.decide(a100(NAMESAKE.account_id), dry_run=True)
    assert before.outcome == Outcome.DENY and any("Dawning" in r for r in before.reasons)
    clear_hit(gkeeper, NAMESAKE.account_id, "el-sugon-0004", by="alice", reason="German bakery, not Sugon")
    after = gkeeper.decide(a100(NAMESAKE.account_id), dry_run=True)
    assert after.outcome == Outcome.ALLOW, after.reasons
    assert [h.cleared for h in after.profile.screening_hits] == [True]


def test_military_end_user_is_held_pending(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([MILITARY])
    load_list(gkeeper, CSV_LIST)
    d = gkeeper.decide(a100(MILITARY.account_id), dry_run=True)
    assert d.outcome == Outcome.PENDING
    assert any("MEU" in r and "Xi'an Aircraft" in r for r in d.reasons), d.reasons
