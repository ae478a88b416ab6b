"""Prometheus metrics of one runtime, in their own registry (several runtimes in one process never clash).

    gatekeeper_decisions_total{outcome,provider,mode}       decisions made (dry runs included)
    gatekeeper_decision_errors_total{provider}              decisions that failed closed (or open) on an error
    gatekeeper_rule_matches_total{pack,rule,decision}       rules that matched
    gatekeeper_decision_seconds{provider}                   decision latency (histogram)
    gatekeeper_audit_append_seconds                         time to a durable audit record or batch (histogram)
    gatekeeper_audit_backlog                                audit appends in progress (written, not yet durable)
    gatekeeper_audit_append_errors_total                    audit appends that failed
    gatekeeper_events_total{kind}                           workflow / remediation events recorded
    gatekeeper_hook_errors_total{hook}                      hook.error events (unreadable events, failures)
    gatekeeper_open_cases                                   cases waiting for a reviewer (read at scrape)
    gatekeeper_notifications_total{result}                  notifications delivered / failed (at scrape)

What is wrapped: ``decide``, and the two-step ``decide_deferred`` + ``confirm`` of the AWS adapter;
``record_event(s)``; the audit log's ``append``, ``append_many`` and ``append_deferred``. Each
decision is counted once, as enforced: a decision ``decide_deferred`` returns with a ticket is
counted at ``confirm`` with what ``confirm`` returns (the deny carrying the audit error when the
record's sync failed), with the latency measured at ``decide_deferred``. A two-step append is in
the backlog from its write until its ticket's ``wait()`` ends; the histogram observes write to
durable. A ticket dropped without a wait (boto3 rejected the call after the decision) is settled
when the log has settled its record, and its decision counted as decided. The details, and why,
are in ``gatekeeper.observe._deferred``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gatekeeper._log import get_logger
from gatekeeper.model import Decision, ProvisioningRequest
from gatekeeper.observe import tracing
from gatekeeper.observe._deferred import DeferredAppends

if TYPE_CHECKING:
    from gatekeeper.audit._ticket import Ticket
    from gatekeeper.service import AuditSink, Gatekeeper

log = get_logger("gatekeeper.observe")
# Decisions range from about a microsecond (plain types) to a store round trip and an fsync.
LATENCY_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5)
_INSTRUMENTED: weakref.WeakKeyDictionary[Any, GatekeeperMetrics] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _StateCollector(Collector):
    """Values read from the runtime when scraped: open cases, notification counts."""

    def __init__(self, gk: Gatekeeper) -> None:
        self._gk = weakref.ref(gk)

    def collect(self) -> Iterator[Any]:
        gk = self._gk()
        if gk is None:
            return
        open_cases = GaugeMetricFamily("gatekeeper_open_cases", "Cases waiting for a reviewer.")
        try:
            open_cases.add_metric([], len(gk.store.cases.list_cases("open")))
        except Exception as exc:  # a scrape must not fail because the store is down; the gauge is absent
            log.warning("metrics.open_cases_failed", error=str(exc))
        else:
            yield open_cases
        from gatekeeper import notify

        notifier = notify.notifier_for(gk) if gk.config.notify.enabled else None
        if notifier is not None:
            sent = CounterMetricFamily("gatekeeper_notifications", "Notifications by result.", labels=["result"])
            for result, n in (("delivered", notifier.delivered), ("failed", notifier.failed),
                              ("dropped", notifier.dropped)):
                sent.add_metric([result], n)
            yield sent


class GatekeeperMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # First: a scrape settles the dropped two-step tickets before the metrics below are read.
        self.deferred = DeferredAppends(self)
        r.register(self.deferred)
        self.decisions = Counter("gatekeeper_decisions", "Decisions made.", ["outcome", "provider", "mode"],
                                 registry=r)
        self.decision_errors = Counter("gatekeeper_decision_errors", "Decisions made on an error (fail closed).",
                                       ["provider"], registry=r)
        self.rule_matches = Counter("gatekeeper_rule_matches", "Rules that matched.", ["pack", "rule", "decision"],
                                    registry=r)
        self.decision_seconds = Histogram("gatekeeper_decision_seconds", "Decision latency.", ["provider"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.audit_seconds = Histogram("gatekeeper_audit_append_seconds",
                                       "Time to a durable audit record (or batch of records).",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.audit_backlog = Gauge("gatekeeper_audit_backlog",
                                   "Audit appends in progress (written, not yet durable).", registry=r)
        self.audit_errors = Counter("gatekeeper_audit_append_errors", "Audit appends that failed.", registry=r)
        self.events = Counter("gatekeeper_events", "Workflow and remediation events recorded.", ["kind"],
                              registry=r)
        self.hook_errors = Counter("gatekeeper_hook_errors", "Hook errors recorded (hook.error events).", ["hook"],
                                   registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def observe_decision(self, d: Decision, seconds: float) -> None:
        provider = d.request.provider
        self.decisions.labels(d.outcome.label, provider, d.mode).inc()
        self.decision_seconds.labels(provider).observe(seconds)
        if d.error:
            self.decision_errors.labels(provider).inc()
        for m in d.matches:
            self.rule_matches.labels(m.pack_id, m.rule_id, m.outcome.label).inc()

    def observe_event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.labels(kind).inc()
        if kind == "hook.error":
            self.hook_errors.labels(str(data.get("hook") or "unknown")).inc()


def instrument(gk: Gatekeeper, registry: CollectorRegistry | None = None) -> GatekeeperMetrics:
    """Measure ``gk`` from now on (idempotent: a second call returns the same metrics)."""
    with _LOCK:
        found = _INSTRUMENTED.get(gk)
        if found is not None:
            return found
        m = GatekeeperMetrics(registry)
        m.registry.register(_StateCollector(gk))
        _wrap_decide(gk, m)
        _wrap_events(gk, m)
        _wrap_audit(gk, m)
        _INSTRUMENTED[gk] = m
        return m


def _wrap_decide(gk: Gatekeeper, m: GatekeeperMetrics) -> None:
    inner = gk.decide
    tracer = tracing.tracer()
    clock = time.perf_counter

    def decide(request: ProvisioningRequest, *, dry_run: bool = False) -> Decision:
        t0 = clock()
        if tracer is None:
            d = inner(request, dry_run=dry_run)
        else:
            with tracer.start_as_current_span(tracing.SPAN_NAME,
                                              attributes=tracing.request_attributes(request, dry_run)) as span:
                d = inner(request, dry_run=dry_run)
                span.set_attributes(tracing.decision_attributes(d))
        m.observe_decision(d, clock() - t0)
        return d

    gk.decide = decide  # type: ignore[method-assign]
    inner_deferred, inner_confirm, deferred = gk.decide_deferred, gk.confirm, m.deferred

    def decide_deferred(request: ProvisioningRequest, *, dry_run: bool = False) -> tuple[Decision, Ticket | None]:
        t0 = clock()
        if tracer is None:
            d, ticket = inner_deferred(request, dry_run=dry_run)
        else:
            with tracer.start_as_current_span(tracing.SPAN_NAME,
                                              attributes=tracing.request_attributes(request, dry_run)) as span:
                d, ticket = inner_deferred(request, dry_run=dry_run)
                span.set_attributes(tracing.decision_attributes(d))
        seconds = clock() - t0
        # With a ticket the decision is final only at confirm (a failed sync makes it a deny).
        if ticket is None or not deferred.hold(ticket, d, seconds):
            m.observe_decision(d, seconds)
        return d, ticket

    def confirm(decision: Decision, ticket: Ticket | None) -> Decision:
        if ticket is None:
            return inner_confirm(decision, ticket)
        if tracer is None:
            out = inner_confirm(decision, ticket)
        else:
            with tracer.start_as_current_span(tracing.CONFIRM_SPAN_NAME) as span:
                out = inner_confirm(decision, ticket)
                span.set_attributes(tracing.decision_attributes(out))
        found = deferred.claim(ticket)
        if found is not None:
            m.observe_decision(out, found[1])
        return out

    gk.decide_deferred = decide_deferred  # type: ignore[method-assign]
    gk.confirm = confirm  # type: ignore[method-assign]


def _wrap_events(gk: Gatekeeper, m: GatekeeperMetrics) -> None:
    inner = gk.record_event

    def record_event(kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
        out = inner(kind, actor, data)
        m.observe_event(kind, data)
        return out

    gk.record_event = record_event  # type: ignore[method-assign]
    inner_many = gk.record_events

    def record_events(events: Sequence[tuple[str, str, dict[str, Any]]], *,
                      then: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = inner_many(events, then=then)
        for kind, _, data in events:
            m.observe_event(kind, data)
        return out

    gk.record_events = record_events  # type: ignore[method-assign]


def _wrap_audit(gk: Gatekeeper, m: GatekeeperMetrics) -> None:
    """Measure the appends of the audit log open now and of every log opened after ``close_audit``."""
    gk.on_audit_open(lambda audit: _observe_appends(audit, m))


def _observe_appends(audit: AuditSink, m: GatekeeperMetrics) -> None:
    clock = time.perf_counter

    def observed(call: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``call`` (one append, or a batch of them: one observation) with the audit metrics."""
        def timed(arg: Any) -> Any:
            m.audit_backlog.inc()
            t0 = clock()
            try:
                out = call(arg)
            except Exception:
                m.audit_errors.inc()
                raise
            finally:
                m.audit_backlog.dec()
            m.audit_seconds.observe(clock() - t0)
            return out
        return timed

    audit.append = observed(audit.append)  # type: ignore[method-assign,assignment]
    many = getattr(audit, "append_many", None)
    if many is not None:
        audit.append_many = observed(many)  # type: ignore[attr-defined]
    deferred = getattr(audit, "append_deferred", None)
    if deferred is not None:  # the two-step append: durable at its ticket's wait (see _deferred)
        audit.append_deferred = m.deferred.wrap(deferred)  # type: ignore[attr-defined]
