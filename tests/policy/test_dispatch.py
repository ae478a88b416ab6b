"""The country dispatch of large rule sets: the same matches, in the same order, as trying every rule."""

from __future__ import annotations

import random
from datetime import date

from gatekeeper.catalog import default_catalog
from gatekeeper.model import ComputeItem, CustomerProfile
from gatekeeper.policy.compiled import (
    DISPATCH_MIN_RULES,
    Subject,
    _country_dispatch,
    _straight_matcher,
    compile_packs,
)
from gatekeeper.policy.schema import Pack

COUNTRIES = ["US", "CN", "HK", "MO", "SG", "DE", "IR", "RU", "IS", "MT", "KH", ""]
CONDITIONS: list[dict[str, list[str]] | None] = [
    None,  # no customer condition: tried for everyone
    {"any_country_in": ["D:5"]}, {"any_country_in": ["CN", "MO"]}, {"country_in": ["SG"]},
    {"headquarters_in": ["E:1"]}, {"parent_in": ["CN"], "country_not_in": ["US"]},
    {"country_in": ["D:5"], "any_country_in": ["IS"]},  # two positive sets: the smaller one is used
    {"country_not_in": ["US"]}, {"kyc_status": ["unverified"]}, {"country_in": []},  # matches nobody
]


def _pack(n: int, rng: random.Random) -> Pack:
    rules = []
    for k in range(n):
        when: dict[str, object] = {"item": rng.choice([{}, {"export_class": ["3A090.a"]}])}
        cond = rng.choice(CONDITIONS)
        if cond is not None:
            when["customer"] = cond
        rules.append({"id": f"r{k}", "decision": rng.choice(["flag", "pending", "deny"]), "citation": "c",
                      "reason": "r", "when": when})
    return Pack.model_validate({"id": "p", "version": "1", "title": "t", "citation": "c",
                                "effective_from": date(2020, 1, 1), "rules": rules})


def test_dispatch_matches_what_trying_every_rule_matches() -> None:
    rng = random.Random(19)
    ps = compile_packs([(_pack(3 * DISPATCH_MIN_RULES, rng), "p.yaml")])
    rules, fn = ps.matcher(date(2026, 6, 1))
    assert fn.__closure__ is not None  # a rule set this large is dispatched
    straight = _straight_matcher(rules, range(len(rules)))
    dispatch = _country_dispatch(rules)
    catalog = default_catalog()
    items = (catalog.classify_item("aws", ComputeItem("p4d.24xlarge")),)
    seen_some = 0
    for _ in range(600):
        profile = CustomerProfile("aws", "a", "n", rng.choice(COUNTRIES), rng.choice(COUNTRIES), rng.choice(COUNTRIES),
                                  rng.choice(["verified", "unverified"]))
        s = Subject(profile)
        for c in (None, "US", "CN"):
            want = straight(s, c, items)
            assert dispatch(s, c, items) == want, (profile, c)
            assert fn(s, c, items) == want
            seen_some += bool(want)
    assert seen_some > 100  # the comparison is not only of empty results


def test_a_rule_whose_countries_nobody_has_is_never_tried() -> None:
    rng = random.Random(3)
    ps = compile_packs([(_pack(DISPATCH_MIN_RULES, rng), "p.yaml")])
    rules, _ = ps.matcher(date(2026, 6, 1))
    never = [k for k, r in enumerate(rules) if r.customer_countries == frozenset()]
    assert never  # the `country_in: []` rules
    profile = CustomerProfile("aws", "a", "n", "CN", "CN", "CN", "unverified")
    hits = _country_dispatch(rules)(Subject(profile), None,
                                    (default_catalog().classify_item("aws", ComputeItem("p4d.24xlarge")),))
    assert hits and not set(hits) & set(never)
