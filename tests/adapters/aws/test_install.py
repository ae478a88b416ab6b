"""install(), uninstall(), protect(): which sessions and clients are covered, and what others pay."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import pytest

import gatekeeper
from gatekeeper.adapters.aws import ExportLicensePending, _resolver
from gatekeeper.adapters.aws._handler import ClientGuard
from gatekeeper.adapters.aws._resolver import caller_of
from tests.adapters.aws.cases import AMI, GPU, PLAIN
from tests.adapters.aws.conftest import CN_HQ, REGION, Aws, Sent, TeeAudit, new_session, record


def blocked(client: Any) -> bool:
    sent = Sent()
    record(client, sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ):
        try:
            client.run_instances(ImageId=AMI, InstanceType=GPU, MinCount=1, MaxCount=1)
        except ExportLicensePending:
            assert sent.operations == []
            return True
    assert sent.operations == ["RunInstances"]
    return False


def test_sessions_created_after_install_are_protected(inproc: Aws, audit: TeeAudit) -> None:
    before = new_session().client("ec2")  # made before install(): not covered
    gatekeeper.aws.install()
    assert gatekeeper.aws.installed()
    assert blocked(boto3.Session(region_name=REGION).client("ec2"))
    assert blocked(botocore.session.get_session().create_client("ec2", region_name=REGION))
    assert blocked(boto3.client("ec2", region_name=REGION))  # the default session, made after install()
    assert not gatekeeper.aws.is_protected(before) and not blocked(before)
    assert blocked(gatekeeper.aws.protect(before))


def test_the_existing_default_session_is_covered_by_install(inproc: Aws, audit: TeeAudit) -> None:
    boto3.setup_default_session(region_name=REGION)  # exists before install()
    gatekeeper.aws.install()
    assert blocked(boto3.client("ec2"))
    assert blocked(boto3.resource("ec2").meta.client)


def test_uninstall_stops_install_but_not_protect(inproc: Aws, audit: TeeAudit) -> None:
    gatekeeper.aws.install()
    gatekeeper.aws.install()  # idempotent
    via_install = boto3.Session(region_name=REGION).client("ec2")
    explicit = gatekeeper.aws.protect(boto3.Session(region_name=REGION).client("ec2"))
    gatekeeper.aws.uninstall()
    assert not gatekeeper.aws.installed()
    assert not blocked(via_install) and not gatekeeper.aws.is_protected(via_install)
    assert blocked(explicit)
    assert not blocked(boto3.Session(region_name=REGION).client("ec2"))
    gatekeeper.aws.install()  # a client made under an earlier install() is covered again
    assert blocked(via_install)


def test_protect_a_session_covers_its_future_clients(inproc: Aws, audit: TeeAudit) -> None:
    session = new_session()
    early = session.client("ec2")
    assert gatekeeper.aws.protect(session) is session
    assert blocked(session.client("ec2"))
    assert not blocked(early)  # clients made before protect(session) are protected one by one
    core = botocore.session.Session()
    gatekeeper.aws.protect(core)
    assert blocked(core.create_client("ec2", region_name=REGION))


def test_protect_a_resource(inproc: Aws, audit: TeeAudit) -> None:
    ec2 = gatekeeper.aws.protect(new_session().resource("ec2"))
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        ec2.create_instances(ImageId=AMI, InstanceType=GPU, MinCount=1, MaxCount=1)
    assert ec2.create_instances(ImageId=AMI, InstanceType=PLAIN, MinCount=1, MaxCount=1)


def test_protect_rejects_what_it_cannot_protect() -> None:
    with pytest.raises(TypeError, match="expected a botocore/boto3 client"):
        gatekeeper.aws.protect(object())
    with pytest.raises(TypeError):
        gatekeeper.aws.is_protected("ec2")


def test_services_without_provisioning_calls_pay_nothing(inproc: Aws, audit: TeeAudit) -> None:
    gatekeeper.aws.install()
    s3 = boto3.Session(region_name=REGION).client("s3")
    assert gatekeeper.aws.protect(s3) is s3 and gatekeeper.aws.is_protected(s3)
    assert "gatekeeper" not in repr(type(s3).__mro__)
    ec2 = boto3.Session(region_name=REGION).client("ec2")
    model = ec2.meta.service_model.operation_model("DescribeInstances")
    responses = ec2.meta.events.emit("before-parameter-build.ec2.DescribeInstances", params={}, model=model,
                                     context={})
    assert not any(isinstance(handler, ClientGuard) for handler, _ in responses)
    run = ec2.meta.service_model.operation_model("RunInstances")
    responses = ec2.meta.events.emit("before-parameter-build.ec2.RunInstances",
                                     params={"InstanceType": PLAIN, "MaxCount": 1}, model=run, context={})
    assert sum(isinstance(handler, ClientGuard) for handler, _ in responses) == 1


def test_install_and_protect_decide_once(inproc: Aws, audit: TeeAudit) -> None:
    gatekeeper.aws.install()
    ec2 = gatekeeper.aws.protect(boto3.Session(region_name=REGION).client("ec2"))
    gatekeeper.aws.protect(ec2)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        ec2.run_instances(ImageId=AMI, InstanceType=GPU, MinCount=1, MaxCount=1)
    assert len(audit.decisions) == 1


def test_gatekeepers_own_reads_carry_no_hooks(inproc: Aws, audit: TeeAudit) -> None:
    gatekeeper.aws.install()
    ec2 = boto3.Session(region_name=REGION).client("ec2")
    assert gatekeeper.aws.is_protected(ec2)
    reader = _resolver.Resolver().client(caller_of(ec2), "ec2")  # its session made under install()
    assert reader is not ec2 and not gatekeeper.aws.is_protected(reader)
    assert "gatekeeper" not in repr(type(reader).__mro__)
