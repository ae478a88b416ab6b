"""The engine against an independent reference interpreter, and monotonicity properties (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gatekeeper.catalog import default_catalog
from gatekeeper.engine import Engine
from gatekeeper.jurisdictions import default_jurisdictions
from gatekeeper.model import (
    ClassifiedItem,
    ComputeItem,
    CustomerProfile,
    Outcome,
    Owner,
    ProvisioningRequest,
    ScreeningHit,
)
from gatekeeper.policy import load_policies, read_packs, shipped_policies_dir
from gatekeeper.policy.schema import Pack, Rule

CATALOG = default_catalog()
J = default_jurisdictions()
PACKS = [p for p, _ in read_packs([shipped_policies_dir()])]
ENGINE = Engine(load_policies([shipped_policies_dir()]))
SIM_ENGINE = Engine(load_policies([shipped_policies_dir()], simulate=True))

COUNTRIES = ["US", "CN", "HK", "MO", "SG", "DE", "IR", "CU", "IN", "JP", "IL", "AE", "RU", "BR", "KP", "NO", "KH", "NG"]
REGIONS = {p: sorted(J.regions[p]) for p in ("aws", "azure", "gcp")}
TYPES = {p: sorted(t.name for t in CATALOG.types(p)) for p in ("aws", "azure", "gcp")}
EXTRA = {"aws": ["t3.micro", "P5.48XLARGE ", "p9.huge", "zz1.large", "ml.p4d.24xlarge"],
         "azure": ["standard_d2s_v5", "STANDARD_ND96ISR_H100_V5", "Standard_NX1_v9"],
         "gcp": ["e2-medium", "zones/us-central1-a/machineTypes/a2-highgpu-8g", "a9-ultra-1g"]}


# -- an independent, naive interpreter of the pack files ---------------------------------------
def _in(values: list[str] | None, code: str | None, on: date) -> bool:
    # Country groups are dated (Cambodia in D:5 from 2021-12-09 to 2026-02-03): members on the day.
    return values is not None and code is not None and code in J.expand(values, on)


def _item_ok(rule: Rule, item: ClassifiedItem) -> bool:
    c = rule.when.item
    if not item.accelerated:
        return False
    if c.export_class is not None and not (
        item.export_class in c.export_class or any(a.export_class in c.export_class for a in item.accelerators)
    ):
        return False
    if c.chips is not None and not any(a.model in {CATALOG.chip(x).model for x in c.chips} for a in item.accelerators):
        return False
    if c.named_by_rule is not None and any(a.named_by for a in item.accelerators) != c.named_by_rule:
        return False
    if c.confirmed is not None:
        confirmed = item.export_class != "unknown" and all(a.confirmed for a in item.accelerators)
        if confirmed != c.confirmed:
            return False
    if c.max_tpp is not None and not (item.accelerators and all(
            a.tpp is not None and a.tpp < c.max_tpp for a in item.accelerators)):
        return False
    if c.min_memory_bandwidth is not None and not any(
            a.memory_bandwidth is not None and a.memory_bandwidth >= c.min_memory_bandwidth for a in item.accelerators):
        return False
    if c.max_memory_bandwidth is not None and not (item.accelerators and all(
            a.memory_bandwidth is not None and a.memory_bandwidth < c.max_memory_bandwidth for a in item.accelerators)):
        return False
    published = bool(item.accelerators) and all(a.memory_bandwidth is not None for a in item.accelerators)
    if c.memory_bandwidth_published is not None and published != c.memory_bandwidth_published:
        return False
    return c.min_tpp is None or any(a.tpp is not None and a.tpp >= c.min_tpp for a in item.accelerators)


def _customer_ok(rule: Rule, p: CustomerProfile, on: date) -> bool:
    c = rule.when.customer
    if c is None:
        return True
    pairs = [("country_in", p.country, True), ("country_not_in", p.country, False),
             ("headquarters_in", p.headquarters_country, True), ("headquarters_not_in", p.headquarters_country, False),
             ("parent_in", p.ultimate_parent_country, True), ("parent_not_in", p.ultimate_parent_country, False)]
    for field, value, positive in pairs:
        values = getattr(c, field)
        if values is not None and _in(values, value, on) != positive:
            return False
    countries = [x for x in (p.country, p.headquarters_country, p.ultimate_parent_country) if x]
    if c.any_country_in is not None and not any(_in(c.any_country_in, x, on) for x in countries):
        return False
    if c.no_country_in is not None and any(_in(c.no_country_in, x, on) for x in countries):
        return False
    three = (p.country, p.headquarters_country, p.ultimate_parent_country)
    if c.any_country_not_in is not None and all(x and _in(c.any_country_not_in, x, on) for x in three):
        return False
    if c.kyc_status is not None and p.kyc_status not in c.kyc_status:
        return False
    foreign = p.country != "US" or not p.known
    if c.foreign is not None and foreign != c.foreign:
        return False
    if c.known is not None and p.known != c.known:
        return False
    if c.owned_by is not None:
        lists = set(c.owned_by.lists)
        share = sum(o.share for o in p.owners if lists & set(o.lists))
        if share < c.owned_by.min_share:
            return False
        if c.owned_by.any_owner_on is not None and not any(
                o.share > 0 and set(c.owned_by.any_owner_on) & set(o.lists) for o in p.owners):
            return False
    return c.screening_lists is None or any(h.list_code in c.screening_lists and not h.cleared
                                            for h in p.screening_hits)


def _region_ok(rule: Rule, region_country: str | None, on: date) -> bool:
    c = rule.when.region
    if c is None:
        return True
    if c.country_in is not None and not _in(c.country_in, region_country, on):
        return False
    if c.country_not_in is not None and (region_country is None or _in(c.country_not_in, region_country, on)):
        return False
    return c.unknown is None or (region_country is None) == c.unknown


def reference(packs: list[Pack], req: ProvisioningRequest, profile: CustomerProfile, on: date,
              simulate: bool = False) -> tuple[Outcome, list[str]]:
    items = [CATALOG.classify_item(req.provider, i) for i in req.items]
    plain = not req.unresolved and not any(i.accelerated for i in items)
    region_country = J.region_country(req.provider, req.region) if req.region else None
    outcomes, ids = [Outcome.DENY] if req.unresolved else [], ["gatekeeper.unresolved"] if req.unresolved else []
    if req.region and region_country is None and not plain:  # an unknown region holds accelerated compute
        outcomes.append(Outcome.PENDING)
        ids.append("gatekeeper.unknown-region")
    for pack in packs:
        for rule in pack.rules:
            start = max(pack.effective_from, rule.effective_from or pack.effective_from)
            ends = [d for d in (pack.effective_until, rule.effective_until) if d]
            if not simulate and not (start <= on and (not ends or on < min(ends))):
                continue
            if not simulate and any(x.effective_from <= on < x.effective_until for x in pack.suspended):
                continue
            if plain and rule.applies_to != "all":  # plain requests: only rules that cover any provisioning
                continue
            if _customer_ok(rule, profile, on) and _region_ok(rule, region_country, on) and any(
                    (plain and rule.applies_to == "all") or _item_ok(rule, i) for i in items):
                outcomes.append(Outcome.parse(rule.decision))
                ids.append(rule.id)
    return max(outcomes, default=Outcome.ALLOW), ids


# -- strategies ---------------------------------------------------------------------------------
@st.composite
def requests(draw: st.DrawFn) -> ProvisioningRequest:
    provider = draw(st.sampled_from(["aws", "azure", "gcp"]))
    n = draw(st.integers(1, 3))
    items = []
    for k in range(n):
        t = draw(st.sampled_from(TYPES[provider] + EXTRA[provider]))
        attached = ()
        if provider == "gcp" and draw(st.booleans()):
            from gatekeeper.model import AttachedAccelerator

            attached = (AttachedAccelerator(draw(st.sampled_from(["nvidia-tesla-a100", "nvidia-l4", "nvidia-tesla-t4",
                                                                  "mystery-tpu"])), draw(st.integers(1, 8))),)
        items.append(ComputeItem(t, draw(st.integers(0, 10_000)), attached, path=f"item{k}"))
    region = draw(st.sampled_from([*REGIONS[provider], "", "nowhere-1"]))
    return ProvisioningRequest(provider, "acct", tuple(items), region=region)


@st.composite
def profiles(draw: st.DrawFn) -> CustomerProfile:
    if draw(st.integers(0, 9)) == 0:
        return CustomerProfile.unknown("aws", "acct")
    lists = draw(st.lists(st.sampled_from(["EL", "MEU", "SDN", "UVL", "CAP"]), max_size=2))
    owners = draw(st.lists(st.tuples(st.sampled_from([10.0, 25.0, 30.0, 50.0, 60.0]),
                                     st.lists(st.sampled_from(["EL", "MEU", "SDN", "UVL"]), max_size=2)),
                           max_size=3))
    return CustomerProfile(
        "aws", "acct", "Customer", draw(st.sampled_from(COUNTRIES)), draw(st.sampled_from(COUNTRIES)),
        draw(st.sampled_from(COUNTRIES)), draw(st.sampled_from(["verified", "pending", "unverified"])),
        screening_hits=tuple(ScreeningHit(code, f"e-{code}", "entry", 99.0, draw(st.booleans())) for code in lists),
        owners=tuple(Owner(f"owner {k}", "CN", share, tuple(ls)) for k, (share, ls) in enumerate(owners)),
    )


dates = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=400, deadline=None)
@given(requests(), profiles(), dates)
# Found by hypothesis once the unknown-region rule and the embargo of plain requests met: a plain type
# in an unknown region, for an embargoed customer and for an unknown one.
@example(ProvisioningRequest("aws", "acct", (ComputeItem("c5.12xlarge", 0, path="item0"),), region="nowhere-1"),
         CustomerProfile("aws", "acct", "Customer", "US", "US", "IR", "verified"), date(2023, 1, 1))
@example(ProvisioningRequest("aws", "acct", (ComputeItem("c5.12xlarge", 0, path="item0"),), region="nowhere-1"),
         CustomerProfile("aws", "acct", known=False), date(2023, 1, 1))
def test_engine_agrees_with_reference(req: ProvisioningRequest, profile: CustomerProfile, on: date) -> None:
    ev = ENGINE.evaluate(req, profile, on=on)
    expected, ids = reference(PACKS, req, profile, on)
    assert ev.outcome == expected
    assert [m.rule_id for m in ev.matches] == ids


@settings(max_examples=200, deadline=None)
@given(requests(), profiles(), dates)
def test_simulation_ignores_dates_like_reference(req: ProvisioningRequest, profile: CustomerProfile, on: date) -> None:
    assert SIM_ENGINE.evaluate(req, profile, on=on).outcome == reference(PACKS, req, profile, on, simulate=True)[0]


# How much a country weighs in the shipped packs: replacing one country by another is a restriction
# only when the new one weighs at least as much (embargoed > D:5/Macau > the rest).
WEIGHT = {"IR": 2, "CU": 2, "KP": 2, "CN": 1, "HK": 1, "MO": 1, "RU": 1}


def _heavier(p: CustomerProfile, field: str, code: str) -> CustomerProfile:
    old = getattr(p, field)
    return dataclasses.replace(p, **{field: code}) if WEIGHT.get(code, 0) >= WEIGHT.get(old, 0) else p


RESTRICTIONS = [
    lambda p: dataclasses.replace(p, kyc_status="unverified"),
    lambda p: _heavier(p, "ultimate_parent_country", "CN"),
    lambda p: _heavier(p, "headquarters_country", "MO"),
    lambda p: _heavier(p, "country", "IR"),
    lambda p: dataclasses.replace(p, screening_hits=(*p.screening_hits, ScreeningHit("EL", "x", "x", 99.0))),
    lambda p: dataclasses.replace(p, screening_hits=(*p.screening_hits, ScreeningHit("MEU", "y", "y", 99.0))),
    lambda p: dataclasses.replace(p, known=False, kyc_status="unverified"),
]


@settings(max_examples=300, deadline=None)
@given(requests(), profiles(), dates, st.sampled_from(range(len(RESTRICTIONS))))
def test_a_restrictive_fact_never_relaxes(req: ProvisioningRequest, profile: CustomerProfile, on: date,
                                         which: int) -> None:
    before = ENGINE.evaluate(req, profile, on=on).outcome
    after = ENGINE.evaluate(req, RESTRICTIONS[which](profile), on=on).outcome
    assert after >= before


@settings(max_examples=200, deadline=None)
@given(requests(), requests(), profiles(), dates)
def test_adding_an_item_or_a_controlled_region_never_relaxes(a: ProvisioningRequest, b: ProvisioningRequest,
                                                            profile: CustomerProfile, on: date) -> None:
    before = ENGINE.evaluate(a, profile, on=on).outcome
    more = dataclasses.replace(a, items=a.items + tuple(i for i in b.items if b.provider == a.provider))
    assert ENGINE.evaluate(more, profile, on=on).outcome >= before
    if a.provider == "aws":
        moved = dataclasses.replace(a, region="cn-north-1")
        assert ENGINE.evaluate(moved, profile, on=on).outcome >= before
    unresolved = dataclasses.replace(a, unresolved=("launch template lt-1 unreadable",))
    assert ENGINE.evaluate(unresolved, profile, on=on).outcome == Outcome.DENY


def test_plain_request_takes_the_short_path() -> None:
    req = ProvisioningRequest("aws", "acct", (ComputeItem("t3.micro", 5),), region="cn-north-1")
    ev = ENGINE.evaluate(req, CustomerProfile("aws", "acct", country="CN", kyc_status="unverified"), on=date.today())
    assert ev.outcome == Outcome.ALLOW and ev.matches == () and ev.region_country is None
    assert not ENGINE.plain_guarded(req, CustomerProfile("aws", "acct", "X", "CN", "CN", "CN"))


@pytest.mark.parametrize("countries", [("KP", "KP", "KP"), ("US", "US", "CU"), ("DE", "IR", "DE")])
def test_embargoed_subject_is_denied_plain_compute(countries: tuple[str, str, str]) -> None:
    req = ProvisioningRequest("aws", "acct", (ComputeItem("t3.micro", 5),), region="us-east-1")
    profile = CustomerProfile("aws", "acct", "X", *countries)
    assert ENGINE.plain_guarded(req, profile)
    ev = ENGINE.evaluate(req, profile, on=date(2026, 6, 1))
    assert ev.outcome == Outcome.DENY and [m.rule_id for m in ev.matches] == ["embargoed-customer"]
    assert "746" in ev.matches[0].citation and "no provisioning" in ev.matches[0].reason


def test_plain_guard_sets_come_from_the_packs() -> None:
    policies = load_policies([shipped_policies_dir()])
    assert policies.plain_countries == J.expand(["E:1", "E:2", "EMBARGOED"], date(2025, 1, 1))
    # No cloud region lies in an embargoed country, yet the region rule is there for one that would.
    assert policies.plain_region_countries == policies.plain_countries
    only_accelerated = load_policies([shipped_policies_dir() / "us-cloud-advanced-compute.yaml"])
    assert only_accelerated.plain_countries == frozenset() == only_accelerated.plain_region_countries


def test_reasons_and_citations_are_filled() -> None:
    req = ProvisioningRequest("aws", "acct", (ComputeItem("p4d.24xlarge", 2),), region="us-east-1")
    profile = CustomerProfile("aws", "acct", "Lion City AI", "SG", "SG", "CN", "verified")
    ev = ENGINE.evaluate(req, profile, on=date(2026, 6, 1))
    assert ev.outcome == Outcome.PENDING
    m, review = ev.matches  # the licence requirement, then the review policy
    assert review.pack_id == "us-licence-review-policy" and review.review_policy == "presumption of denial"
    assert m.rule_id == "d5-macau-3a090" and m.pack_id == "us-cloud-advanced-compute"
    assert "742.6" in m.citation
    assert "Lion City AI" in m.reason and "SG/CN" in m.reason and "A100" in m.reason and "{" not in m.reason


def test_effective_dates_a_pack_outside_its_window_does_nothing() -> None:
    req = ProvisioningRequest("aws", "acct", (ComputeItem("p4d.24xlarge"),), region="ap-south-1")
    indian = CustomerProfile("aws", "acct", "Bharat AI", "IN", "IN", "IN", "verified")
    assert ENGINE.evaluate(req, indian, on=date(2025, 3, 1)).outcome == Outcome.PENDING  # AI diffusion in force
    assert ENGINE.evaluate(req, indian, on=date(2025, 5, 13)).outcome == Outcome.ALLOW  # rescinded
    chinese = CustomerProfile("aws", "acct", "X", "CN", "CN", "CN", "verified")
    assert ENGINE.evaluate(req, chinese, on=date(2023, 11, 16)).outcome == Outcome.ALLOW  # before 88 FR 73458
    assert ENGINE.evaluate(req, chinese, on=date(2023, 11, 17)).outcome == Outcome.PENDING


def test_engine_not_fail_closed_flags_unresolved() -> None:
    engine = Engine(ENGINE.policies, fail_closed=False)
    req = ProvisioningRequest("aws", "acct", (), unresolved=("boom",))
    ev = engine.evaluate(req, CustomerProfile("aws", "acct", country="US", kyc_status="verified"), on=date.today())
    assert ev.outcome == Outcome.FLAG and "allowed by configuration" in ev.matches[0].reason


def test_a_provider_account_is_never_decided_as_the_subject_in_any_cloud() -> None:
    from gatekeeper.engine import PROVIDER_ACCOUNT_RULE

    engine = Engine(load_policies([shipped_policies_dir()]), provider_accounts={
        "aws": frozenset({"123456789012"}), "azure": frozenset({"5a5a5a5a-0000-4000-8000-00000000000a"}),
        "gcp": frozenset({"provider-infra"})})
    us = CustomerProfile("aws", "x", "Provider Inc.", "US", "US", "US", "verified")
    for provider, account, itype, plain in (
            ("aws", "123456789012", "p5.48xlarge", "t3.micro"),
            ("azure", "5A5A5A5A-0000-4000-8000-00000000000A", "Standard_ND96isr_H100_v5", "Standard_D2s_v5"),
            ("gcp", "provider-infra", "a3-highgpu-8g", "e2-medium")):
        req = ProvisioningRequest(provider, account, (ComputeItem(itype, 1),))
        ev = engine.evaluate(req, us, on=date(2026, 12, 1))
        assert ev.outcome == Outcome.DENY and PROVIDER_ACCOUNT_RULE in [m.rule_id for m in ev.matches], provider
        assert "acting_for" in next(m.reason for m in ev.matches if m.rule_id == PROVIDER_ACCOUNT_RULE)
        ok = engine.evaluate(ProvisioningRequest(provider, account, (ComputeItem(plain, 1),)), us, on=date(2026, 12, 1))
        assert ok.outcome == Outcome.ALLOW  # plain compute from the provider's own account is not held up


DISPATCH_ENGINE = Engine(load_policies([shipped_policies_dir()]))


@settings(max_examples=300, deadline=None)
@given(requests(), profiles(), dates)
def test_engine_dispatching_on_countries_agrees_with_reference(req: ProvisioningRequest, profile: CustomerProfile,
                                                               on: date) -> None:
    """The matcher large rule sets get (rules narrowed by the subject's countries first) decides as the
    reference does, here forced on the shipped packs."""
    from gatekeeper.policy import compiled

    before, compiled.DISPATCH_MIN_RULES = compiled.DISPATCH_MIN_RULES, 0
    try:
        ev = DISPATCH_ENGINE.evaluate(req, profile, on=on)
        assert all(fn.__closure__ is not None for _, fn in DISPATCH_ENGINE.policies._by_rules.values())
    finally:
        compiled.DISPATCH_MIN_RULES = before
    expected, ids = reference(PACKS, req, profile, on)
    assert ev.outcome == expected
    assert [m.rule_id for m in ev.matches] == ids
