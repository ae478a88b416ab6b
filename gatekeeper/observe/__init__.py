"""Observability: Prometheus metrics and OpenTelemetry spans for a Gatekeeper runtime.

``instrument(gk)`` wraps one runtime's ``decide`` (and the AWS adapter's two-step ``decide_deferred``
+ ``confirm``), ``record_event`` and audit appends (one-step and two-step; nothing else
changes; a runtime that is not instrumented pays nothing) and returns its metrics, which
``gatekeeper serve`` exposes at ``/metrics``. Spans are made only when an OpenTelemetry tracer
provider is configured when ``instrument`` runs; otherwise the wrapper does not touch OpenTelemetry.
The Lambda hook reports through CloudWatch embedded metrics instead (``gatekeeper.hooks.emf``).
"""

from __future__ import annotations

from gatekeeper.observe.prometheus import GatekeeperMetrics, instrument

__all__ = ["GatekeeperMetrics", "instrument"]
