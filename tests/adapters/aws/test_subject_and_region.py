"""Section 3 of issue 13: the customer in worker threads, provider accounts, unknown regions, and
what is finally sent checked against what was decided."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import gatekeeper
import gatekeeper.aws
from gatekeeper import runtime
from gatekeeper.adapters.aws import ExportControlDenied, ExportControlError, ExportLicensePending
from gatekeeper.context import carry
from gatekeeper.engine import PROVIDER_ACCOUNT_RULE, UNKNOWN_REGION_RULE
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI
from tests.adapters.aws.conftest import CN_HQ, MOTO_ACCOUNT, US, Aws, Sent, make_gatekeeper

GPU, PLAIN = "p4d.24xlarge", "t3.micro"


def run(client: Any, itype: str = GPU) -> Any:
    return client.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=1)


def test_import_gatekeeper_aws_and_from_import_work() -> None:
    from gatekeeper.aws import install, protect

    assert gatekeeper.aws.install is install and callable(protect)


def test_a_bound_client_decides_for_its_customer_in_worker_threads(inproc: Aws, gk: Gatekeeper) -> None:
    sent = Sent()
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=CN_HQ)
    from tests.adapters.aws.conftest import record

    record(ec2, sent)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run, ec2) for _ in range(2)]
    for f in futures:
        assert isinstance(f.exception(), ExportLicensePending)
    assert sent.operations == []
    # a plain type from the same bound client goes through
    assert run(ec2, PLAIN)["Instances"]


def test_carry_takes_acting_for_into_a_worker(inproc: Aws, gk: Gatekeeper) -> None:
    ec2 = inproc.protected("ec2")
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), ThreadPoolExecutor(1) as pool:
        lost = pool.submit(run, ec2).exception()  # the plain submit: the context does not follow
        carried = pool.submit(carry(run), ec2).exception()
    assert isinstance(carried, ExportLicensePending) and isinstance(lost, ExportControlError)
    assert carried.decision is not None and lost.decision is not None
    assert carried.decision.request.account_id == CN_HQ
    assert lost.decision.request.account_id == MOTO_ACCOUNT  # the plain submit lost the customer


def test_binding_refuses_two_customers_and_sessions(inproc: Aws, gk: Gatekeeper) -> None:
    ec2 = gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=US)
    with pytest.raises(ValueError, match="bound to"):
        gatekeeper.aws.protect(ec2, acting_for=CN_HQ)
    with pytest.raises(TypeError, match="not a session"):
        gatekeeper.aws.protect(inproc.session(), acting_for=US)
    with pytest.raises(ValueError):
        gatekeeper.aws.protect(inproc.raw("ec2"), acting_for=" ")
    # a context naming another customer than the binding is not guessed between: fail closed
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportControlError):
        run(ec2)


@pytest.fixture
def provider_gk(tmp_path: Path) -> Iterator[Gatekeeper]:
    (tmp_path / "cfg").mkdir()
    g, _ = make_gatekeeper(tmp_path / "cfg", aws={"provider_accounts": [MOTO_ACCOUNT]})
    yield g
    runtime.reset()


def test_a_provider_account_with_no_customer_named_is_denied(inproc: Aws, provider_gk: Gatekeeper) -> None:
    ec2 = inproc.protected("ec2")
    with pytest.raises(ExportControlDenied) as caught:
        run(ec2)
    assert caught.value.decision is not None
    assert PROVIDER_ACCOUNT_RULE in [m.rule_id for m in caught.value.decision.matches]
    assert "acting_for" in str(caught.value) and "provider_accounts" in str(caught.value)
    with gatekeeper.acting_for(provider="aws", account_id=US):
        assert run(ec2)["Instances"]  # the customer named: decided for them
    assert run(ec2, PLAIN)["Instances"]  # plain compute is not held up


@pytest.mark.parametrize("region", ["cn-nort-1", "xx-fake-9", "us-east-9"])
def test_an_unknown_region_holds_controlled_compute_with_the_reason(gk: Gatekeeper, region: str) -> None:
    from gatekeeper.model import ComputeItem, ProvisioningRequest

    d = gk.decide(ProvisioningRequest("aws", US, (ComputeItem("p5.48xlarge", 1),), region=region), dry_run=True)
    assert d.outcome >= gatekeeper.Outcome.PENDING
    match = next(m for m in d.matches if m.rule_id == UNKNOWN_REGION_RULE)
    assert region in match.reason
    plain = gk.decide(ProvisioningRequest("aws", US, (ComputeItem(PLAIN, 1),), region=region), dry_run=True)
    assert plain.outcome == gatekeeper.Outcome.ALLOW


def test_the_closest_known_region_is_suggested(gk: Gatekeeper) -> None:
    from gatekeeper.model import ComputeItem, ProvisioningRequest

    for provider, typo, item in (("aws", "us-esat-1", "p5.48xlarge"), ("gcp", "us-centrl1", "a3-highgpu-8g"),
                                 ("azure", "westeurop", "Standard_ND96isr_H100_v5")):
        d = gk.decide(ProvisioningRequest(provider, US, (ComputeItem(item, 1),), region=typo), dry_run=True)
        reason = next(m.reason for m in d.matches if m.rule_id == UNKNOWN_REGION_RULE)
        assert "closest known region is" in reason, (provider, reason)


def test_a_rewrite_after_the_decision_is_decided_again_before_sending(inproc: Aws, gk: Gatekeeper) -> None:
    sent = Sent()
    ec2 = inproc.protected("ec2")

    def rewrite(params: dict[str, Any], **_: Any) -> None:
        params["InstanceType"] = GPU  # after gatekeeper decided the t3.micro

    ec2.meta.events.register_last("before-parameter-build.ec2.RunInstances", rewrite)
    from tests.adapters.aws.conftest import record

    record(ec2, sent)
    with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), pytest.raises(ExportLicensePending):
        run(ec2, PLAIN)
    assert sent.operations == []


@pytest.mark.parametrize("count", [1e308, "9" * 5000, 10 ** 30, float("inf"), -5])
def test_absurd_counts_are_capped_or_ignored_and_the_record_is_written(inproc: Aws, gk: Gatekeeper,
                                                                       count: Any) -> None:
    from gatekeeper.model import ComputeItem, ProvisioningRequest
    from gatekeeper.providers._paths import MAX_COUNT
    from gatekeeper.providers.aws import BY_NAME
    from gatekeeper.providers.aws._read import translate

    t = translate(BY_NAME[("ec2", "RunInstances")], {"InstanceType": GPU, "MaxCount": count, "MinCount": 1}, None,
                  gk.catalog)
    assert 1 <= t.items[0].count <= MAX_COUNT
    d = gk.decide(ProvisioningRequest("aws", CN_HQ, t.items, region="us-east-1"))
    assert d.outcome >= gatekeeper.Outcome.PENDING and d.decision_id  # recorded: serialisable
    assert isinstance(t.items[0], ComputeItem)
