"""Replay against hand-computed cases: the recorded requests decided again under ai-diffusion-2025.

ai-diffusion-2025 (policies/ai-diffusion-2025.yaml) has two rules on 3A090.a compute:
tier3-presumption-of-denial (deny) for a customer with any country in D:5 or MO, and tier2-licence
(pending) for a customer with no country in Tier 1, D:5 or MO. By hand:

    CN/CN/CN, H100 (3A090.a)   recorded deny by cn-parent-deny -> deny by tier3 (rules change)
    IN/IN/IN, A100 (3A090.a)   recorded allow                  -> pending by tier2-licence
    JP/JP/JP, A100 (3A090.a)   recorded allow                  -> allow (Tier 1), unchanged
    SG/SG/CN, H100 (3A090.a)   recorded allow                  -> deny by tier3 (the parent is in D:5)
    DE/DE/DE, L40S (3A090.b)   recorded flag by kyc-flag       -> allow (the pack covers 3A090.a only)
    US/US/US, no accelerator   recorded allow                  -> allow, unchanged
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gatekeeper.audit import decision_record
from gatekeeper.audit.replay import replay
from gatekeeper.audit.review import Filters
from gatekeeper.errors import InvalidInputError, PolicyError
from gatekeeper.model import Outcome
from gatekeeper.policy import shipped_policies_dir
from tests.audit.conftest import make_decision, open_log

DIFFUSION = shipped_policies_dir() / "ai-diffusion-2025.yaml"
AFTER_RESCISSION = datetime(2026, 1, 10, tzinfo=UTC)

CASES = [
    # id, country, parent, instance type, chip, class, recorded outcome, recorded rules
    ("dec-cn", "CN", "CN", "p5.48xlarge", "H100", "3A090.a", Outcome.DENY, (("cn-parent-deny", Outcome.DENY),)),
    ("dec-in", "IN", "IN", "p4d.24xlarge", "A100", "3A090.a", Outcome.ALLOW, ()),
    ("dec-jp", "JP", "JP", "p4d.24xlarge", "A100", "3A090.a", Outcome.ALLOW, ()),
    ("dec-sg", "SG", "CN", "p5.48xlarge", "H100", "3A090.a", Outcome.ALLOW, ()),
    ("dec-de", "DE", "DE", "g6e.xlarge", "L40S", "3A090.b", Outcome.FLAG, (("kyc-flag", Outcome.FLAG),)),
    ("dec-us", "US", "US", "m5.large", "none", "none", Outcome.ALLOW, ()),
]


def write_cases(base: Path, at: datetime = AFTER_RESCISSION) -> Path:
    with open_log(base, trust=True) as log:
        for did, country, parent, itype, chip, ecls, outcome, rules in CASES:
            log.append(decision_record(make_decision(
                decision_id=did, outcome=outcome, country=country, parent=parent, instance_type=itype, chip=chip,
                export_class=ecls, rules=rules, at=at, account=f"acct-{did}")))
    return base / "audit"


def by_id(report: object) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    return {r.decision_id: (r.old, r.new, r.new_rules) for r in report.rows}  # type: ignore[attr-defined]


def test_replay_under_ai_diffusion_matches_the_hand_computed_cases(tmp_path: Path) -> None:
    d = write_cases(tmp_path)
    report = replay(d, [DIFFUSION], include_unchanged=True)
    assert report.records == 6 and not report.errors
    assert by_id(report) == {
        "dec-cn": ("deny", "deny", ("tier3-presumption-of-denial",)),
        "dec-in": ("allow", "pending", ("tier2-licence",)),
        "dec-jp": ("allow", "allow", ()),
        "dec-sg": ("allow", "deny", ("tier3-presumption-of-denial",)),
        "dec-de": ("flag", "allow", ()),
        "dec-us": ("allow", "allow", ()),
    }
    assert report.changed == 4  # cn (rules), in, sg, de
    assert report.transitions == {"allow -> pending": 1, "allow -> deny": 1, "flag -> allow": 1}
    sg = next(r for r in report.rows if r.decision_id == "dec-sg")
    assert sg.recorded == "allow" and "Tier 3" in sg.reasons[0] and sg.old_rules == ()


def test_only_changes_are_listed_by_default(tmp_path: Path) -> None:
    report = replay(write_cases(tmp_path), [DIFFUSION])
    assert sorted(r.decision_id for r in report.rows) == ["dec-cn", "dec-de", "dec-in", "dec-sg"]


def test_effective_dates_when_honoured(tmp_path: Path) -> None:
    d = write_cases(tmp_path)
    # Recorded after the rescission: on the records' own date the pack is not in force.
    honoured = replay(d, [DIFFUSION], honour_dates=True, include_unchanged=True)
    assert {k: v[1] for k, v in by_id(honoured).items()} == dict.fromkeys(
        ["dec-cn", "dec-in", "dec-jp", "dec-sg", "dec-de", "dec-us"], "allow")
    # As of a day when it was in force, the simulated answers come back.
    as_of = replay(d, [DIFFUSION], as_of=date(2025, 3, 1), include_unchanged=True)
    assert by_id(as_of)["dec-in"][1] == "pending" and by_id(as_of)["dec-sg"][1] == "deny"


def test_filters_narrow_the_replay(tmp_path: Path) -> None:
    report = replay(write_cases(tmp_path), [DIFFUSION], filters=Filters(country="CN"), include_unchanged=True)
    assert sorted(r.decision_id for r in report.rows) == ["dec-cn", "dec-sg"]


def test_reclassify_uses_the_current_catalog(tmp_path: Path) -> None:
    # Recorded as if the catalog had not known p5.48xlarge carried H100s.
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision(decision_id="dec-x", outcome=Outcome.ALLOW, country="CN",
                                                 parent="CN", instance_type="p5.48xlarge", chip="none",
                                                 export_class="none", rules=(), at=AFTER_RESCISSION)))
    d = tmp_path / "audit"
    assert replay(d, [DIFFUSION]).changed == 0
    again = replay(d, [DIFFUSION], reclassify=True)
    assert by_id(again) == {"dec-x": ("allow", "deny", ("tier3-presumption-of-denial",))}


def test_unreplayable_records_are_reported(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        rec = decision_record(make_decision(decision_id="dec-bad"))
        del rec["account_id"]  # whom it was about is lost: it cannot be decided again
        log.append(rec)
        log.append(decision_record(make_decision(decision_id="dec-ok", at=AFTER_RESCISSION)))
    report = replay(tmp_path / "audit", [DIFFUSION], include_unchanged=True)
    assert report.records == 2 and [r.decision_id for r in report.rows] == ["dec-ok"]
    assert report.errors[0][0] == "dec-bad" and "incomplete" in report.errors[0][1]


def test_bad_policy_paths(tmp_path: Path) -> None:
    d = write_cases(tmp_path)
    with pytest.raises(InvalidInputError, match="at least one policy"):
        replay(d, [])
    with pytest.raises(InvalidInputError, match="no policy file"):
        replay(d, [tmp_path / "missing.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nrules: [\n")
    with pytest.raises(PolicyError):
        replay(d, [bad])


def test_replay_across_a_country_group_change(tmp_path: Path) -> None:
    # Cambodia was in D:5 from 2021-12-09 to 2026-02-03 (jurisdictions.yaml). The same Cambodian request
    # for A100s, recorded before and after the removal, replays under the groups of its own date: held
    # before, allowed after, whether the packs' dates are simulated (the default) or honoured.
    cloud = shipped_policies_dir() / "us-cloud-advanced-compute.yaml"
    with open_log(tmp_path) as log:
        for did, at in (("dec-kh-2025", datetime(2025, 6, 1, tzinfo=UTC)),
                        ("dec-kh-2026", datetime(2026, 3, 1, tzinfo=UTC))):
            log.append(decision_record(make_decision(
                decision_id=did, outcome=Outcome.ALLOW, country="KH", parent="KH", instance_type="p4d.24xlarge",
                chip="A100", export_class="3A090.a", rules=(), at=at, account=f"acct-{did}")))
    d = tmp_path / "audit"
    for kwargs in ({}, {"honour_dates": True}):
        report = by_id(replay(d, [cloud], include_unchanged=True, reclassify=True, **kwargs))  # type: ignore[arg-type]
        assert report["dec-kh-2025"] == ("allow", "pending", ("d5-macau-3a090",)), kwargs
        assert report["dec-kh-2026"] == ("allow", "allow", ()), kwargs
    # Pinned to one day, both records get that day's groups.
    pinned = by_id(replay(d, [cloud], as_of=date(2025, 1, 1), include_unchanged=True, reclassify=True))
    assert pinned["dec-kh-2026"][1] == "pending"


def test_records_keep_bandwidth_and_review_policy_for_replay(tmp_path: Path) -> None:
    # A replay that reuses the recorded classification must see each chip's memory bandwidth, or the
    # 91 FR 1684 bounds could not be applied to it; the record also names the review policy.
    from datetime import date as _date

    from gatekeeper.audit.record import classified_items_from_record
    from gatekeeper.engine import Engine
    from gatekeeper.model import ComputeItem, CustomerProfile, Decision, ProvisioningRequest
    from gatekeeper.policy import load_policies

    engine = Engine(load_policies([shipped_policies_dir()]))
    at = datetime(2026, 3, 1, tzinfo=UTC)
    req = ProvisioningRequest("aws", "acct-cn", (ComputeItem("p5e.48xlarge"),), region="us-east-1", at=at)
    profile = CustomerProfile("aws", "acct-cn", "Beijing AI", "CN", "CN", "CN", "verified")
    ev = engine.evaluate(req, profile, on=_date(2026, 3, 1))
    d = Decision("dec-h200", ev.outcome, req, profile, ev.items, ev.matches, ev.outcome, at)
    rec = decision_record(d)
    assert rec["review_policy"] == "case-by-case"
    assert {r["id"]: r["review_policy"] for r in rec["rules"]}["china-macau-h200-class-case-by-case"] == "case-by-case"
    [item] = classified_items_from_record(rec)
    assert item.accelerators[0].memory_bandwidth == 4800
    with open_log(tmp_path) as log:
        log.append(rec)
    report = replay(tmp_path / "audit", [shipped_policies_dir()], honour_dates=True, include_unchanged=True)
    assert by_id(report)["dec-h200"][1:] == ("pending", ("d5-macau-3a090", "china-macau-h200-class-case-by-case"))
