"""Remediation planning: a pure function of (decision, resources, [hooks]); checked verb by verb."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gatekeeper.config import HooksConfig
from gatekeeper.engine import ENGINE_PACK, UNRESOLVED_RULE
from gatekeeper.hooks.remediation import (
    KINDS,
    TAG_CASE_ID,
    TAG_DECISION,
    TAG_DECISION_ID,
    Resource,
    plan_remediation,
)
from gatekeeper.model import ComputeItem, CustomerProfile, Decision, Outcome, ProvisioningRequest, RuleMatch

NOW = datetime(2026, 11, 27, tzinfo=UTC)
VM = Resource("ec2:instance", "i-1", "us-east-1")


def decision(outcome: Outcome, *, case_id: str | None = None, error: str | None = None, mode: str = "enforce",
             unresolved: tuple[str, ...] = (), matches: tuple[RuleMatch, ...] = ()) -> Decision:
    req = ProvisioningRequest("aws", "555555555555", (ComputeItem("p5.48xlarge"),), unresolved=unresolved)
    return Decision("dec-1", outcome, req, CustomerProfile.unknown("aws", "555555555555"), (), matches, outcome,
                    NOW, mode, case_id=case_id, error=error)


def actions(plan_: object) -> list[tuple[str, str]]:
    return [(a.action, a.resource.id) for a in plan_.actions]  # type: ignore[attr-defined]


def test_allow_does_nothing() -> None:
    p = plan_remediation(decision(Outcome.ALLOW), (VM,), HooksConfig())
    assert p.verb == "none" and p.actions == ()


def test_pending_tags_with_the_case_then_stops() -> None:
    p = plan_remediation(decision(Outcome.PENDING, case_id="case-9"), (VM,), HooksConfig())
    assert p.verb == "stop" and actions(p) == [("tag", "i-1"), ("stop", "i-1")]
    assert dict(p.actions[0].tags) == {TAG_DECISION: "pending", TAG_DECISION_ID: "dec-1", TAG_CASE_ID: "case-9"}


def test_flag_tags_without_a_case_tag() -> None:
    p = plan_remediation(decision(Outcome.FLAG), (VM,), HooksConfig())
    assert actions(p) == [("tag", "i-1")] and TAG_CASE_ID not in dict(p.actions[0].tags)


@pytest.mark.parametrize("on_deny, expected", [
    ("terminate", [("tag", "i-1"), ("terminate", "i-1")]),
    ("stop", [("tag", "i-1"), ("stop", "i-1")]),
    ("tag", [("tag", "i-1")]),
    ("none", []),
])
def test_deny_follows_configuration(on_deny: str, expected: list[tuple[str, str]]) -> None:
    p = plan_remediation(decision(Outcome.DENY), (VM,), HooksConfig(on_deny=on_deny))  # type: ignore[arg-type]
    assert actions(p) == expected


def test_each_kind_maps_verbs_to_its_own_actions() -> None:
    group = Resource("autoscaling:group", "trainers", "us-east-1")
    pool = Resource("eks:nodegroup", "gpus", "us-east-1", parent="ml")
    job = Resource("sagemaker:training-job", "job", "us-west-2", arn="arn:aws:sagemaker:us-west-2:1:training-job/job")
    vm = Resource("azure:virtual-machine", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                                           "virtualMachines/v")
    pending = plan_remediation(decision(Outcome.PENDING), (group, pool, job, vm), HooksConfig())
    assert [a.action for a in pending.actions if a.action != "tag"] == ["scale_to_zero", "scale_to_zero", "stop",
                                                                        "deallocate"]
    denied = plan_remediation(decision(Outcome.DENY), (group, pool, job, vm), HooksConfig())
    # A training job cannot be deleted: its strongest action is stopping it.
    assert [a.action for a in denied.actions if a.action != "tag"] == ["delete", "delete", "stop", "delete"]


def test_a_verb_that_means_nothing_for_a_kind_falls_back_to_tagging() -> None:
    template = Resource("ec2:launch-template", "lt-1", "us-east-1")
    assert actions(plan_remediation(decision(Outcome.PENDING), (template,), HooksConfig())) == [("tag", "lt-1")]
    assert actions(plan_remediation(decision(Outcome.DENY), (template,), HooksConfig())) == [("tag", "lt-1"),
                                                                                              ("delete", "lt-1")]


def test_a_template_version_is_tagged_on_its_template_once() -> None:
    v1 = Resource("ec2:launch-template-version", "2", "us-east-1", parent="lt-1")
    v2 = Resource("ec2:launch-template-version", "3", "us-east-1", parent="lt-1")
    p = plan_remediation(decision(Outcome.DENY), (v1, v2), HooksConfig())
    assert actions(p) == [("tag", "lt-1"), ("delete", "2"), ("delete", "3")]


def test_unknown_kind_is_planned_as_unsupported() -> None:
    p = plan_remediation(decision(Outcome.DENY), (Resource("oci:instance", "x"),), HooksConfig())
    assert actions(p) == [("unsupported", "x")] and "no remediation known" in p.actions[0].note


def test_shadow_mode_only_tags() -> None:
    p = plan_remediation(decision(Outcome.DENY, mode="shadow"), (VM,), HooksConfig())
    assert p.verb == "tag" and actions(p) == [("tag", "i-1")] and "shadow" in p.reason


def test_an_error_decision_uses_on_error_not_on_deny() -> None:
    p = plan_remediation(decision(Outcome.DENY, error="StoreError: down"), (VM,), HooksConfig())
    assert p.verb == "stop" and "StoreError" in p.reason
    p = plan_remediation(decision(Outcome.DENY, error="x"), (VM,), HooksConfig(on_error="terminate"))
    assert actions(p)[-1] == ("terminate", "i-1")


def test_unresolved_compute_uses_on_error_unless_a_policy_denies_anyway() -> None:
    fail_closed = RuleMatch(UNRESOLVED_RULE, ENGINE_PACK, "1", Outcome.DENY, "c", "r")
    embargo = RuleMatch("embargo", "us-embargo", "1", Outcome.DENY, "c", "r")
    only = decision(Outcome.DENY, unresolved=("launch template lt-1: gone",), matches=(fail_closed,))
    assert plan_remediation(only, (VM,), HooksConfig()).verb == "stop"
    both = decision(Outcome.DENY, unresolved=("launch template lt-1: gone",), matches=(fail_closed, embargo))
    assert plan_remediation(both, (VM,), HooksConfig()).verb == "terminate"


def test_every_kind_has_executable_actions() -> None:
    from gatekeeper.hooks._aws import EXECUTORS

    for kind, spec in KINDS.items():
        if not kind.startswith(("azure:", "gcp:")):  # those: tests/hooks/test_{azure,gcp}_function*.py
            for action in filter(None, (spec.stop, spec.terminate, "tag" if spec.taggable else "")):
                assert (kind, action) in EXECUTORS, (kind, action)
