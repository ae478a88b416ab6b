"""Reconciliation: every reviewer record is matched by its change in the store, or voided, or reported.

A crash between a reviewer's record and its commit is reproduced the way it looks afterwards: the
record is in the log (written through the runtime's own ``record_event``, as ``audited`` writes it)
and the store never received the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.audit.review import AuditReader
from gatekeeper.errors import AuditError
from gatekeeper.reconcile import RECORD_KINDS, reconcile, reconcile_log
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow import workflow_of
from tests.audit_faults import fail_audit
from tests.stores.backends import Clock, local_dynamodb, local_postgres, make_gatekeeper, request, store_url
from tests.web.conftest import HUAWEI, write_entity_list

__all__ = ["local_dynamodb", "local_postgres", "store_url"]  # the backends' fixtures

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
EXPIRES = START.date() + timedelta(days=90)


@pytest.fixture
def gk(store_url: str, tmp_path: Path) -> Iterator[Gatekeeper]:
    g = make_gatekeeper(tmp_path, store_url, clock=Clock(START))
    g.store.profiles.put_profiles([HUAWEI])
    yield g
    g.close()


def _audit(tmp_path: Path) -> Path:
    return tmp_path / "audit"


def _every_action(gk: Gatekeeper, tmp_path: Path) -> None:
    """One of each reviewer action, each committed: approve (licence issued), deny, revoke, clear."""
    from gatekeeper.screening import clear_hit, load_list

    wf = workflow_of(gk)
    first = gk.decide(request()).case_id
    assert first
    wf.approve(first, reviewer="alice", licence_number="L-1", expires=EXPIRES)
    second = gk.decide(request(account=HUAWEI.account_id)).case_id  # another customer: another case
    assert second and second != first
    wf.deny(second, reviewer="carol", reason="military end user")
    wf.revoke("L-1", by="bob", reason="end-use check failed")
    load_list(gk, write_entity_list(tmp_path / "csl.csv"), actor="test")
    clear_hit(gk, HUAWEI.account_id, "el-huawei-0001", provider="aws", by="dana", reason="not the listed entity")


def test_committed_actions_all_match(gk: Gatekeeper, tmp_path: Path) -> None:
    _every_action(gk, tmp_path)
    result = reconcile_log(_audit(tmp_path), gk.store)
    # case.approved, licence.issued, case.denied, licence.revoked, screening.hit_cleared
    assert result.checked == 5 and result.voided == 0
    assert result.unmatched == ()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_record_without_its_change_is_reported(gk: Gatekeeper, tmp_path: Path) -> None:
    _every_action(gk, tmp_path)
    case_id = gk.decide(request(instance_type="p4de.24xlarge")).case_id
    assert case_id
    at = gk.clock().isoformat()
    # What a crash after the record and before the commit leaves: the records, no change.
    denied = gk.record_event("case.denied", "erin", {"case_id": case_id, "reviewer": "erin", "reason": "x", "at": at})
    revoked = gk.record_event("licence.revoked", "frank", {"licence_number": "L-9", "by": "frank", "at": at})
    cleared = gk.record_event("screening.hit_cleared", "gina", {"provider": "aws", "account_id": HUAWEI.account_id,
                                                                "entry_id": "el-huawei-0001", "at": at})
    result = reconcile_log(_audit(tmp_path), gk.store)
    assert [(u.seq, u.kind, u.actor) for u in result.unmatched] == [
        (denied["seq"], "case.denied", "erin"), (revoked["seq"], "licence.revoked", "frank"),
        (cleared["seq"], "screening.hit_cleared", "gina")]
    why = {u.kind: (u.about, u.why) for u in result.unmatched}
    assert why["case.denied"] == (f"case {case_id}", f"no 'denied' history entry by erin at {at} (case is open)")
    assert why["licence.revoked"] == ("licence L-9", "no such licence in the store")
    assert why["screening.hit_cleared"][1].startswith("cleared by dana at ")  # the earlier clearance, not gina's
    assert result.checked == 8


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_changed_time_or_actor_does_not_match(gk: Gatekeeper, tmp_path: Path) -> None:
    _every_action(gk, tmp_path)
    with AuditReader(_audit(tmp_path)) as reader:
        records = reader.event_records(RECORD_KINDS)
    assert reconcile(records, gk.store).unmatched == ()
    for kind in ("case.approved", "case.denied", "licence.revoked", "screening.hit_cleared"):
        rec = next(r for r in records if r["kind"] == kind)
        moved = {**rec, "data": {**rec["data"], "at": "2026-05-04T09:00:01+00:00"}}
        other = [r for r in records if r is not rec]
        assert [u.kind for u in reconcile([*other, moved], gk.store).unmatched] == [kind]
        if kind != "licence.revoked":  # revocation is matched on the record's ``by``
            impostor = {**rec, "actor": "mallory"}
            assert [u.kind for u in reconcile([*other, impostor], gk.store).unmatched] == [kind]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_voided_record_is_not_reported(gk: Gatekeeper, tmp_path: Path) -> None:
    case_id = gk.decide(request()).case_id
    assert case_id
    fail_audit(gk, "licence.issued")  # the second record of a final approval fails: the first is voided
    with pytest.raises(AuditError):
        workflow_of(gk).approve(case_id, reviewer="alice", licence_number="L-2", expires=EXPIRES)
    result = reconcile_log(_audit(tmp_path), gk.store)
    assert result.voided == 1 and result.checked == 0 and result.unmatched == ()


def test_guardrails_applying_needs_its_follow_up() -> None:
    applying = {"seq": 3, "kind": "guardrails.applying", "actor": "cli:ops", "data": {"cloud": "aws"}}
    applied = {"seq": 4, "kind": "guardrails.applied", "actor": "cli:ops", "data": {"cloud": "aws", "intent": 3}}
    failed = {"seq": 4, "kind": "guardrails.apply_failed", "actor": "cli:ops", "data": {"cloud": "aws", "voids": [3]}}
    store = object()  # the log alone decides these: the store is never asked
    assert reconcile([applying, applied], store).unmatched == ()
    assert reconcile([applying, failed], store).voided == 1
    (lone,) = reconcile([applying], store).unmatched
    assert lone.seq == 3 and lone.about == "aws guardrails" and "no guardrails.applied" in lone.why


def test_other_kinds_are_ignored() -> None:
    decision = {"seq": 1, "kind": "decision", "actor": "", "data": {}}
    opened = {"seq": 2, "kind": "case.opened", "actor": "system", "data": {"case_id": "c"}}
    result = reconcile([decision, opened], object())
    assert (result.checked, result.voided, result.unmatched) == (0, 0, ())


def test_every_reconciled_kind_says_what_it_is_looked_up_by() -> None:
    from gatekeeper.reconcile import LOOKED_FOR, RECONCILED_KINDS

    assert list(LOOKED_FOR) == list(RECONCILED_KINDS) and all(LOOKED_FOR.values())
