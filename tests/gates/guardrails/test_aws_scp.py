"""SCPs: the grammar, the size limit and its split, every spec path covered, and the conditions evaluated
against the whole catalog so every controlled type of every path is denied and no plain one is (except for an
embargoed customer, for whom the engine denies every type)."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import pytest

from gatekeeper.gates.guardrails import Bundle, aws, export
from gatekeeper.gates.guardrails._specs import spec_operations
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.gates.conftest import CN_AWS, US_AWS
from tests.gates.guardrails._models import SCP_SCHEMA, scp_denies
from tests.gates.guardrails.conftest import IRAN, ON, controlled, licence

NOW = "2026-12-04T12:00:00Z"


def scps_for(bundle, account: str) -> list[dict]:
    return [a.content for a in bundle.artifacts if a.kind == "scp" and account in a.targets]


def denied(policies: list[dict], action: str, key: str, value: str, now: str = NOW, region: str = "us-east-1") -> bool:
    ctx = {key: [value] if key != "ec2:InstanceType" else value, "aws:CurrentTime": now,
           "aws:RequestedRegion": region}
    return any(scp_denies(p, action, ctx) for p in policies)


def test_every_scp_is_valid_and_within_the_size_limit(gk: Gatekeeper) -> None:
    bundle = export(gk, "aws", on=ON)
    assert bundle.artifacts and not bundle.problems
    for a in bundle.artifacts:
        jsonschema.validate(a.content, SCP_SCHEMA)
        text = aws.compact(a.content)
        assert len(text) == a.size <= aws.MAX_SCP_CHARS
        assert "Principal" not in text
    for account in (CN_AWS, IRAN.account_id, US_AWS):
        assert 1 <= len(scps_for(bundle, account)) <= aws.OURS_PER_TARGET
    # a verified US customer: controlled only in some regions (destinations, unknown regions)
    us = [s for p in scps_for(bundle, US_AWS) for s in p["Statement"]]
    assert us and all("Region" in s["Sid"] and "aws:RequestedRegion" in json.dumps(s["Condition"]) for s in us)


def test_every_spec_operation_is_denied_by_type_or_listed_as_uncovered(gk: Gatekeeper) -> None:
    bundle = export(gk, "aws", on=ON)
    in_policies = {a for art in bundle.artifacts for s in art.content["Statement"] for a in s["Action"]}
    spec = {aws.iam_action(s, o) for s, o in spec_operations("aws")}
    assert spec == in_policies | set(bundle.uncovered)
    assert not in_policies & set(bundle.uncovered)
    assert "ec2:RunInstances" in in_policies and "sagemaker:CreateTrainingJob" in in_policies
    assert "elasticmapreduce:RunJobFlow" in bundle.uncovered  # IAM prefix, not botocore's "emr"


@pytest.mark.parametrize("account", [CN_AWS, IRAN.account_id, US_AWS])
@pytest.mark.parametrize("region", ["us-east-1", "ap-east-1", "me-central-1", "xx-fake-9"])
def test_conditions_deny_exactly_the_controlled_types_on_every_path(gk: Gatekeeper, account: str,
                                                                    region: str) -> None:
    bundle = export(gk, "aws", on=ON)
    policies = scps_for(bundle, account)
    covered, _ = aws.actions_by_key(spec_operations("aws"))
    types = sorted(t.name for t in gk.catalog.types("aws"))
    expected = {t for t in types if controlled(gk, "aws", account, t, region=region) >= Outcome.PENDING}
    if account != US_AWS or region != "us-east-1":
        assert expected  # the test would prove nothing otherwise
    for prefix, actions in covered.items():
        key, _multi, spelling = aws.CONDITION_KEYS[prefix]
        # every action in one region; elsewhere one per service (a service's statements share their actions)
        for action in actions if region == "us-east-1" else actions[:1]:
            got = {t for t in types if denied(policies, action, key, spelling + t, region=region)}
            assert got == expected, (action, region, sorted(got ^ expected)[:10])
    plain = [t for t in types if controlled(gk, "aws", account, t, region=region) == Outcome.ALLOW]
    if account == IRAN.account_id:
        # a comprehensive embargo (us-embargo, applies_to: all) denies every type, plain ones included
        assert not plain and "t3.micro" in expected
        return
    assert plain and not any(denied(policies, "ec2:RunInstances", "ec2:InstanceType", t, region=region)
                             for t in plain)


def test_a_family_wildcard_covers_sizes_the_catalog_does_not_list_yet(gk: Gatekeeper) -> None:
    policies = scps_for(export(gk, "aws", on=ON), CN_AWS)
    assert denied(policies, "ec2:RunInstances", "ec2:InstanceType", "p5.4xlarge")  # a future p5 size
    assert not denied(policies, "ec2:RunInstances", "ec2:InstanceType", "t3.micro")


def test_a_licence_is_an_exception_bounded_by_its_dates_and_regions(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("aws", CN_AWS, until=date(2027, 6, 30), since=date(2026, 1, 1),
                                          regions=("us-east-1",)))
    bundle = export(gk, "aws", on=ON)
    guard = next(g for g in bundle.guards if g.account_id == CN_AWS)
    assert guard.exceptions and "p4d.24xlarge" in guard.exceptions[0].types
    assert "p4d.24xlarge" not in guard.denied
    policies = scps_for(bundle, CN_AWS)
    run = ("ec2:RunInstances", "ec2:InstanceType")
    assert not denied(policies, *run, "p4d.24xlarge", now="2027-06-30T23:00:00Z")  # licensed, in its region
    assert denied(policies, *run, "p4d.24xlarge", now="2027-07-01T00:00:01Z")  # expired
    assert denied(policies, *run, "p4d.24xlarge", now="2025-12-31T12:00:00Z")  # not yet valid
    assert denied(policies, *run, "p4d.24xlarge", region="eu-west-1")  # outside its regions
    assert not denied(policies, "sagemaker:CreateTrainingJob", "sagemaker:InstanceTypes", "ml.p4d.24xlarge")
    # a class the licence does not name stays denied
    h20 = [t for t in guard.denied if controlled(gk, "aws", CN_AWS, t) >= Outcome.PENDING]
    assert h20 and denied(policies, *run, h20[0])


def test_a_licence_never_excepts_a_deny(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("aws", IRAN.account_id))  # an embargo is not licensable here
    guard = next(g for g in export(gk, "aws", on=ON).guards if g.account_id == IRAN.account_id)
    assert not guard.exceptions and "p4d.24xlarge" in guard.denied


def test_an_expired_or_revoked_licence_is_no_exception(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("aws", CN_AWS, until=date(2026, 6, 30)))
    guard = next(g for g in export(gk, "aws", on=ON).guards if g.account_id == CN_AWS)
    assert not guard.exceptions and "p4d.24xlarge" in guard.denied


def test_over_the_size_limit_the_statements_are_split_and_the_split_reported(gk: Gatekeeper) -> None:
    guard = next(g for g in export(gk, "aws", on=ON).guards if g.account_id == IRAN.account_id)
    covered, _ = aws.actions_by_key(spec_operations("aws"))
    whole = aws.statements(guard, gk.catalog, covered)
    # the smallest limit any split can meet: the largest statement cut down to one type
    one = max(aws.size({"Version": "2012-10-17", "Statement": [_with_values(s, s_values(s)[:1])]}) for s in whole)
    limit = 2 * one
    docs = aws.pack(whole, limit=limit)
    assert len(docs) > 1 and all(aws.size(d) <= limit for d in docs)
    for d in docs:
        jsonschema.validate(d, SCP_SCHEMA)
    # nothing lost: the union of the split statements denies what the whole did
    for t in sorted(t.name for t in gk.catalog.types("aws")):
        assert denied(docs, "ec2:RunInstances", "ec2:InstanceType", t) == \
            denied([{"Version": "2012-10-17", "Statement": whole}], "ec2:RunInstances", "ec2:InstanceType", t)
    b = Bundle("aws", ON.isoformat(), "")
    aws.build([guard], gk.catalog, spec_operations("aws"), b, limit=limit)
    assert any(f"split into {len(docs)} SCPs" in n for n in b.notes)
    assert all(a.size <= limit for a in b.artifacts)
    assert bool(b.problems) == (len(docs) > aws.OURS_PER_TARGET)
    b = Bundle("aws", ON.isoformat(), "")
    # about one type per statement (the split statements' Sids grow by a digit per halving): too many
    aws.build([guard], gk.catalog, spec_operations("aws"), b, limit=one + 40)
    assert b.problems and "more than the 4" in b.problems[0]
    b = Bundle("aws", ON.isoformat(), "")
    aws.build([guard], gk.catalog, spec_operations("aws"), b, limit=300)  # not even one type fits
    assert b.problems and "cannot fit in 300 characters" in b.problems[0] and not b.artifacts


def s_values(stmt: dict) -> list[str]:
    return next(iter(next(iter(stmt["Condition"].values())).values()))


def _with_values(stmt: dict, values: list[str]) -> dict:
    s = json.loads(json.dumps(stmt))
    block = next(iter(s["Condition"].values()))
    block[next(iter(block))] = values
    return s


def test_identical_policies_are_shared_between_accounts(gk: Gatekeeper) -> None:
    from gatekeeper.model import CustomerProfile

    gk.store.profiles.put_profiles([CustomerProfile("aws", "555555555555", "Other Lion Ltd.", "SG", "SG", "CN",
                                                    "verified")])
    bundle = export(gk, "aws", on=ON)
    shared = [a for a in bundle.artifacts if CN_AWS in a.targets]
    assert shared and all("555555555555" in a.targets for a in shared)
    assert json.dumps(shared[0].content)  # serialisable as written


def test_diff_shows_a_licence_granted_and_then_expired(gk: Gatekeeper, tmp_path) -> None:
    from gatekeeper.gates.guardrails import diff, read_manifest, write

    write(export(gk, "aws", on=ON), tmp_path)
    gk.store.licences.put_licence(licence("aws", CN_AWS, number="EAR-7", until=date(2027, 1, 31)))
    granted = diff(read_manifest(tmp_path, "aws"), export(gk, "aws", on=ON).as_dict())
    [c] = [c for c in granted["customers"] if c["account_id"] == CN_AWS]
    assert c["licences_added"] == ["EAR-7"] and "p4d.24xlarge" in c["no_longer_denied"]
    assert granted["changed"] and granted["artifacts"]["added"]
    write(export(gk, "aws", on=ON), tmp_path)
    expired = diff(read_manifest(tmp_path, "aws"), export(gk, "aws", on=date(2027, 2, 1)).as_dict())
    [c] = [c for c in expired["customers"] if c["account_id"] == CN_AWS]
    assert c["licences_removed"] == ["EAR-7"] and "p4d.24xlarge" in c["newly_denied"]
    unchanged = diff(read_manifest(tmp_path, "aws"), export(gk, "aws", on=ON).as_dict())
    assert not unchanged["changed"] and unchanged["previous_export"] == ON.isoformat()
