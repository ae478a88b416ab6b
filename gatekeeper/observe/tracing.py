"""OpenTelemetry spans around decisions, only where the application configured a tracer provider.

With the API's default (proxy / no-op) provider ``tracer()`` returns None and the decision wrapper
takes its plain branch: no span objects, no attribute dicts, nothing on the hot path.

A decision is a span ``gatekeeper.decide`` (``decide``, or the AWS adapter's ``decide_deferred``).
The adapter's second step, ``confirm`` (the wait for that decision's record to be durable), is a
span ``gatekeeper.confirm`` with the decision as enforced: the same one, or the deny that carries
the audit error when the record's sync failed.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.model import Decision, ProvisioningRequest

SPAN_NAME = "gatekeeper.decide"
# The AWS adapter's second step (``Gatekeeper.confirm``): the wait for the decision's record to be
# durable, with the decision enforced (a deny carrying the error when the sync failed).
CONFIRM_SPAN_NAME = "gatekeeper.confirm"


def tracer() -> Any | None:
    """The tracer to use, or None when no SDK tracer provider is set (or opentelemetry is absent)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    from gatekeeper import __version__

    return trace.get_tracer("gatekeeper", __version__)


def request_attributes(request: ProvisioningRequest, dry_run: bool) -> dict[str, Any]:
    return {"gatekeeper.provider": request.provider, "gatekeeper.account_id": request.account_id,
            "gatekeeper.region": request.region, "gatekeeper.operation": f"{request.service} {request.operation}",
            "gatekeeper.source": request.source, "gatekeeper.dry_run": dry_run}


def decision_attributes(d: Decision) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gatekeeper.decision": d.outcome.label, "gatekeeper.decision_id": d.decision_id,
                             "gatekeeper.mode": d.mode, "gatekeeper.accelerated": d.accelerated,
                             "gatekeeper.rules": [f"{m.pack_id}/{m.rule_id}" for m in d.matches]}
    if d.case_id:
        attrs["gatekeeper.case_id"] = d.case_id
    if d.licence_id:
        attrs["gatekeeper.licence_id"] = d.licence_id
    if d.error:
        attrs["gatekeeper.error"] = d.error
    return attrs
