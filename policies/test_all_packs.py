"""Every shipped pack in force together, on several dates: a truth table across packs.

The per-pack cases (test_packs.py) run each pack alone; here all of them are compiled into one policy
set, as a deployment runs them, so that a rule of one pack that contradicts or shadows another's shows
up. Each row gives the outcome, the exact set of rules that match, and the licence review policy the
decision carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from gatekeeper.engine import Engine
from gatekeeper.model import (
    AcceleratorInfo,
    AttachedAccelerator,
    ClassifiedItem,
    ComputeItem,
    CustomerProfile,
    Outcome,
    ProvisioningRequest,
    review_policy,
)
from gatekeeper.policy import load_policies

ENGINE = Engine(load_policies([Path(__file__).parent]))

BEFORE_H200 = date(2025, 12, 1)  # before 91 FR 1684
AFTER_H200 = date(2026, 3, 1)  # after 91 FR 1684 and after Cambodia left D:5 (2026-02-03)
H20_ERA = date(2025, 6, 1)  # after the 2025-04-09 H20/MI308 requirement, Cambodia still in D:5
PRE_H20 = date(2024, 6, 1)

CN = ("CN", "CN", "CN")
SG_CN = ("SG", "SG", "CN")
US = ("US", "US", "US")


@dataclass(frozen=True)
class Row:
    name: str
    on: date
    countries: tuple[str, str, str] | None  # None: an account not in the store
    provider: str
    instance_type: str
    region: str
    expect: str
    rules: frozenset[str]
    review: str = ""
    kyc: str = "verified"
    attached: tuple[tuple[str, float], ...] = ()


def row(name: str, on: date, countries: tuple[str, str, str] | None, provider: str, itype: str, region: str,
        expect: str, rules: set[str], review: str = "", kyc: str = "verified",
        attached: tuple[tuple[str, float], ...] = ()) -> Row:
    return Row(name, on, countries, provider, itype, region, expect, frozenset(rules), review, kyc, attached)


TABLE = [
    # The H200 rule (91 FR 1684): the review policy changes on 2026-01-15, the licence requirement does not.
    row("China, H200, before 91 FR 1684", BEFORE_H200, CN, "aws", "p5e.48xlarge", "us-east-1", "pending",
        {"d5-macau-3a090", "d5-macau-presumption-of-denial-2023"}, "presumption of denial"),
    row("China, H200, after 91 FR 1684", AFTER_H200, CN, "aws", "p5e.48xlarge", "us-east-1", "pending",
        {"d5-macau-3a090", "china-macau-h200-class-case-by-case"}, "case-by-case"),
    row("China, MI300X (MI325X class) on Azure", AFTER_H200, CN, "azure", "Standard_ND96is_MI300X_v5", "eastus",
        "pending", {"d5-macau-3a090", "china-macau-h200-class-case-by-case"}, "case-by-case"),
    row("China, B200 (above the class)", AFTER_H200, CN, "aws", "p6-b200.48xlarge", "us-east-1", "pending",
        {"d5-macau-3a090", "d5-above-h200-class-tpp", "d5-above-h200-class-bandwidth"}, "presumption of denial"),
    row("China, GB300 (unconfirmed figures)", AFTER_H200, CN, "gcp", "a4x-maxgpu-4g-metal", "us-central1",
        "pending", {"d5-macau-3a090", "d5-above-h200-class-tpp", "d5-above-h200-class-bandwidth",
                    "unknown-or-unconfirmed"}, "presumption of denial"),
    row("Singapore subsidiary of a Chinese parent, H200", AFTER_H200, SG_CN, "aws", "p5e.48xlarge",
        "ap-southeast-1", "pending", {"d5-macau-3a090", "d5-outside-china-macau"},
        "presumption of denial"),
    # Embargoes: any provisioning, plain included; the deny outweighs the licence rules.
    row("North Korea, plain t3.micro", AFTER_H200, ("KP", "KP", "KP"), "aws", "t3.micro", "us-east-1", "deny",
        {"embargoed-customer"}),
    row("US company owned from Cuba, plain e2-medium", AFTER_H200, ("US", "US", "CU"), "gcp", "e2-medium",
        "us-central1", "deny", {"embargoed-customer"}),
    row("Iran, H100", AFTER_H200, ("IR", "IR", "IR"), "aws", "p5.48xlarge", "eu-central-1", "deny",
        {"embargoed-customer", "d5-macau-3a090", "d5-outside-china-macau"}, "presumption of denial"),
    # Dated country groups: Cambodia in D:5 from 2021-12-09 to 2026-02-03.
    row("Cambodia, A100, while in D:5", H20_ERA, ("KH", "KH", "KH"), "aws", "p4d.24xlarge", "us-east-1",
        "pending", {"d5-macau-3a090", "d5-macau-presumption-of-denial-2023"}, "presumption of denial"),
    row("Cambodia, A100, after leaving D:5", AFTER_H200, ("KH", "KH", "KH"), "aws", "p4d.24xlarge", "us-east-1",
        "allow", set()),
    # Destinations (742.6(a)(6)(iii)): .a, .b and unknown accelerators in D:1/D:4/D:5 regions.
    row("US company, H100 in Beijing", AFTER_H200, US, "aws", "p5.48xlarge", "cn-north-1", "pending",
        {"controlled-destination-region"}),
    row("US company, L40 (3A090.b) in Hong Kong", AFTER_H200, US, "gcp", "n1-standard-8", "asia-east2", "pending",
        {"controlled-destination-region"}, attached=(("L40", 1),)),
    row("US company, unknown accelerator in the UAE", AFTER_H200, US, "aws", "p9.96xlarge", "me-central-1",
        "pending", {"controlled-destination-unknown-accelerator", "unknown-or-unconfirmed"}),
    row("US company, TPU v4 in Qatar", AFTER_H200, US, "gcp", "ct4p-hightpu-4t", "me-central1", "pending",
        {"controlled-destination-unknown-accelerator", "unknown-or-unconfirmed"}),
    row("US company, A100 in Israel (A:6)", AFTER_H200, US, "gcp", "a2-highgpu-1g", "me-west1", "allow", set()),
    # Named chips (2025-04-09).
    row("Chinese-owned, H20, after 2025-04-09", H20_ERA, SG_CN, "gcp", "n1-standard-8", "us-central1", "pending",
        {"d5-macau-named-chips"}, attached=(("H20", 1),)),
    row("Chinese-owned, H20, before 2025-04-09", PRE_H20, SG_CN, "gcp", "n1-standard-8", "us-central1", "allow",
        set(), attached=(("H20", 1),)),
    # Company policy (the proposed IaaS CIP rule) and unknown customers.
    row("Account not in the store, H100", AFTER_H200, None, "aws", "p5.48xlarge", "us-east-1", "pending",
        {"unverified-foreign-3a090", "unverified-foreign-accelerator"}),
    row("Unverified Chilean company, T4", AFTER_H200, ("CL", "CL", "CL"), "aws", "g4dn.xlarge", "us-east-1", "flag",
        {"unverified-foreign-accelerator"}, kyc="unverified"),
    # Catalog rows: A10G proven below 3A090 by the A10; TPU v5e's class rests on an unsourced area.
    row("US company, A10G", AFTER_H200, US, "aws", "g5.xlarge", "us-east-1", "allow", set()),
    row("US company, TPU v5e", AFTER_H200, US, "gcp", "ct5lp-hightpu-4t", "us-central1", "flag",
        {"unknown-or-unconfirmed"}),
    row("US company, TPU7x (confirmed 3A090.a)", AFTER_H200, US, "gcp", "tpu7x-standard-4t",
        "us-central1", "allow", set()),
]


def decide(r: Row) -> tuple[Outcome, set[str], str, tuple[str, ...]]:
    attached = tuple(AttachedAccelerator(t, n) for t, n in r.attached)
    request = ProvisioningRequest(r.provider, "acct", (ComputeItem(r.instance_type, 1, attached),), region=r.region)
    if r.countries is None:
        profile = CustomerProfile.unknown(r.provider, "acct")
    else:
        profile = CustomerProfile(r.provider, "acct", "Customer", *r.countries, kyc_status=r.kyc)
    ev = ENGINE.evaluate(request, profile, on=r.on)
    return ev.outcome, {m.rule_id for m in ev.matches}, review_policy(m.review_policy for m in ev.matches), \
        tuple(m.basis for m in ev.matches)


@pytest.mark.parametrize("r", TABLE, ids=[r.name for r in TABLE])
def test_truth_table(r: Row) -> None:
    outcome, rules, review, _ = decide(r)
    assert (outcome.label, rules, review) == (r.expect, set(r.rules), r.review)


def test_company_policy_is_labelled_on_the_decision() -> None:
    r = next(x for x in TABLE if x.name == "Account not in the store, H100")
    _, _, _, bases = decide(r)
    assert set(bases) == {"company policy"}


def test_a_chip_without_published_bandwidth_gets_the_presumption_of_denial() -> None:
    # No catalogued 3A090 chip lacks a bandwidth today; a record from before the field existed, or a
    # future row without one, must not be read as within the H200 class.
    acc = AcceleratorInfo("H200", 8, 8, 15832.0, 19.45, "3A090.a", True)
    item = ClassifiedItem(ComputeItem("p5e.48xlarge"), "p5e.48xlarge", True, True, "3A090.a", (acc,))
    request = ProvisioningRequest("aws", "acct", (item.item,), region="us-east-1")
    profile = CustomerProfile("aws", "acct", "C", *CN, kyc_status="verified")
    ev = ENGINE.evaluate(request, profile, on=AFTER_H200, items=(item,))
    assert {m.rule_id for m in ev.matches} == {"d5-macau-3a090", "d5-unpublished-bandwidth"}
    assert {m.review_policy for m in ev.matches} == {"", "presumption of denial"}


@pytest.mark.parametrize(("on", "expect"), [(date(2025, 9, 28), "allow"), (date(2025, 10, 15), "deny"),
                                            (date(2026, 6, 1), "allow"), (date(2026, 11, 10), "deny")])
def test_affiliates_rule_across_its_suspension(on: date, expect: str) -> None:
    from gatekeeper.model import Owner

    profile = CustomerProfile("aws", "acct", "Harbour", "SG", "SG", "SG", "verified",
                              owners=(Owner("Listed Holdings", "CN", 60.0, ("EL",)),))
    request = ProvisioningRequest("aws", "acct", (ComputeItem("p4d.24xlarge"),), region="us-east-1")
    ev = ENGINE.evaluate(request, profile, on=on)
    assert ev.outcome.label == expect
    assert {m.pack_id for m in ev.matches} == ({"us-affiliates-rule"} if expect == "deny" else set())
