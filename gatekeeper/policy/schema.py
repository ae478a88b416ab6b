"""The policy pack file format, validated with pydantic (the edge; nothing here runs per request).

A pack is one YAML file::

    id: us-cloud-advanced-compute
    version: "2026.11.0"
    title: ...
    citation: ...
    effective_from: 2023-11-17
    effective_until: null
    rules:
      - id: hq-d5-macau
        decision: pending            # flag | pending | deny
        citation: "15 CFR 742.6(a)(6)(iii)(A)"
        reason: "{customer} is headquartered in {headquarters} ..."
        when:                        # every block present must hold
          item: {export_class: [3A090.a, 3A090.b]}     # some accelerated item of the request
          customer: {any_country_in: [D:5, MO]}
          region: {country_in: [D:1, D:4, D:5, MO], country_not_in: [A:5, A:6]}
    tests:
      - name: Singapore subsidiary of a Chinese parent
        request: {provider: aws, instance_type: p4d.24xlarge, region: us-east-1}
        customer: {country: SG, headquarters_country: SG, ultimate_parent_country: CN, kyc_status: verified}
        expect: pending

Rules decide accelerated compute only (``applies_to: accelerated``, the default): a request with no
accelerated item is allowed by the engine's short path before any rule is looked at. A rule with
``applies_to: all`` (comprehensive embargoes) also decides plain requests; it may name no item
condition and must name the countries it covers (a positive customer or region country condition),
so that the short path tests a precomputed set of countries instead of running it.
"""

from __future__ import annotations

import re
import string
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

# Placeholders a rule's reason may use; the engine fills them from the request's facts.
REASON_FIELDS = frozenset({
    "customer", "account", "country", "headquarters", "parent", "countries", "kyc_status", "region",
    "region_country", "chips", "export_class", "instance_types", "lists", "owners",
})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemCondition(_Strict):
    """Holds when some accelerated item of the request satisfies every field given.

    ``min_tpp`` / ``min_memory_bandwidth`` hold when some chip of the item reaches the bound;
    ``max_tpp`` / ``max_memory_bandwidth`` (exclusive: "less than") hold only when every chip of the
    item has a known figure below it, so that an unknown figure never earns a lenient rule.
    ``memory_bandwidth_published: false`` holds when some chip's bandwidth is unknown. Bandwidth is
    the chip's total DRAM/HBM bandwidth in GB/s (the catalog's ``memory_bandwidth``).
    """

    export_class: list[Literal["3A090.a", "3A090.b", "none", "unknown"]] | None = None
    chips: list[str] | None = None
    named_by_rule: bool | None = None
    confirmed: bool | None = None
    min_tpp: float | None = Field(default=None, ge=0)
    max_tpp: float | None = Field(default=None, gt=0)
    min_memory_bandwidth: float | None = Field(default=None, ge=0)
    max_memory_bandwidth: float | None = Field(default=None, gt=0)
    memory_bandwidth_published: bool | None = None
    providers: list[Literal["aws", "azure", "gcp"]] | None = None


class OwnedBy(_Strict):
    """Holds when owners on any of ``lists`` hold, together, at least ``min_share`` percent of the customer
    (the BIS affiliates rule: 50 %, directly or indirectly, individually or in the aggregate)."""

    lists: list[str] = Field(min_length=1)
    min_share: float = Field(default=50.0, gt=0, le=100)
    # And at least one of those owners is on one of these lists (the "most restrictive owner" standard:
    # a customer half-owned by an Entity List party and an MEU party inherits the Entity List's restrictions).
    any_owner_on: list[str] | None = None


class CustomerCondition(_Strict):
    """Country fields take ISO alpha-2 codes and group names (D:5, E:1, TIER1-2025)."""

    country_in: list[str] | None = None
    country_not_in: list[str] | None = None
    headquarters_in: list[str] | None = None
    headquarters_not_in: list[str] | None = None
    parent_in: list[str] | None = None
    parent_not_in: list[str] | None = None
    any_country_in: list[str] | None = None      # location, headquarters or ultimate parent
    no_country_in: list[str] | None = None       # none of the three
    any_country_not_in: list[str] | None = None  # at least one of the three (or an unknown one) outside
    kyc_status: list[Literal["verified", "pending", "unverified"]] | None = None
    foreign: bool | None = None
    known: bool | None = None
    screening_lists: list[str] | None = None     # open (uncleared) hits on these lists
    owned_by: OwnedBy | None = None              # owners on these lists hold >= min_share % together


class RegionCondition(_Strict):
    country_in: list[str] | None = None
    country_not_in: list[str] | None = None
    unknown: bool | None = None  # True: the region's country is not known


class When(_Strict):
    item: ItemCondition = ItemCondition()
    customer: CustomerCondition | None = None
    region: RegionCondition | None = None


class Rule(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    decision: Literal["flag", "pending", "deny"]
    citation: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    when: When = When()
    effective_from: date | None = None
    effective_until: date | None = None
    applies_to: Literal["accelerated", "all"] = "accelerated"
    # How BIS reviews a licence application in the case the rule describes (15 CFR 742.6(b)); a
    # decision and its case carry the most restrictive review policy of their rules.
    review_policy: Literal["case-by-case", "presumption of denial", "presumption of approval"] | None = None

    @model_validator(mode="after")
    def _scope(self) -> Rule:
        if self.applies_to == "all":
            if self.when.item != ItemCondition():
                raise ValueError("a rule with applies_to: all decides plain requests too: it takes no item condition")
            c, r = self.when.customer, self.when.region
            positive = c is not None and any(v is not None for v in (c.country_in, c.headquarters_in, c.parent_in,
                                                                      c.any_country_in))
            if not positive and (r is None or r.country_in is None):
                raise ValueError("a rule with applies_to: all must name its countries (customer country_in, "
                                 "headquarters_in, parent_in or any_country_in, or region country_in)")
        return self

    @field_validator("reason")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        for _, name, _, _ in string.Formatter().parse(v):
            if name is not None and name not in REASON_FIELDS:
                raise ValueError(f"unknown placeholder {{{name}}}; use one of {sorted(REASON_FIELDS)}")
        return v


class TestRequest(_Strict):
    provider: Literal["aws", "azure", "gcp"] = "aws"
    instance_type: str = ""
    count: int = 1
    region: str = ""
    attached: dict[str, float] = Field(default_factory=dict)  # accelerator type -> count per instance
    account_id: str = "000000000000"
    unresolved: list[str] = Field(default_factory=list)


class TestOwner(_Strict):
    name: str
    country: str = ""
    share: float = Field(gt=0, le=100)
    screening_lists: list[str] = Field(default_factory=list)


class TestCustomer(_Strict):
    legal_name: str = "Test Customer"
    country: str = ""
    headquarters_country: str = ""
    ultimate_parent_country: str = ""
    kyc_status: Literal["verified", "pending", "unverified"] = "verified"
    screening_lists: list[str] = Field(default_factory=list)
    owners: list[TestOwner] = Field(default_factory=list)

    @field_validator("country", "headquarters_country", "ultimate_parent_country")
    @classmethod
    def _iso(cls, v: str) -> str:
        v = v.strip().upper()
        if v and not re.fullmatch(r"[A-Z]{2}", v):
            raise ValueError("expected an ISO 3166 alpha-2 code")
        return v


class TestCase(_Strict):
    name: str
    request: TestRequest
    customer: TestCustomer | None = None  # None: an account the store does not know
    on: date | None = None
    expect: Literal["allow", "flag", "pending", "deny"]
    expect_rules: list[str] | None = None


class Suspension(_Strict):
    """A stretch during which a pack in force is not applied (a rule suspended by a later rule)."""

    effective_from: date
    effective_until: date
    citation: str = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Suspension:
        if self.effective_until <= self.effective_from:
            raise ValueError("a suspension's effective_until must be after its effective_from")
        return self


class Pack(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    effective_from: date
    effective_until: date | None = None
    simulation_only: bool = False
    # What the pack enforces: a regulation in force, a proposed rule (enforced as company policy), the
    # company's own policy, or a rescinded rule kept for simulation. Shown on every decision it makes.
    basis: Literal["regulation", "proposed rule", "company policy", "rescinded"] = "regulation"
    status_note: str = ""  # what to check, e.g. after a suspension ends
    suspended: list[Suspension] = Field(default_factory=list)
    description: str = ""
    rules: list[Rule] = Field(min_length=1)
    tests: list[TestCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Pack:
        if self.effective_until and self.effective_until <= self.effective_from:
            raise ValueError("effective_until must be after effective_from")
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"duplicate rule id {r.id!r}")
            seen.add(r.id)
        return self

