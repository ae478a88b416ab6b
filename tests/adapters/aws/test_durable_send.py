"""When the audit record of a boto3 call is durable: written at the decision, synced before the request
is signed and sent (allowed, flagged), or before the error is raised (pending, deny).

Real boto3 against moto (in process and over HTTP), the real file log; the OS's ``fdatasync`` and
the result of the kernel's sync started at the write (``SyncAhead.collect``) are observed (or made to
fail) to see when the record is synced against botocore's events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, ParamValidationError

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.aws import ExportControlDenied, ExportControlError
from gatekeeper.audit._syncahead import SyncAhead
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI, GPU, PLAIN
from tests.adapters.aws.conftest import CN_HQ, US, Aws, Sent, TeeAudit, make_gatekeeper
from tests.audit.conftest import fail_syncs, read_records


def _log(audit: TeeAudit) -> FileAuditLog:
    inner = audit.inner
    assert isinstance(inner, FileAuditLog)
    return inner


class Timeline:
    """What happened, in order: the guard's decision, each sync of the process (an fdatasync, or the
    kernel's sync's result taken), each request sent.

    At the decision and at the send, the newest decision record in the log's files and the newest
    record the log knows durable are noted."""

    def __init__(self, tmp_path: Path, audit: TeeAudit, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory, self.log = tmp_path / "audit", _log(audit)
        self.events: list[tuple[str, int, int]] = []
        real, real_collect = os.fdatasync, SyncAhead.collect

        def fdatasync(fd: int) -> None:
            real(fd)
            self.events.append(("sync", 0, 0))

        def collect(ahead: SyncAhead) -> tuple[int, BaseException | None]:
            out = real_collect(ahead)
            self.events.append(("sync", 0, 0))
            return out

        monkeypatch.setattr(os, "fdatasync", fdatasync)
        monkeypatch.setattr(SyncAhead, "collect", collect)

    def _note(self, what: str) -> None:
        decisions = [r["seq"] for r in read_records(self.directory) if r["kind"] == "decision"]
        self.events.append((what, decisions[-1] if decisions else 0, self.log.durable_head[0]))

    def watch(self, client: Any) -> Any:
        events = client.meta.events
        # After the guard (registered last before this): the decision is made.
        events.register_last("before-parameter-build.ec2.RunInstances", lambda **_: self._note("decided"))
        events.register_first("before-send.ec2.RunInstances", lambda **_: self._note("send"))
        return client

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


def run(ec2: Any, itype: str = GPU, **extra: Any) -> Any:
    return ec2.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=1, **extra)


def test_the_allowed_record_is_written_at_the_decision_and_durable_before_the_request_is_sent(
        aws: Aws, audit: TeeAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = Timeline(tmp_path, audit, monkeypatch)
    sent = Sent()
    ec2 = timeline.watch(gatekeeper.aws.protect(aws.raw("ec2"), acting_for=US))
    ec2.meta.events.register_first("before-send.ec2", sent)
    assert run(ec2)["Instances"]
    assert timeline.names() == ["decided", "sync", "send"]
    (_, written, durable_then), _, (_, at_send, durable_at_send) = timeline.events
    assert written > durable_then  # written at the decision, not yet synced
    assert at_send == written and durable_at_send >= written  # durable before it left
    assert sent.operations == ["RunInstances"]
    assert audit.decisions[-1]["decision"] == "allow" and audit.decisions[-1]["seq"] == written


def test_a_blocked_call_is_durable_before_the_error_is_raised(aws: Aws, audit: TeeAudit, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = Timeline(tmp_path, audit, monkeypatch)
    sent = Sent()
    ec2 = timeline.watch(gatekeeper.aws.protect(aws.raw("ec2"), acting_for=CN_HQ))
    ec2.meta.events.register_first("before-send.ec2", sent)
    with pytest.raises(ExportControlError):  # pending: a licence is needed
        run(ec2)
    blocked = audit.decisions[-1]
    assert blocked["decision"] == "pending" and _log(audit).durable_head[0] >= blocked["seq"]
    assert "send" not in timeline.names() and "sync" in timeline.names()  # synced in the guard
    assert sent.operations == []


def test_a_failing_sync_denies_the_call_and_nothing_is_sent(
        moto_server: str, audit: TeeAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record is written at the decision; its sync before the request fails: the caller gets the
    SDK's own error (a 403 ClientError) and moto never sees the call, even with botocore's retries
    on; the record is taken off the log again and the log refuses further records."""
    http = Aws("http", moto_server)
    sent = Sent()
    ec2 = gatekeeper.aws.protect(http.session().client("ec2", endpoint_url=moto_server,
                                                       config=BotoConfig(retries={"mode": "standard"})),
                                 acting_for=US)
    ec2.meta.events.register_first("before-send.ec2", sent)
    size = sum(p.stat().st_size for p in (tmp_path / "audit").glob("*.jsonl"))
    fail_syncs(monkeypatch, OSError(5, "Input/output error"))
    with pytest.raises(ExportControlDenied) as err:
        run(ec2)
    monkeypatch.undo()
    assert isinstance(err.value, ClientError)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert any("audit log unavailable" in r for r in err.value.response["Gatekeeper"]["reasons"])
    assert sent.operations == []
    assert http.raw("ec2").describe_instances()["Reservations"] == []
    assert sum(p.stat().st_size for p in (tmp_path / "audit").glob("*.jsonl")) == size  # cut back
    with pytest.raises(ExportControlDenied) as again:
        run(ec2)  # the log is broken until reopened: denied at the decision
    assert any("refuses further records" in r for r in again.value.response["Gatekeeper"]["reasons"])
    assert sent.operations == []


def test_with_on_error_allow_a_failing_sync_lets_the_call_through_flagged_with_the_error(
        inproc: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule as a record that cannot be written at the decision: on_error = "allow" chose
    availability over the record."""
    _, tee = make_gatekeeper(tmp_path, on_error="allow")
    try:
        sent = Sent()
        ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
        ec2.meta.events.register_first("before-send.ec2", sent)
        fail_syncs(monkeypatch, OSError(5, "Input/output error"))
        assert run(ec2)["Instances"]
        monkeypatch.undo()
        assert sent.operations == ["RunInstances"]
        assert tee.decisions == []  # nothing acknowledged as durable
    finally:
        runtime.reset()


@pytest.fixture
def http(moto_server: str, gk: Gatekeeper) -> Iterator[Aws]:
    yield Aws("http", moto_server)


def test_a_call_boto3_rejects_after_the_decision_leaves_a_written_record_made_durable_later(
        http: Aws, gk: Gatekeeper, audit: TeeAudit, tmp_path: Path) -> None:
    """boto3 validates after the decision: an unknown parameter fails the call between the decision and
    the request. Its record is written and never waited for; the next call's sync covers it, and
    close() would; nothing waits on it meanwhile."""
    log = _log(audit)
    ec2 = gatekeeper.aws.protect(http.raw("ec2"), acting_for=US)
    with pytest.raises(ParamValidationError):
        run(ec2, Bogus=1)
    orphan = [r for r in read_records(tmp_path / "audit") if r["kind"] == "decision"][-1]
    assert orphan["decision"] == "allow" and log.durable_head[0] < orphan["seq"]
    assert run(ec2)["Instances"]  # its wait syncs both
    assert log.durable_head[0] > orphan["seq"]
    with pytest.raises(ParamValidationError):
        run(ec2, Bogus=2)
    last = [r for r in read_records(tmp_path / "audit") if r["kind"] == "decision"][-1]
    assert log.durable_head[0] < last["seq"]
    gk.close()  # the segment's checkpoint: its fsync covers the written record
    assert log.durable_head[0] >= last["seq"]
    assert (tmp_path / "audit" / "segment-00000001.checkpoint.json").exists()


def test_parameters_changed_after_the_decision_are_decided_again_and_both_records_durable(
        aws: Aws, audit: TeeAudit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = Timeline(tmp_path, audit, monkeypatch)
    ec2 = gatekeeper.aws.protect(aws.raw("ec2"), acting_for=US)

    def bigger(params: dict[str, Any], **_: Any) -> None:
        params["InstanceType"] = "p5.48xlarge"  # after the guard decided on GPU

    ec2.meta.events.register_last("before-parameter-build.ec2.RunInstances", bigger)
    timeline.watch(ec2)
    made = run(ec2)
    assert made["Instances"][0]["InstanceType"] == "p5.48xlarge"
    first, second = audit.decisions[-2:]
    assert {first["items"][0]["instance_type"], second["items"][0]["instance_type"]} == {GPU, "p5.48xlarge"}
    send = timeline.events[-1]
    assert send[0] == "send" and send[2] >= max(first["seq"], second["seq"])


def test_a_plain_type_changed_into_a_controlled_one_is_denied_after_the_decision(
        aws: Aws, audit: TeeAudit) -> None:
    sent = Sent()
    ec2 = gatekeeper.aws.protect(aws.raw("ec2"), acting_for=CN_HQ)
    ec2.meta.events.register_first("before-send.ec2", sent)

    def swap(params: dict[str, Any], **_: Any) -> None:
        params["InstanceType"] = GPU

    ec2.meta.events.register_last("before-parameter-build.ec2.RunInstances", swap)
    with pytest.raises(ExportControlError):
        run(ec2, itype=PLAIN)
    assert sent.operations == [] and audit.decisions[-1]["decision"] == "pending"
