"""The AWS provider spec: every AWS call that can provision accelerated compute, as data.

``SPEC`` (a :class:`gatekeeper.providers.ProviderSpec`) holds the rows of ``operations``; the SDK
adapter (``gatekeeper.aws``), the CloudTrail hook, ``gatekeeper hooks test``, the deploy template's
EventBridge rule and docs/aws.md all read it. ``fetches`` says how each indirection is read,
``vocabulary`` how the catalog's chips map onto InstanceRequirements and Batch keywords.

Reading the rows against parameters or an event is ``gatekeeper.providers.aws.translate`` (imported
on first use: it needs the catalog). This module imports no SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatekeeper.providers._paths import Mode
from gatekeeper.providers._spec import Operation, ProviderSpec, lower_camel
from gatekeeper.providers.aws.fetches import FETCHES
from gatekeeper.providers.aws.operations import EVENT_SOURCES, OPERATIONS, SERVICE_IDS

# CloudTrail: lowerCamel members, read case-insensitively; one-element XML lists become bare
# objects and EC2's lists sit in ``{"items": [...]}`` (``item`` inside the newer calls' wrappers).
EVENT_MODE = Mode(ignore_case=True, bare_lists=True, list_wrappers=("items", "item"))

SPEC = ProviderSpec("aws", OPERATIONS, casing=lower_camel, event_mode=EVENT_MODE, kinds=frozenset(FETCHES))

BY_NAME: Mapping[tuple[str, str], Operation] = SPEC.by_key


def event_pattern() -> dict[str, Any]:
    """The EventBridge pattern of the covered API calls (what deploy/aws/template.yaml must match)."""
    audited = [op for op in OPERATIONS if op.audit is not None]
    return {
        "source": sorted({EVENT_SOURCES[op.audit.source] for op in audited if op.audit is not None}),
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": sorted({op.audit.source for op in audited if op.audit is not None}),
            "eventName": sorted({(op.audit.name or op.name) for op in audited if op.audit is not None}),
            # A failed call provisioned nothing.
            "errorCode": [{"exists": False}],
        },
    }


__all__ = ["BY_NAME", "EVENT_MODE", "EVENT_SOURCES", "FETCHES", "OPERATIONS", "SERVICE_IDS", "SPEC", "event_pattern"]
