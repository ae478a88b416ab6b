"""gatekeeper for boto3/botocore: every AWS call that provisions accelerated compute is decided first.

Adopting it is one line in existing tooling::

    import gatekeeper; gatekeeper.aws.install()    # every session and client created afterwards

or, for a client or session that exists already, ``gatekeeper.aws.protect(client_or_session)``. Tooling
that provisions on a customer's behalf names the customer::

    with gatekeeper.acting_for(provider="aws", account_id="222222222222"):
        ec2.run_instances(...)

A blocked call raises ``botocore.exceptions.ClientError`` (as :class:`ExportControlDenied` or
:class:`ExportLicensePending`) with HTTP status 403 and nothing sent to AWS. See docs/aws.md.

The operations and where their parameters name compute are the AWS spec
(:mod:`gatekeeper.providers.aws`, read by ``gatekeeper.providers.aws._read``), shared with the
CloudTrail hook. Modules here: ``_resolver`` (read-only look-ups and the caller's identity),
``_handler`` (the botocore event handler), ``_install`` (registration), ``_errors`` (the ClientError raised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatekeeper.adapters.aws._errors import (
    CODE_DENIED,
    CODE_PENDING,
    ExportControlDenied,
    ExportControlError,
    ExportLicensePending,
)
from gatekeeper.adapters.aws._install import install, installed, is_protected, protect, uninstall
from gatekeeper.model import ProvisioningRequest
from gatekeeper.providers._spec import Operation
from gatekeeper.providers.aws import OPERATIONS


def operations() -> list[tuple[str, str]]:
    """The (service, operation) pairs gatekeeper decides, e.g. ``("ec2", "RunInstances")``."""
    return [(op.service, op.name) for op in OPERATIONS]


def translate(client: Any, operation: str, params: Mapping[str, Any]) -> ProvisioningRequest:
    """The request gatekeeper would decide for ``client.<operation>(**params)``, without deciding it.

    ``operation`` is the API name (``RunInstances``). References are resolved with the client's
    credentials, as for a real call. For inspecting what a call translates to (tests, debugging).
    """
    from gatekeeper import runtime
    from gatekeeper.adapters.aws._handler import build_request
    from gatekeeper.providers.aws import BY_NAME

    service = client.meta.service_model.service_name
    op = BY_NAME.get((service, operation))
    if op is None:
        raise ValueError(f"{service} {operation} is not a provisioning operation gatekeeper decides")
    return build_request(runtime.current(), client, op, params)


__all__ = [
    "CODE_DENIED",
    "CODE_PENDING",
    "ExportControlDenied",
    "ExportControlError",
    "ExportLicensePending",
    "Operation",
    "install",
    "installed",
    "is_protected",
    "operations",
    "protect",
    "translate",
    "uninstall",
]
