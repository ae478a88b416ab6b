"""The runtime: hot path, durable records, fail-closed on store/engine/audit failures, shadow mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import Config
from gatekeeper.errors import StoreError
from gatekeeper.model import ComputeItem, Decision, Outcome, ProvisioningRequest
from gatekeeper.service import Gatekeeper, Settlement
from tests.conftest import SAMPLE_PROFILES, tmp_config

US, SG_CN, UNVERIFIED, IRAN = (p.account_id for p in SAMPLE_PROFILES)


def request(account: str, itype: str, count: int = 1, region: str = "us-east-1") -> ProvisioningRequest:
    return ProvisioningRequest("aws", account, (ComputeItem(itype, count),), region=region, service="ec2",
                               operation="RunInstances", principal="arn:aws:iam::1:user/dev")


def audit_records(tmp_path: Path) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((tmp_path / "audit").glob("*.jsonl")):
        out.extend(json.loads(line) for line in seg.read_text(encoding="utf-8").splitlines() if line.strip())
    return [r for r in out if r.get("kind", "decision") == "decision" or "decision" in r]


class RecordingPermits:
    """Stands in for the licence workflow at the Permits seam: never a licence, always case-1."""

    def __init__(self) -> None:
        self.calls: list[tuple[Decision, bool]] = []

    def settle(self, decision: Decision, *, dry_run: bool = False) -> Settlement:
        self.calls.append((decision, dry_run))
        return Settlement(Outcome.PENDING, None, None if dry_run else "case-1", ("case case-1 opened",))


@pytest.fixture
def permits() -> RecordingPermits:
    return RecordingPermits()


@pytest.fixture
def svc(config: Config, permits: RecordingPermits) -> Gatekeeper:
    g = Gatekeeper(config, permits=permits)
    g.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    return g


def test_plain_request_is_allowed_and_not_recorded(svc: Gatekeeper, tmp_path: Path) -> None:
    d = svc.decide(request(US, "t3.micro", 3))
    assert d.outcome == Outcome.ALLOW and not d.accelerated and not d.blocks
    assert audit_records(tmp_path) == []


def test_plain_request_of_an_embargoed_customer_is_denied_and_recorded(svc: Gatekeeper, tmp_path: Path) -> None:
    d = svc.decide(request(IRAN, "t3.micro", 3))
    assert d.outcome == Outcome.DENY and not d.accelerated and d.blocks
    assert [m.rule_id for m in d.matches] == ["embargoed-customer"]
    [rec] = audit_records(tmp_path)
    assert rec["decision_id"] == d.decision_id and rec["decision"] == "deny"


def test_embargoed_accounts_are_reread_after_an_import(svc: Gatekeeper) -> None:
    from gatekeeper.model import CustomerProfile

    assert svc.decide(request("999999999999", "t3.micro")).outcome == Outcome.ALLOW  # unknown account
    svc.store.profiles.put_profiles([CustomerProfile("aws", "999999999999", "Pyongyang Compute", "KP", "KP", "KP")])
    assert svc.decide(request("999999999999", "t3.micro")).outcome == Outcome.ALLOW  # the set read before
    svc.refresh_subjects()
    assert svc.decide(request("999999999999", "t3.micro")).outcome == Outcome.DENY


def test_record_all_records_plain_requests(tmp_path: Path) -> None:
    cfg = tmp_config(tmp_path)
    cfg = cfg.model_copy(update={"audit": cfg.audit.model_copy(update={"record_all": True})})
    g = Gatekeeper(cfg)
    d = g.decide(request(US, "t3.micro"))
    g.close()
    [rec] = audit_records(tmp_path)
    assert rec["decision_id"] == d.decision_id


def test_controlled_allow_is_durable_before_return(svc: Gatekeeper, tmp_path: Path) -> None:
    d = svc.decide(request(US, "p5.48xlarge", 2))
    assert d.outcome == Outcome.ALLOW and d.accelerated
    recs = audit_records(tmp_path)  # read back before close(): the append was fsynced already
    assert [r["decision_id"] for r in recs] == [d.decision_id]


def test_publish_audit_digest_vouches_for_the_newest_durable_record(svc: Gatekeeper) -> None:
    svc.publish_audit_digest()  # before any record: the log is not opened for it
    assert svc._audit is None
    d = svc.decide(request(US, "p5.48xlarge", 2))
    audit: Any = svc.audit
    trust = audit.trust
    before = trust.witness.latest_digest(trust.log_id)
    assert before is None or before.seq < audit.inner.durable_head[0]  # the interval has not come
    svc.publish_audit_digest()
    digest = trust.witness.latest_digest(trust.log_id)
    assert digest.seq == audit.inner.durable_head[0] and digest.head_hash == audit.inner.durable_head[1]
    assert d.outcome == Outcome.ALLOW


def test_pending_goes_to_permits_and_names_the_case(svc: Gatekeeper, permits: RecordingPermits) -> None:
    d = svc.decide(request(SG_CN, "p4d.24xlarge"))
    assert d.outcome == Outcome.PENDING and d.case_id == "case-1" and d.blocks
    assert permits.calls[0][1] is False
    assert any("742.6" in m.citation for m in d.matches)


def test_dry_run_records_nothing(svc: Gatekeeper, permits: RecordingPermits, tmp_path: Path) -> None:
    d = svc.decide(request(SG_CN, "p4d.24xlarge"), dry_run=True)
    assert d.outcome == Outcome.PENDING and d.case_id is None and permits.calls[0][1] is True
    assert audit_records(tmp_path) == []


def test_unknown_account_is_unverified_foreign(svc: Gatekeeper) -> None:
    d = svc.decide(request("999999999999", "p5.48xlarge"))
    assert d.outcome == Outcome.PENDING and not d.profile.known
    assert {m.rule_id for m in d.matches} >= {"unverified-foreign-3a090"}


def test_embargoed_customer_denied_and_recorded(svc: Gatekeeper, tmp_path: Path) -> None:
    d = svc.decide(request(IRAN, "g4dn.xlarge"))
    assert d.outcome == Outcome.DENY
    [rec] = audit_records(tmp_path)
    assert rec["decision"] == "deny"


class BrokenProfiles:
    def get_profile(self, provider: str, account_id: str) -> None:
        raise StoreError("dynamodb unreachable")


class BrokenStore:
    profiles = BrokenProfiles()

    def close(self) -> None:
        pass


def test_store_down_fails_closed_with_the_error_recorded(config: Config, tmp_path: Path) -> None:
    g = Gatekeeper(config, store=BrokenStore())
    d = g.decide(request(US, "p4d.24xlarge"))
    assert d.outcome == Outcome.DENY and d.blocks
    assert d.error is not None and "dynamodb unreachable" in d.error
    assert "denied fail-closed" in d.reasons[0]
    [rec] = audit_records(tmp_path)
    assert rec["decision"] == "deny" and "dynamodb unreachable" in rec["error"]


def test_store_down_does_not_touch_the_hot_path(config: Config) -> None:
    # The embargoed accounts cannot be read: plain compute (no accelerator) still goes through, the
    # failure is logged and the read retried later.
    g = Gatekeeper(config, store=BrokenStore())
    assert g.decide(request(US, "m7i.large")).outcome == Outcome.ALLOW
    assert g.decide(request(IRAN, "m7i.large")).outcome == Outcome.ALLOW


def test_on_error_allow_flags_instead(tmp_path: Path) -> None:
    g = Gatekeeper(tmp_config(tmp_path, on_error="allow"), store=BrokenStore())
    d = g.decide(request(US, "p4d.24xlarge"))
    assert d.outcome == Outcome.FLAG and not d.blocks and d.error


class BrokenAudit:
    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


def test_audit_failure_blocks_the_call(config: Config) -> None:
    g = Gatekeeper(config, audit=BrokenAudit())
    g.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    d = g.decide(request(US, "p5.48xlarge"))
    assert d.outcome == Outcome.DENY and d.blocks
    assert d.error is not None and "No space left" in d.error


def test_shadow_mode_decides_but_never_blocks(tmp_path: Path, permits: RecordingPermits) -> None:
    g = Gatekeeper(tmp_config(tmp_path, mode="shadow"), permits=permits)
    g.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    d = g.decide(request(IRAN, "p5.48xlarge"))
    assert d.outcome == Outcome.DENY and d.mode == "shadow" and not d.blocks
    assert audit_records(tmp_path)[0]["mode"] == "shadow"


def test_engine_exception_fails_closed(svc: Gatekeeper, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("bug in a predicate")

    monkeypatch.setattr(svc.engine, "evaluate", boom)
    d = svc.decide(request(US, "p4d.24xlarge"))
    assert d.outcome == Outcome.DENY and "bug in a predicate" in (d.error or "")


@pytest.mark.parametrize("itype", ["P4D.24XLARGE", "  p4d.24xlarge  ", "p4d. 24xlarge", "ML.P4D.24XLARGE"])
def test_case_and_whitespace_variants_never_slip_through(svc: Gatekeeper, itype: str) -> None:
    assert svc.decide(request(SG_CN, itype)).outcome == Outcome.PENDING


@pytest.mark.parametrize(("count", "accelerators"), [(0, 0), (-3, 0), (10**9, 8 * 10**9)])
def test_odd_counts(svc: Gatekeeper, count: int, accelerators: int) -> None:
    d = svc.decide(request(SG_CN, "p4d.24xlarge", count), dry_run=True)
    # A zero or negative count still names a controlled type: the decision does not depend on it.
    assert d.outcome == Outcome.PENDING
    assert sum(a.total for i in d.items for a in i.accelerators) == accelerators


def test_decision_ids_are_random_unique_and_not_shared_with_a_forked_child(tmp_path: Path) -> None:
    import os
    import re

    gk = Gatekeeper(tmp_config(tmp_path))
    ids = [gk.decide(request(US, "t3.micro")).decision_id for _ in range(1200)]  # over two buffers of 512
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"dec-[0-9a-f]{16}", i) for i in ids)
    # A forked child must not hand out the ids its parent is about to (the buffer it inherited).
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, gk.decide(request(US, "t3.micro")).decision_id.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        child = fh.read().decode()
    os.waitpid(pid, 0)
    parent = gk.decide(request(US, "t3.micro")).decision_id
    assert re.fullmatch(r"dec-[0-9a-f]{16}", child) and child != parent


class LicensingPermits:
    """Stands in for the licence workflow: allows under licence L-1 (a draw); notes each refund asked
    for, and fails it when told to (a Permits of an embedder's own that raises)."""

    def __init__(self, *, raises: bool = False) -> None:
        self.refunds: list[str] = []
        self.raises = raises

    def settle(self, decision: Decision, *, dry_run: bool = False) -> Settlement:
        return Settlement(Outcome.ALLOW, licence_id="L-1", reasons=("allowed under L-1",))

    def refund(self, decision: Decision) -> None:
        self.refunds.append(decision.decision_id)
        if self.raises:
            raise RuntimeError("refund exploded")


def _licensed(tmp_path: Path, permits: LicensingPermits, **config: Any) -> Gatekeeper:
    g = Gatekeeper(tmp_config(tmp_path, **config), permits=permits)
    g.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    return g


def test_a_licensed_decision_whose_record_fails_is_denied_and_its_draw_refunded(tmp_path: Path) -> None:
    from tests.audit_faults import fail_audit

    permits = LicensingPermits()
    g = _licensed(tmp_path, permits)
    try:
        assert g.decide(request(SG_CN, "p4d.24xlarge")).outcome == Outcome.ALLOW
        assert permits.refunds == []  # recorded: the draw stands
        fail_audit(g, "decision")
        d = g.decide(request(SG_CN, "p4d.24xlarge"))
        assert d.outcome == Outcome.DENY and d.blocks and d.licence_id == "L-1"
        assert permits.refunds == [d.decision_id]
    finally:
        g.close()


@pytest.mark.parametrize("config", [{"on_error": "allow"}, {"mode": "shadow"}])
def test_a_licensed_call_that_proceeds_despite_its_record_keeps_its_draw(tmp_path: Path,
                                                                          config: dict[str, Any]) -> None:
    from tests.audit_faults import fail_audit

    permits = LicensingPermits()
    g = _licensed(tmp_path, permits, **config)
    try:
        fail_audit(g, "decision")
        d = g.decide(request(SG_CN, "p4d.24xlarge"))
        assert not d.blocks and d.error is not None
        assert permits.refunds == []
    finally:
        g.close()


def test_a_refund_that_raises_leaves_the_denial(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from tests.audit_faults import fail_audit

    permits = LicensingPermits(raises=True)
    g = _licensed(tmp_path, permits)
    try:
        fail_audit(g, "decision")
        with capture_logs() as logs:
            d = g.decide(request(SG_CN, "p4d.24xlarge"))
        assert d.outcome == Outcome.DENY and permits.refunds == [d.decision_id]
        [failed] = [e for e in logs if e["event"] == "licence.refund_failed"]
        assert failed["licence"] == "L-1" and failed["decision_id"] == d.decision_id
        assert "refund exploded" in failed["error"]
    finally:
        g.close()
