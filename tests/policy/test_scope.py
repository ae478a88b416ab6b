"""``applies_to: all`` (rules that decide plain requests too) and the checks on it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gatekeeper.policy.schema import Rule


def rule(**when: Any) -> dict[str, Any]:
    return {"id": "r", "decision": "deny", "citation": "c", "reason": "x", "applies_to": "all", "when": when}


@pytest.mark.parametrize(
    "when",
    [
        {"customer": {"any_country_in": ["E:1"]}},
        {"customer": {"parent_in": ["CU"], "kyc_status": ["unverified"]}},
        {"region": {"country_in": ["KP"]}},
        {"item": {}, "customer": {"country_in": ["IR"]}},
    ],
)
def test_valid_scopes(when: dict[str, Any]) -> None:
    assert Rule.model_validate(rule(**when)).applies_to == "all"


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"item": {"export_class": ["3A090.a"]}, "customer": {"country_in": ["IR"]}}, "no item condition"),
        ({"customer": {"no_country_in": ["US"]}}, "must name its countries"),
        ({"customer": {"kyc_status": ["unverified"]}}, "must name its countries"),
        ({"region": {"country_not_in": ["US"]}}, "must name its countries"),
        ({}, "must name its countries"),
    ],
)
def test_invalid_scopes(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Rule.model_validate(rule(**when))


def test_default_scope_is_accelerated() -> None:
    doc = rule(customer={"no_country_in": ["US"]})
    del doc["applies_to"]
    assert Rule.model_validate(doc).applies_to == "accelerated"
