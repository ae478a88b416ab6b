"""Every provisioning path of issue 3, in-process (mock_aws) and over HTTP (ThreadedMotoServer).

For each path (``cases.CASES``) and each transport, three calls through a protected boto3 client:

- ``cn_hq``: acting for a customer headquartered in China, naming an A100 through the path: the call
  raises ``ExportLicensePending`` (a ClientError, HTTP 403, with the case id), nothing leaves the
  process (botocore's ``before-send`` never fires for it) and the decision is in the audit log.
- ``us_verified``: acting for a verified US customer, the same A100 request is sent on.
- ``plain``: no customer named (the caller's own account), a plain type through the same path, sent.

Where moto does not implement the operation (``Case.moto`` is False), the blocked call is the proof
that gatekeeper stops it before it leaves the process, and the allowed calls are asserted as sent
(moto then answers that it does not implement them, which is not gatekeeper's answer).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

import gatekeeper
from gatekeeper.adapters.aws import ExportControlError, ExportLicensePending
from tests.adapters.aws.cases import CASES, Case
from tests.adapters.aws.conftest import CN_HQ, US, Aws, Sent, TeeAudit, record


def _target(aws: Aws, case: Case, sent: Sent) -> tuple[Any, str]:
    """The bound method to call and the API operation name it sends."""
    if case.resource:
        resource = gatekeeper.aws.protect(aws.session().resource(case.service, endpoint_url=aws.endpoint))
        record(resource.meta.client, sent)
        return getattr(resource, case.method), "RunInstances"
    client = aws.protected(case.service, sent)
    return getattr(client, case.method), client.meta.method_to_api_mapping[case.method]


def _call_allowed(case: Case, call: Any, params: dict[str, Any], accelerated: bool) -> None:
    """Call; gatekeeper must not block. moto refusing what it does not implement is tolerated."""
    try:
        call(**params)
    except ExportControlError as err:
        pytest.fail(f"gatekeeper blocked an allowed call: {err}")
    except Exception:
        # moto in-process may fail in any way on parameters it does not support; over HTTP that is a 500.
        if case.moto and accelerated not in case.moto_rejects:
            raise


@pytest.mark.parametrize("who", ["cn_hq", "us_verified", "plain"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_path(case: Case, who: str, aws: Aws, audit: TeeAudit) -> None:
    ctx = case.setup(aws) if case.setup else {}
    sent = Sent()
    call, operation = _target(aws, case, sent)

    if who == "cn_hq":
        with gatekeeper.acting_for(provider="aws", account_id=CN_HQ), \
                pytest.raises(ExportLicensePending) as info:
            call(**case.params(ctx, True))
        err = info.value
        assert isinstance(err, ClientError)
        assert err.response["Error"]["Code"] == "ExportLicensePending"
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        case_id = err.response["Gatekeeper"]["case_id"]
        assert case_id and case_id in str(err)
        assert err.response["Gatekeeper"]["decision"] == "pending"
        assert operation not in sent.operations, "the blocked call left the process"
        record_ = audit.decisions[-1]
        assert (record_["operation"], record_["account_id"], record_["decision"]) == (operation, CN_HQ, "pending")
        assert record_["decision_id"] == err.response["Gatekeeper"]["decision_id"]
        assert "3A090.a" in record_["export_classes"]
    elif who == "us_verified":
        with gatekeeper.acting_for(provider="aws", account_id=US):
            _call_allowed(case, call, case.params(ctx, True), True)
        assert operation in sent.operations
        record_ = audit.decisions[-1]
        assert (record_["operation"], record_["account_id"]) == (operation, US)
        # allow, or flag where what the path admits includes accelerators with unconfirmed figures.
        assert record_["decision"] in ("allow", "flag")
        assert record_["principal"].startswith("arn:aws:")
    else:
        before = len(audit.decisions)
        _call_allowed(case, call, case.params(ctx, False), False)
        assert operation in sent.operations
        assert len(audit.decisions) == before  # plain compute is not recorded (audit.record_all is off)
