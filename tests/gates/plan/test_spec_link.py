"""Every Terraform resource type the gate reads is decided by a row of its cloud's provider spec: the
operation that creates the same thing through an SDK. A type that maps to no spec operation fails here."""

from __future__ import annotations

import botocore.session
import pytest

from gatekeeper.gates.guardrails import aws
from gatekeeper.gates.guardrails._specs import provider_spec, spec_operations
from gatekeeper.gates.plan import RESOURCE_TYPES

TYPES = sorted(RESOURCE_TYPES)


@pytest.mark.parametrize("rtype", TYPES)
def test_resource_type_maps_to_a_spec_operation(rtype: str) -> None:
    row = RESOURCE_TYPES[rtype]
    spec = provider_spec(row.provider)
    if spec is None:
        pytest.skip(f"no {row.provider} provider spec in this tree yet")
    assert spec.operation(*row.operation) is not None, (
        f"{rtype} maps to {row.operation}, which the {row.provider} spec does not list")


def test_aws_spec_is_present() -> None:
    # the AWS spec is merged here: the AWS rows above are really checked, not skipped
    assert provider_spec("aws") is not None
    assert any(RESOURCE_TYPES[t].provider == "aws" for t in TYPES)


def test_the_guardrail_actions_are_the_spec_operations_under_their_iam_prefixes() -> None:
    ops = spec_operations("aws")
    covered, uncovered = aws.actions_by_key(ops)
    assert {a for acts in covered.values() for a in acts} | set(uncovered) == {aws.iam_action(s, o) for s, o in ops}
    session = botocore.session.get_session()
    for service in {s for s, _ in ops}:
        model = session.get_service_model(service)
        signing = model.metadata.get("signingName") or model.endpoint_prefix
        assert aws.IAM_PREFIXES.get(service, service) == signing, service
