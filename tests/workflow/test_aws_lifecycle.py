"""The permission lifecycle through the AWS wrapper: a protected boto3 EC2 client against moto over HTTP.

blocked (ExportLicensePending, 403, the case id in the error) -> case opened -> approved -> the same
RunInstances call goes through (and reaches EC2) -> drawn down to zero -> blocked again -> a second
licence expires -> blocked; against both stores (SQLite and DynamoDB on the same moto server).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

import gatekeeper
import gatekeeper.adapters.aws as aws
from gatekeeper import runtime
from gatekeeper.stores.testing import LocalDynamoDB
from gatekeeper.workflow import workflow_of
from tests.conftest import SAMPLE_PROFILES
from tests.stores.backends import Clock, audit_records, make_config

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CUSTOMER = "222222222222"  # Lion City AI Pte. Ltd., Singapore, ultimate parent in China


@pytest.fixture
def ec2(local_dynamodb: LocalDynamoDB, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    session = boto3.session.Session(region_name="us-east-1")
    client = aws.protect(session.client("ec2", endpoint_url=local_dynamodb.endpoint_url))
    yield client
    runtime.reset()


def _run(ec2: Any) -> Any:
    return ec2.run_instances(ImageId="ami-12c6146b", InstanceType="p4d.24xlarge", MinCount=1, MaxCount=1)


def _blocked(ec2: Any) -> Any:
    with pytest.raises(aws.ExportLicensePending) as caught:
        _run(ec2)
    err = caught.value
    assert err.response["Error"]["Code"] == "ExportLicensePending"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.case_id and err.case_id in err.response["Error"]["Message"]
    return err


def _instances(ec2: Any) -> int:
    raw = boto3.session.Session(region_name="us-east-1").client("ec2", endpoint_url=ec2.meta.endpoint_url)
    return sum(len(r["Instances"]) for r in raw.describe_instances()["Reservations"])


def test_lifecycle_through_boto3(store_url: str, tmp_path: Path, ec2: Any) -> None:
    before = _instances(ec2)  # the moto server is shared by the session's tests
    clock = Clock(START)
    gk = runtime.configure(make_config(tmp_path, store_url), clock=clock)
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    with gatekeeper.acting_for(provider="aws", account_id=CUSTOMER):
        # Blocked: nothing reaches EC2; a case is opened.
        first = _blocked(ec2)
        case = workflow_of(gk).get_case(first.case_id)
        assert case.status == "open" and case.requests[0].operation == "RunInstances"
        assert case.requests[0].service == "ec2" and case.requests[0].principal  # the caller's ARN (STS)

        # Approved by a reviewer who is not the caller.
        _, lic = workflow_of(gk).approve(first.case_id, reviewer="alice@compliance", licence_number="D-AWS-1",
                                    expires=START.date() + timedelta(days=30), quantity=16)
        assert lic is not None

        # The same call goes through twice, drawing the licence down to zero.
        for left in (8, 0):
            out = _run(ec2)
            assert out["Instances"][0]["InstanceType"] == "p4d.24xlarge"
            assert gk.store.licences.get_licence("D-AWS-1").remaining == left

        # Pending again, with a new case.
        again = _blocked(ec2)
        assert again.case_id != first.case_id
        assert "D-AWS-1" in " ".join(again.response["Gatekeeper"]["reasons"])

        # A second licence that expires: allowed on its last day, blocked the day after.
        workflow_of(gk).approve(again.case_id, reviewer="alice@compliance", licence_number="D-AWS-2",
                           expires=START.date() + timedelta(days=1), quantity=80)
        clock.advance(days=1)
        _run(ec2)
        clock.advance(days=1)
        expired = _blocked(ec2)
        assert "expired" in " ".join(expired.response["Gatekeeper"]["reasons"])

    assert _instances(ec2) - before == 3  # exactly the allowed calls reached EC2
    decisions = [r for r in audit_records(tmp_path) if r["kind"] == "decision"]
    assert [d["decision"] for d in decisions] == ["pending", "allow", "allow", "pending", "allow", "pending"]
    assert [d["licence_id"] for d in decisions if d["decision"] == "allow"] == ["D-AWS-1", "D-AWS-1", "D-AWS-2"]
