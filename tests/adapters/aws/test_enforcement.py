"""What a caller sees: the ClientError contract, flag and shadow mode, the subject, the hot path, fail-closed."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.aws import ExportControlDenied, ExportControlError, ExportLicensePending, _handler, _resolver
from gatekeeper.errors import ResolutionError
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI, GPU, PLAIN
from tests.adapters.aws.conftest import CN_HQ, IRAN, MOTO_ACCOUNT, US, Aws, Sent, TeeAudit, make_gatekeeper

UNVERIFIED = "333333333333"


def run(ec2: Any, itype: str = GPU, count: int = 1, **extra: Any) -> Any:
    return ec2.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=count, **extra)


def test_pending_is_a_client_error_callers_already_handle(inproc: Aws, audit: TeeAudit) -> None:
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ):
        try:
            run(ec2, count=3)
        except ec2.exceptions.ClientError as err:  # existing handling, untouched
            caught = err
    assert isinstance(caught, ExportLicensePending) and isinstance(caught, ClientError)
    r = caught.response
    assert r["Error"]["Code"] == "ExportLicensePending" and r["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert set(r["Gatekeeper"]) == {"decision_id", "decision", "case_id", "rules", "reasons"}
    case_id = r["Gatekeeper"]["case_id"]
    message = r["Error"]["Message"]
    # Why (the customer, the chips, the rule's reason) and what to do (the case to approve, then retry).
    assert "Shenzhen Deep Compute" in message and "A100" in message and "p4d.24xlarge x3" in message
    assert f"case {case_id}" in message and "retry" in message
    assert caught.case_id == case_id and caught.decision is not None
    # The licence requirement, and the licence review policy rule (issue 16) that accompanies it.
    assert r["Gatekeeper"]["rules"][0] == "d5-macau-3a090" and len(r["Gatekeeper"]["rules"]) == 2
    assert r["ResponseMetadata"]["RequestId"] == r["Gatekeeper"]["decision_id"]
    assert sent.operations == []
    # The decision and the case opened are in the audit log, the decision before the error was raised.
    assert [d["decision_id"] for d in audit.decisions] == [r["Gatekeeper"]["decision_id"]]
    assert any(rec.get("kind") == "case.opened" for rec in audit.records)
    # Picklable like any ClientError (for multiprocessing users).
    again = pickle.loads(pickle.dumps(caught))
    assert isinstance(again, ExportLicensePending) and again.response == caught.response


def test_a_second_pending_request_joins_the_open_case(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = inproc.protected("ec2")
    ids = []
    for _ in range(2):
        with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending) as info:
            run(ec2)
        ids.append(info.value.case_id)
    assert ids[0] and ids[0] == ids[1]


def test_deny_says_not_to_retry(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = inproc.protected("ec2")
    with gatekeeper.acting_for(provider="aws", account_id=IRAN), pytest.raises(ExportControlDenied) as info:
        run(ec2, itype="g4dn.xlarge")  # any accelerator for an embargoed customer
    err = info.value
    assert err.code == "ExportControlDenied" and err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.case_id is None and "embargo" in str(err)
    assert "cannot proceed under the policies in force" in str(err)
    assert not isinstance(err, ExportLicensePending)


def test_flag_proceeds_and_is_recorded(inproc: Aws, gk: Gatekeeper, audit: TeeAudit) -> None:
    gk.store.profiles.put_profiles([CustomerProfile("aws", UNVERIFIED, "Andes Render SpA", "CL", "CL", "CL",
                                                    "unverified")])
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=UNVERIFIED):
        answer = run(ec2, itype="g4dn.xlarge")  # T4: not 3A090, flagged for an unverified foreign customer
    assert answer["Instances"] and sent.operations == ["RunInstances"]
    assert audit.decisions[-1]["decision"] == "flag"


def test_shadow_mode_decides_and_records_but_never_blocks(inproc: Aws, tmp_path: Path) -> None:
    _, tee = make_gatekeeper(tmp_path, mode="shadow")
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ):
        run(ec2)
    assert sent.operations == ["RunInstances"]
    rec = tee.decisions[-1]
    assert (rec["decision"], rec["mode"], rec["account_id"]) == ("pending", "shadow", CN_HQ)
    runtime.reset()


@pytest.mark.parametrize("itype", [" P4D.24XLARGE ", "p4d.24xlarge\t", "P4d.24XLarge", "\u00a0p4d.24xlarge",
                                   "p4d .24xlarge", "P4D.24XLARGE\n"])
def test_uppercase_and_padded_types_never_slip_through(inproc: Aws, audit: TeeAudit, itype: str) -> None:
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        run(ec2, itype=itype)
    assert sent.operations == []
    assert audit.decisions[-1]["items"][0]["instance_type"] == "p4d.24xlarge"


@pytest.mark.parametrize(("service", "method", "params"), [
    ("sagemaker", "create_notebook_instance", {"NotebookInstanceName": "nb", "InstanceType": " ML.P4D.24XLARGE",
                                               "RoleArn": "arn:aws:iam::123456789012:role/r"}),
    ("ec2", "create_fleet", {"Type": "instant", "TargetCapacitySpecification": {"TotalTargetCapacity": 1},
                             "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                                                        "Overrides": [{"InstanceType": "P5.48XLARGE "}]}]}),
    ("batch", "create_compute_environment", {"computeEnvironmentName": "ce", "type": "MANAGED",
                                             "computeResources": {"type": "EC2", "maxvCpus": 96,
                                                                  "instanceTypes": [" P4D "], "subnets": []}}),
    ("ec2", "create_fleet", {"Type": "instant", "TargetCapacitySpecification": {"TotalTargetCapacity": 1},
                             "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                                                        "Overrides": [{"InstanceRequirements": {
                                                            "VCpuCount": {"Min": 1}, "MemoryMiB": {"Min": 1},
                                                            "AcceleratorNames": [" A100 "]}}]}]}),
])
def test_case_and_padding_tricks_on_other_paths(inproc: Aws, audit: TeeAudit, service: str, method: str,
                                                params: dict[str, Any]) -> None:
    sent = Sent()
    client = inproc.protected(service, sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        getattr(client, method)(**params)
    assert sent.operations == []


def test_the_callers_own_account_from_sts(inproc: Aws, gk: Gatekeeper, audit: TeeAudit) -> None:
    # No acting_for: the subject is the caller's account (moto's STS answers 123456789012).
    gk.store.profiles.put_profiles([CustomerProfile("aws", MOTO_ACCOUNT, "Caller Co.", "SG", "CN", "CN",
                                                    "verified")])
    ec2 = inproc.protected("ec2")
    with pytest.raises(ExportLicensePending):
        run(ec2)
    rec = audit.decisions[-1]
    assert rec["account_id"] == MOTO_ACCOUNT and rec["principal"].startswith(f"arn:aws:sts::{MOTO_ACCOUNT}:")
    # acting_for for another cloud does not name the AWS subject.
    with gatekeeper.acting_for(provider="azure", account_id="11111111-1111-1111-1111-111111111111"), \
            pytest.raises(ExportLicensePending):
        run(ec2)
    assert audit.decisions[-1]["account_id"] == MOTO_ACCOUNT


def test_acting_for_records_the_provider_principal_too(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = inproc.protected("ec2")
    with gatekeeper.acting_for(provider="aws", account_id=US):
        run(ec2)
    rec = audit.decisions[-1]
    assert rec["account_id"] == US and rec["principal"].startswith("arn:aws:sts::123456789012:")


def test_plain_calls_never_touch_sts_the_store_or_the_audit_log(inproc: Aws, audit: TeeAudit,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sts(*_: Any, **__: Any) -> Any:
        raise ResolutionError("STS is unreachable")

    monkeypatch.setattr(_resolver.RESOLVER, "identity", no_sts)
    gk = runtime.current()
    monkeypatch.setattr(gk.store.profiles, "get_profile", lambda *a: pytest.fail("store read on the hot path"))
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    calls = _resolver.RESOLVER.calls
    run(ec2, itype=PLAIN, count=3)
    assert sent.operations == ["RunInstances"] and audit.records == [] and _resolver.RESOLVER.calls == calls
    # The same broken STS fails an accelerated call closed, naming why.
    monkeypatch.undo()
    monkeypatch.setattr(_resolver.RESOLVER, "identity", no_sts)
    with pytest.raises(ExportControlDenied) as info:
        run(ec2)
    assert "caller's account is unknown" in str(info.value) and "STS is unreachable" in str(info.value)
    assert audit.decisions[-1]["decision"] == "deny"


def test_record_all_records_plain_calls_with_the_callers_account(inproc: Aws, tmp_path: Path) -> None:
    _, tee = make_gatekeeper(tmp_path, audit={"record_all": True})
    ec2 = inproc.protected("ec2")
    run(ec2, itype=PLAIN)
    assert [(d["decision"], d["account_id"]) for d in tee.decisions] == [("allow", MOTO_ACCOUNT)]
    runtime.reset()


def test_dry_run_is_decided_but_not_recorded(inproc: Aws, audit: TeeAudit) -> None:
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending) as info:
        run(ec2, DryRun=True)
    assert info.value.case_id is None and audit.records == [] and sent.operations == []
    with gatekeeper.acting_for(provider="aws", account_id=US), pytest.raises(ClientError) as allowed:
        run(ec2, DryRun=True)
    assert allowed.value.response["Error"]["Code"] == "DryRunOperation"  # AWS's (moto's) own answer


def test_a_translation_bug_fails_closed_and_is_recorded(inproc: Aws, audit: TeeAudit,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("table bug")

    monkeypatch.setattr(_handler, "translate", broken)
    monkeypatch.setattr(_handler, "translate_quick", broken)
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with pytest.raises(ExportControlDenied) as info:
        run(ec2, itype=PLAIN)
    assert "table bug" in str(info.value) and sent.operations == []
    assert audit.decisions[-1]["decision"] == "deny"


def test_no_usable_configuration_fails_closed(inproc: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "gatekeeper.toml"
    bad.write_text('mode = "enforce"\non_error = "sometimes"\n', encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(bad))
    runtime.reset()
    sent = Sent()
    ec2 = inproc.protected("ec2", sent)
    with pytest.raises(ExportControlDenied) as info:
        run(ec2, itype=PLAIN)
    assert "on_error" in str(info.value) and info.value.decision is None and sent.operations == []
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_many_threads_share_one_client(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = inproc.protected("ec2")
    plan = [(CN_HQ, GPU, "pending"), (US, GPU, "allow"), (CN_HQ, PLAIN, "allow"), (IRAN, "g5.xlarge", "deny")] * 4
    results: dict[int, str] = {}
    start = threading.Barrier(len(plan))

    def worker(i: int, account: str, itype: str) -> None:
        start.wait()
        with gatekeeper.acting_for(provider="aws", account_id=account):
            try:
                run(ec2, itype=itype)
                results[i] = "allow"
            except ExportControlError as err:
                results[i] = err.response["Gatekeeper"]["decision"]
            except Exception as err:
                results[i] = f"error {err!r}"

    threads = [threading.Thread(target=worker, args=(i, a, t)) for i, (a, t, _) in enumerate(plan)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert results == {i: expected for i, (_, _, expected) in enumerate(plan)}
    # Every accelerated call was recorded once, under its own customer.
    accelerated = [(a, e) for a, t, e in plan if t != PLAIN]
    got = sorted((d["account_id"], d["decision"]) for d in audit.decisions)
    assert got == sorted(accelerated)
