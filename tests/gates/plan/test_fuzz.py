"""Malformed plans never raise anything but a clear InvalidInputError, and a plan that reads is decided
without an exception escaping (an undecidable resource is an error finding, never an allow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.errors import InvalidInputError
from gatekeeper.gates.plan import RESOURCE_TYPES, check_plan, parse_plan
from gatekeeper.service import Gatekeeper
from tests.adapters._support import shipped_policies
from tests.conftest import tmp_config

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**40, 10**40), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["p4d.24xlarge", "t3.micro", "", "create", "update"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["instance_type", "launch_template", "id", "after", "after_unknown", "actions", "values", "references",
         "constant_value", "resources", "address", "type", "max_size", "node_config", "machine_type", "x"]),
        inner, max_size=4)), max_leaves=12)
types = st.sampled_from(sorted(RESOURCE_TYPES))


@st.composite
def plans(draw: Any) -> Any:
    rtype = draw(types)
    change = draw(st.one_of(json_values, st.fixed_dictionaries({
        "actions": st.one_of(st.just(["create"]), json_values),
        "after": st.one_of(json_values, st.dictionaries(st.text(max_size=15), json_values, max_size=4)),
        "after_unknown": json_values})))
    doc = {"format_version": draw(st.sampled_from(["1.2", "0.1", "2.0", "x", None])),
           "resource_changes": draw(st.one_of(json_values, st.just([{
               "address": f"{rtype}.x", "mode": "managed", "type": rtype, "name": "x",
               "provider_name": "registry.terraform.io/hashicorp/aws", "change": change}]))),
           "configuration": draw(st.one_of(json_values, st.just({"provider_config": {"aws": {
               "name": "aws", "expressions": {"allowed_account_ids": {"constant_value": ["222222222222"]}}}}})))}
    if draw(st.booleans()):
        doc["planned_values"] = draw(json_values)
    return doc


def test_fuzzed_plans(tmp_path: Path) -> None:
    gk = Gatekeeper(tmp_config(tmp_path), policies=shipped_policies())

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plans())
    def one(doc: Any) -> None:
        try:
            parsed = parse_plan(doc, source="fuzz.json")
        except InvalidInputError as exc:
            assert "fuzz.json" in str(exc)
            return
        report = check_plan(gk, parsed, dry_run=True)
        for f in report.findings:
            assert (f.decision is None) == (f.outcome == "error")

    try:
        one()
    finally:
        gk.close()
