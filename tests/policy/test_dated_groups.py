"""Rules over dated country groups: one compiled copy per stretch of unchanged members, chosen by date,
in enforcement and in simulation alike; and the plain-path region guard."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from gatekeeper.engine import Engine
from gatekeeper.jurisdictions import DATA_DIR, load_jurisdictions
from gatekeeper.model import ComputeItem, CustomerProfile, Outcome, ProvisioningRequest
from gatekeeper.policy import load_policies, shipped_policies_dir
from gatekeeper.policy.compiled import compile_packs
from gatekeeper.policy.schema import Pack

PACK = {
    "id": "t", "version": "1", "title": "t", "citation": "c", "effective_from": date(2020, 1, 1),
    "rules": [
        {"id": "d5", "decision": "pending", "citation": "c", "reason": "r",
         "when": {"item": {"export_class": ["3A090.a"]}, "customer": {"any_country_in": ["D:5"]}}},
        {"id": "e1", "decision": "deny", "citation": "c", "reason": "r",
         "when": {"item": {}, "customer": {"any_country_in": ["E:1"]}}},
    ],
}
KH = CustomerProfile("aws", "a", "Phnom Penh AI", "KH", "KH", "KH", "verified")
A100 = ProvisioningRequest("aws", "a", (ComputeItem("p4d.24xlarge"),), region="us-east-1")


def test_a_rule_is_compiled_once_per_stretch_of_its_groups() -> None:
    ps = compile_packs([(Pack.model_validate(PACK), "t.yaml")])
    d5 = [r for r in ps.rules if r.rule_id == "d5"]
    # D:5 changes on 2021-12-09 (Cambodia in) and 2026-02-03 (out): three copies; E:1 has no dated member.
    assert [(r.groups_from.isoformat(), r.groups_until.isoformat()) for r in d5] == [
        ("1900-01-01", "2021-12-09"), ("2021-12-09", "2026-02-03"), ("2026-02-03", "9999-12-31")]
    assert len([r for r in ps.rules if r.rule_id == "e1"]) == 1
    assert all(r.rule_from == date(2020, 1, 1) for r in d5)  # the rule's own dates, as decisions show them
    for on, expect in ((date(2021, 1, 1), 0), (date(2023, 1, 1), 1), (date(2026, 3, 1), 0)):
        assert sum(r.in_force(on) and r.groups_hold(on) for r in d5) == 1
        ev = Engine(ps).evaluate(A100, KH, on=on)
        assert len(ev.matches) == expect, on


def test_simulation_picks_one_copy_per_date() -> None:
    ps = compile_packs([(Pack.model_validate(PACK), "t.yaml")], simulate=True)
    engine = Engine(ps)
    # Simulation ignores the pack's dates, not the groups': still one match, never three.
    assert [m.rule_id for m in engine.evaluate(A100, KH, on=date(2023, 1, 1)).matches] == ["d5"]
    assert engine.evaluate(A100, KH, on=date(2026, 6, 1)).outcome == Outcome.ALLOW


def test_plain_region_guard_when_a_region_lies_in_an_embargoed_country(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    regions = data / "regions.yaml"
    text = regions.read_text(encoding="utf-8").replace("    us-east-1: US ", "    kp-east-1: KP\n    us-east-1: US ", 1)
    regions.write_text(text, encoding="utf-8")
    j = load_jurisdictions(data)
    engine = Engine(load_policies([shipped_policies_dir()], jurisdictions=j), jurisdictions=j)
    assert engine.plain_regions_exist
    us = CustomerProfile("aws", "a", "Acme", "US", "US", "US", "verified")
    plain = ProvisioningRequest("aws", "a", (ComputeItem("t3.micro"),), region="kp-east-1a")
    ev = engine.evaluate(plain, us, on=date(2026, 6, 1))
    assert ev.outcome == Outcome.DENY and [m.rule_id for m in ev.matches] == ["embargoed-region"]
    elsewhere = ProvisioningRequest("aws", "a", (ComputeItem("t3.micro"),), region="us-east-1")
    assert engine.evaluate(elsewhere, us, on=date(2026, 6, 1)).outcome == Outcome.ALLOW
