"""The whole permission lifecycle, against SQLite and DynamoDB alike, through Gatekeeper.decide.

blocked -> case opened -> approved (licence issued) -> retried and allowed -> drawn down to zero ->
pending again -> a second licence expires -> pending; every step audited.

The same lifecycle through the AWS wrapper (a protected boto3 EC2 client) is in test_aws_lifecycle.py;
this file checks the details (reasons, case content, audit records) without a cloud SDK in the way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.model import Outcome
from gatekeeper.workflow import workflow_of
from tests.stores.backends import Clock, audit_records, make_gatekeeper, request

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def test_lifecycle(store_url: str, tmp_path: Path, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    wf = workflow_of(gk)
    try:
        # 1. Blocked: no licence on file; a case is opened with what the reviewer needs.
        d1 = gk.decide(request())
        assert d1.outcome == Outcome.PENDING and d1.blocks
        assert d1.case_id and d1.licence_id is None
        assert "no licence on file for Lion City AI Pte. Ltd." in d1.reasons[-1]
        assert f"case {d1.case_id} opened" in d1.reasons[-1]
        case = wf.get_case(d1.case_id)
        assert case.status == "open" and case.request_count == 1
        assert case.profile["ultimate_parent_country"] == "CN"
        assert case.scope.export_classes == ("3A090.a",)
        [acc] = case.accelerators()
        assert (acc["model"], acc["export_class"], acc["tpp"], acc["largest_request"]) == ("A100", "3A090.a", 4992.0, 8)
        # The licence requirement, and the review policy for a Singapore company with a Chinese parent.
        assert [r.rule_id for r in case.rules()] == ["d5-macau-3a090", "d5-outside-china-macau"]
        assert case.rules()[0].citation
        assert case.review_policy() == "presumption of denial" == d1.review_policy
        assert case.as_json()["review_policy"] == "presumption of denial"

        # A retry before approval joins the same case (identical retries count once).
        d1b = gk.decide(request())
        assert d1b.outcome == Outcome.PENDING and d1b.case_id == d1.case_id
        assert wf.get_case(d1.case_id).requested_quantity == 8

        # 2. Approved by a reviewer: licence for two instances' worth (16 accelerators).
        clock.advance(hours=2)
        approved, lic = wf.approve(d1.case_id, reviewer="alice@compliance", licence_number="D1234567",
                                   expires=START.date() + timedelta(days=90), quantity=16,
                                   conditions="no re-export")
        assert approved.status == "approved" and approved.licence_number == "D1234567"
        assert lic is not None and lic.remaining == 16 and lic.valid_from == clock.now.date()
        assert lic.approvers == ("alice@compliance",) and lic.case_id == d1.case_id

        # 3. Retried and allowed, drawing the licence; the decision names it.
        d2 = gk.decide(request())
        assert d2.outcome == Outcome.ALLOW and not d2.blocks
        assert d2.licence_id == "D1234567" and d2.policy_outcome == Outcome.PENDING
        assert "drew 8 accelerators, 8 of 16 left" in d2.reasons[-1]

        # 4. Drawn down to zero.
        d3 = gk.decide(request())
        assert d3.outcome == Outcome.ALLOW and d3.licence_id == "D1234567"
        assert gk.store.licences.get_licence("D1234567").remaining == 0

        # 5. Pending again: a new case, saying why the licence no longer allows.
        d4 = gk.decide(request())
        assert d4.outcome == Outcome.PENDING and d4.licence_id is None
        assert d4.case_id and d4.case_id != d1.case_id
        assert "licence D1234567 has 0 of 16 accelerators left and the request needs 8" in d4.reasons[-1]

        # 6. A second licence, then expiry: pending again once past its last day.
        _, lic2 = wf.approve(d4.case_id, reviewer="alice@compliance", licence_number="D7654321",
                             expires=clock.now.date() + timedelta(days=1), quantity=16)
        assert lic2 is not None and lic2.valid_until == clock.now.date() + timedelta(days=1)
        clock.advance(days=1)  # the last valid day: still allowed
        on_last_day = gk.decide(request())
        assert on_last_day.outcome == Outcome.ALLOW and on_last_day.licence_id == "D7654321"
        clock.advance(days=1)
        d5 = gk.decide(request())
        assert d5.outcome == Outcome.PENDING
        assert f"licence D7654321 expired on {lic2.valid_until.isoformat()}" in d5.reasons[-1]
    finally:
        gk.close()

    # Every state change and every decision is in the audit log, in order.
    records = audit_records(tmp_path)
    kinds = [r["kind"] for r in records if r["kind"] != "audit.segment"]
    for kind in ("case.opened", "case.joined", "case.approved", "licence.issued",
                 "licence.drawn", "licence.exhausted"):
        assert kind in kinds, kind
    assert kinds.index("case.opened") < kinds.index("case.approved") < kinds.index("licence.drawn") \
        < kinds.index("licence.exhausted")
    decisions = [r for r in records if r["kind"] == "decision"]
    allowed = [r for r in decisions if r["decision"] == "allow" and r["licence_id"] == "D1234567"]
    assert len(allowed) == 2
    issued = next(r for r in records if r["kind"] == "licence.issued")
    assert issued["actor"] == "alice@compliance" and issued["data"]["quantity"] == 16  # type: ignore[index]


def test_last_valid_day_still_allows(store_url: str, tmp_path: Path, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id is not None
        workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="L-1", expires=clock.now.date())
        assert gk.decide(request()).outcome == Outcome.ALLOW
    finally:
        gk.close()


def test_revoked_licence_no_longer_allows(store_url: str, tmp_path: Path, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id is not None
        workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="L-1",
                           expires=clock.now.date() + timedelta(days=30), quantity=80)
        assert gk.decide(request()).outcome == Outcome.ALLOW
        workflow_of(gk).revoke("L-1", by="bob", reason="end user acquired by an Entity List party")
        d2 = gk.decide(request())
        assert d2.outcome == Outcome.PENDING
        assert "licence L-1 was revoked (end user acquired by an Entity List party)" in d2.reasons[-1]
    finally:
        gk.close()
    revoked = [r for r in audit_records(tmp_path) if r["kind"] == "licence.revoked"]
    assert len(revoked) == 1 and revoked[0]["actor"] == "bob"


def test_request_larger_than_what_is_left_is_held_and_draws_nothing(store_url: str, tmp_path: Path,
                                                                     clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id is not None
        workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="L-1",
                           expires=clock.now.date() + timedelta(days=30), quantity=12)
        big = gk.decide(request(count=2))  # 16 accelerators > 12
        assert big.outcome == Outcome.PENDING
        assert "has 12 of 12 accelerators left and the request needs 16" in big.reasons[-1]
        assert gk.store.licences.get_licence("L-1").remaining == 12
        assert gk.decide(request(count=1)).outcome == Outcome.ALLOW
    finally:
        gk.close()


def test_dry_run_neither_draws_nor_opens(store_url: str, tmp_path: Path, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    try:
        what_if = gk.decide(request(), dry_run=True)
        assert what_if.outcome == Outcome.PENDING and what_if.case_id is None
        assert "a case would be opened" in what_if.reasons[-1]
        assert gk.store.cases.list_cases() == []
        real = gk.decide(request())
        assert real.case_id is not None
        joined = gk.decide(request(), dry_run=True)
        assert joined.case_id == real.case_id and "would join open case" in joined.reasons[-1]
        assert workflow_of(gk).get_case(real.case_id).request_count == 1
        workflow_of(gk).approve(real.case_id, reviewer="alice", licence_number="L-1",
                           expires=clock.now.date() + timedelta(days=30))
        covered = gk.decide(request(), dry_run=True)
        assert covered.outcome == Outcome.ALLOW and covered.licence_id == "L-1"
        assert "dry run: nothing drawn" in covered.reasons[-1]
        assert gk.store.licences.get_licence("L-1").remaining == 8
    finally:
        gk.close()
    assert not [r for r in audit_records(tmp_path) if r["kind"] == "licence.drawn"]


def test_licence_scope_is_respected(store_url: str, tmp_path: Path, clock: Clock) -> None:
    """A licence for the A100 case (3A090.a, aws, region-restricted) does not cover elsewhere."""
    gk = make_gatekeeper(tmp_path, store_url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id is not None
        workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="L-1",
                           expires=clock.now.date() + timedelta(days=30), quantity=64, regions=("us-east-1",))
        assert gk.decide(request(region="us-east-1a")).outcome == Outcome.ALLOW  # a zone of the region
        other = gk.decide(request(region="eu-west-1"))
        assert other.outcome == Outcome.PENDING
        assert "does not cover aws eu-west-1" in other.reasons[-1]
        # An unverified foreign customer's request is not covered by another customer's licence.
        foreign = gk.decide(request(account="333333333333", instance_type="p5.48xlarge"))
        assert foreign.outcome == Outcome.PENDING and foreign.licence_id is None
    finally:
        gk.close()
