"""The metrics and spans of the AWS wrapper's two-step path: ``decide_deferred`` + ``confirm``, and the
audit log's ``append_deferred`` whose ticket is waited for before the request is sent.

Real boto3 against moto (in process), the real file audit log, ``instrument(gk)`` with its own
prometheus_client registry, read back as Prometheus reads it (the text exposition). Each test
counts what the calls did: the decisions as enforced, each once; each two-step append in the
backlog from its write to its wait, then timed; the failures counted.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ParamValidationError
from prometheus_client import CollectorRegistry

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.aws import ExportControlDenied, ExportControlError
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.observe import GatekeeperMetrics, instrument
from gatekeeper.service import Gatekeeper
from tests.adapters._support import shipped_policies
from tests.adapters.aws.cases import AMI, GPU, PLAIN
from tests.adapters.aws.conftest import CN_HQ, IRAN, PROFILES, US, Aws, _aws_isolation, inproc
from tests.audit.conftest import fail_syncs
from tests.audit.test_writer_paths import _first_sync_held, _wait_queued
from tests.conftest import tmp_config
from tests.observe.test_metrics import samples, value

__all__ = ["_aws_isolation", "inproc"]  # the AWS adapter tests' fixtures: fake credentials, moto

DECISIONS = "gatekeeper_decisions_total"


def observed_runtime(tmp_path: Path, **config: Any) -> tuple[Gatekeeper, GatekeeperMetrics]:
    """The process-wide runtime on ``tmp_path`` (the real file log, the AWS tests' customers), instrumented."""
    gk = runtime.configure(tmp_config(tmp_path, **config), policies=shipped_policies())
    gk.store.profiles.put_profiles(list(PROFILES))
    return gk, instrument(gk, CollectorRegistry())


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[Gatekeeper, GatekeeperMetrics]]:
    yield observed_runtime(tmp_path)
    runtime.reset()


def scrape(m: GatekeeperMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(m.exposition().decode())


def decided(s: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    """decisions_total by outcome (every label set seen)."""
    out: dict[str, float] = {}
    for (name, labels), v in s.items():
        if name == DECISIONS and v:
            outcome = dict(labels)["outcome"]
            out[outcome] = out.get(outcome, 0.0) + v
    return out


def run(ec2: Any, itype: str = GPU, **extra: Any) -> Any:
    return ec2.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=1, **extra)


def test_an_allowed_controlled_call_counts_one_decision_and_one_durable_append(
        inproc: Aws, observed: tuple[Gatekeeper, GatekeeperMetrics]) -> None:
    _, m = observed
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
    between: list[tuple[float | None, float | None]] = []

    def before_call(**_: Any) -> None:  # after the decision, before the record's wait (request-created)
        between.append((m.registry.get_sample_value("gatekeeper_audit_backlog"),
                        m.registry.get_sample_value(DECISIONS, {"outcome": "allow", "provider": "aws",
                                                                "mode": "enforce"})))

    ec2.meta.events.register("before-call.ec2.RunInstances", before_call)
    assert run(ec2)["Instances"]
    # Meanwhile the record was written and not yet durable, and the decision not final yet.
    assert between == [(1.0, None)]
    s = scrape(m)
    assert decided(s) == {"allow": 1}
    assert value(s, DECISIONS, outcome="allow", provider="aws", mode="enforce") == 1
    assert value(s, "gatekeeper_decision_seconds_count", provider="aws") == 1
    assert value(s, "gatekeeper_decision_errors_total", provider="aws") == 0
    assert value(s, "gatekeeper_audit_append_seconds_count") == 1
    assert value(s, "gatekeeper_audit_append_seconds_sum") > 0
    assert value(s, "gatekeeper_audit_backlog") == 0
    assert value(s, "gatekeeper_audit_append_errors_total") == 0


def test_a_failing_sync_counts_the_deny_it_enforced_and_an_append_error(
        inproc: Aws, observed: tuple[Gatekeeper, GatekeeperMetrics], monkeypatch: pytest.MonkeyPatch) -> None:
    _, m = observed
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
    fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(ExportControlDenied):
        run(ec2)
    monkeypatch.undo()
    s = scrape(m)
    assert decided(s) == {"deny": 1}  # as enforced; the allow it was before the sync is not counted
    assert value(s, "gatekeeper_decision_errors_total", provider="aws") == 1
    assert value(s, "gatekeeper_decision_seconds_count", provider="aws") == 1
    assert value(s, "gatekeeper_audit_append_errors_total") == 1
    assert value(s, "gatekeeper_audit_append_seconds_count") == 0
    assert value(s, "gatekeeper_audit_backlog") == 0


def test_with_on_error_allow_a_failing_sync_counts_the_allow_with_its_error(
        inproc: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, m = observed_runtime(tmp_path, on_error="allow")
    try:
        ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
        fail_syncs(monkeypatch, OSError(5, "Input/output error"))
        assert run(ec2)["Instances"]  # the call proceeded, carrying the error
        monkeypatch.undo()
        s = scrape(m)
        assert decided(s) == {"allow": 1}
        assert value(s, "gatekeeper_decision_errors_total", provider="aws") == 1
        assert value(s, "gatekeeper_audit_append_errors_total") == 1
        assert value(s, "gatekeeper_audit_backlog") == 0
    finally:
        runtime.reset()


@pytest.mark.parametrize(("customer", "itype", "outcome", "appends"), [
    # The request's event (recorded before the case counts it), then the case opened and the
    # decision in one durable batch: two appends.
    (CN_HQ, GPU, "pending", 2),
    (IRAN, GPU, "deny", 1),  # durable before the error is raised
    (US, PLAIN, "allow", 0),  # the plain path: no record
])
def test_a_decision_without_a_ticket_is_counted_once(
        inproc: Aws, observed: tuple[Gatekeeper, GatekeeperMetrics], customer: str, itype: str, outcome: str,
        appends: int) -> None:
    _, m = observed
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=customer)
    if outcome == "allow":
        assert run(ec2, itype)["Instances"]
    else:
        with pytest.raises(ExportControlError):
            run(ec2, itype)
    s = scrape(m)
    assert decided(s) == {outcome: 1}
    assert value(s, "gatekeeper_decision_seconds_count", provider="aws") == 1
    assert value(s, "gatekeeper_audit_append_seconds_count") == appends
    assert value(s, "gatekeeper_audit_backlog") == 0


def test_a_ticket_never_waited_for_is_counted_when_dropped_and_settled_by_the_log(
        inproc: Aws, observed: tuple[Gatekeeper, GatekeeperMetrics]) -> None:
    """boto3 validates after the decision: an unknown parameter fails the call before the request is
    made, so nobody waits for the written record. Its decision is counted as decided once the ticket
    is dropped; the record stays in the backlog until a sync of the log covers it (here the next
    call's wait), then leaves it without a time (nobody waited) and without an error."""
    _, m = observed
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
    with pytest.raises(ParamValidationError):
        run(ec2, Bogus=1)
    # The failed call's frames and request context (which held the ticket) are freed as it returns;
    # collected all the same, should a cycle hold them.
    gc.collect()
    s = scrape(m)
    assert decided(s) == {"allow": 1}
    assert value(s, "gatekeeper_audit_backlog") == 1  # written, not durable: nothing has synced it
    assert value(s, "gatekeeper_audit_append_seconds_count") == 0
    assert run(ec2)["Instances"]  # its wait syncs both records
    s = scrape(m)
    assert decided(s) == {"allow": 2}
    assert value(s, "gatekeeper_audit_backlog") == 0
    assert value(s, "gatekeeper_audit_append_seconds_count") == 1  # the call that waited
    assert value(s, "gatekeeper_audit_append_errors_total") == 0


def test_a_ticket_never_waited_for_whose_sync_fails_counts_an_error(
        inproc: Aws, observed: tuple[Gatekeeper, GatekeeperMetrics], monkeypatch: pytest.MonkeyPatch) -> None:
    _, m = observed
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
    with pytest.raises(ParamValidationError):
        run(ec2, Bogus=1)
    gc.collect()
    fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(ExportControlDenied):
        run(ec2)  # the sync its wait makes covers the first record too: both fail
    monkeypatch.undo()
    s = scrape(m)
    assert decided(s) == {"allow": 1, "deny": 1}
    assert value(s, "gatekeeper_audit_append_errors_total") == 2
    assert value(s, "gatekeeper_audit_backlog") == 0


def test_a_ticket_dropped_before_its_log_settles_it_is_settled_at_close(
        inproc: Aws, tmp_path: Path) -> None:
    """The log's close() syncs what was written; the next scrape settles the dropped ticket."""
    gk, m = observed_runtime(tmp_path)
    try:
        ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
        with pytest.raises(ParamValidationError):
            run(ec2, Bogus=1)
        gc.collect()
        assert value(scrape(m), "gatekeeper_audit_backlog") == 1
        gk.close()
        s = scrape(m)
        assert value(s, "gatekeeper_audit_backlog") == 0
        assert value(s, "gatekeeper_audit_append_errors_total") == 0
    finally:
        runtime.reset()


def test_spans_of_the_two_steps(inproc: Aws, tmp_path: Path, spans: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision is a span gatekeeper.decide (as decide's); the wait a span gatekeeper.confirm with
    the decision enforced: the same, or the deny that carries the audit error."""
    _, m = observed_runtime(tmp_path)
    try:
        ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
        assert run(ec2)["Instances"]
        decide, confirm = spans.get_finished_spans()
        assert decide.name == "gatekeeper.decide" and confirm.name == "gatekeeper.confirm"
        assert decide.attributes["gatekeeper.decision"] == confirm.attributes["gatekeeper.decision"] == "allow"
        assert decide.attributes["gatekeeper.operation"] == "ec2 RunInstances"
        assert confirm.attributes["gatekeeper.decision_id"] == decide.attributes["gatekeeper.decision_id"]
        assert "gatekeeper.error" not in confirm.attributes
        spans.clear()
        fail_syncs(monkeypatch, OSError(5, "Input/output error"))
        with pytest.raises(ExportControlDenied):
            run(ec2)
        monkeypatch.undo()
        decide, confirm = spans.get_finished_spans()
        assert decide.attributes["gatekeeper.decision"] == "allow"
        assert confirm.attributes["gatekeeper.decision"] == "deny"
        assert "audit log unavailable" in confirm.attributes["gatekeeper.error"]
        assert decided(scrape(m)) == {"allow": 1, "deny": 1}
    finally:
        runtime.reset()


def test_the_log_ticket_is_still_the_log_s(observed: tuple[Gatekeeper, GatekeeperMetrics]) -> None:
    """What the log's ticket offers (the record written, its seq) reads through the observed ticket."""
    gk, m = observed
    ticket = gk.audit.append_deferred({"kind": "test", "n": 1})  # type: ignore[attr-defined]
    assert value(scrape(m), "gatekeeper_audit_backlog") == 1
    assert ticket.record["n"] == 1 and ticket.seq == ticket.record["seq"] and ticket.done is False
    ticket.wait()
    ticket.wait()  # a second wait changes nothing
    s = scrape(m)
    assert ticket.done is True
    assert value(s, "gatekeeper_audit_backlog") == 0
    assert value(s, "gatekeeper_audit_append_seconds_count") == 1
    with pytest.raises(AttributeError):
        ticket._log  # noqa: B018  # the log's private parts are not read through


def test_a_record_that_joins_a_batch_in_flight_is_durable_and_timed_at_the_write(
        observed: tuple[Gatekeeper, GatekeeperMetrics], monkeypatch: pytest.MonkeyPatch) -> None:
    """Another appender's sync is in flight: the two-step append joins the next batch and returns
    durable. It leaves the backlog then, timed once; its wait, later, counts nothing more."""
    gk, m = observed
    log = getattr(gk.audit, "inner", gk.audit)  # the file log itself: its own appends are not counted
    assert isinstance(log, FileAuditLog)
    gate, first, _ = _first_sync_held(log, monkeypatch)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(gk.audit.append_deferred({"kind": "x.b"})))  # type: ignore[attr-defined]
    t.start()
    _wait_queued(log, 1)
    assert value(scrape(m), "gatekeeper_audit_backlog") == 1  # in progress
    gate.set()
    t.join(30)
    for f in first:
        f.join(30)
    (ticket,) = got
    s = scrape(m)
    assert ticket.done and value(s, "gatekeeper_audit_backlog") == 0
    assert value(s, "gatekeeper_audit_append_seconds_count") == 1
    ticket.wait()
    s = scrape(m)
    assert value(s, "gatekeeper_audit_backlog") == 0 and value(s, "gatekeeper_audit_append_seconds_count") == 1
