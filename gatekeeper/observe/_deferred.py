"""Metrics of the two-step path: ``append_deferred`` tickets, and the decisions that wait for them.

The AWS adapter decides through ``Gatekeeper.decide_deferred`` (the record is written, and a ticket
returned) and ``Gatekeeper.confirm(decision, ticket)`` (the ticket's ``wait()``: the record is
durable, or the decision becomes the deny that carries the error). ``instrument`` wraps the log's
``append_deferred`` so that every ticket it hands out is an ``ObservedTicket``, and the two runtime
methods so that each decision is counted once, as enforced.

The audit metrics of one two-step append:

* ``gatekeeper_audit_backlog`` goes up at the write and down once, when the ticket's ``wait()``
  ends (returns or raises), or at the write when the record is durable already (it joined a batch
  in flight);
* ``gatekeeper_audit_append_seconds`` observes the time from the write to the end of a successful
  ``wait()`` (write-to-durable, as an ``append`` observes it);
* ``gatekeeper_audit_append_errors_total`` counts a write that fails and a ``wait()`` that fails.

A ticket never waited for (boto3 rejected the call after the decision, so ``request-created`` never
came) is settled once it is dropped (garbage collected) and the log has settled its record: the
log's ``Pending.done`` is set by the next sync of the log (another append, ``close()``). Until then
the record is what the gauge says: written, not yet durable. Its sync's time is not known (nobody
waited), so it adds nothing to the histogram; a failed sync counts an error. A ticket of another
kind (no ``done``) is counted settled when it is dropped. Dropped tickets are looked at (``sweep``)
at the next two-step append and at every scrape: the sweep is a collector registered ahead of the
metrics, so a scrape shows what it settled.

Decisions (``gatekeeper_decisions_total`` and the rest of ``observe_decision``): a decision that
``decide_deferred`` returns without a ticket is final and counted at once. One with a ticket is
counted at ``confirm``, with the decision ``confirm`` returns: what the adapter enforced, the deny
carrying the audit error when the sync failed (then also in ``gatekeeper_decision_errors_total``),
never both. Its latency is the decision's own time, measured at ``decide_deferred`` (the write
included, not the wait, which the audit histogram measures; between them botocore serialises the
call). A decision whose ticket is dropped without a ``confirm`` (boto3 rejected the call) is
counted as decided, at the sweep that finds the drop: nothing changed it, and its record is in the
log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from gatekeeper.model import Decision

if TYPE_CHECKING:
    from gatekeeper.observe.prometheus import GatekeeperMetrics

_clock = time.perf_counter


class _State:
    """One two-step append, shared by its ticket and, once the ticket is dropped, by the sweep
    (which must not hold the ticket itself)."""

    __slots__ = ("decision", "inner", "settled", "t0")

    def __init__(self, inner: Any, t0: float) -> None:
        self.inner = inner
        self.t0 = t0
        self.settled = False
        self.decision: tuple[Decision, float] | None = None  # held for confirm: (decision, latency)


class ObservedTicket:
    """The log's ticket, with the audit metrics of its ``wait()``; other attributes are the log's
    ticket's (``record``, ``seq``, ``done``, ``error``)."""

    __slots__ = ("_s", "_watch")

    def __init__(self, state: _State, watch: DeferredAppends) -> None:
        self._s = state
        self._watch = watch

    def wait(self) -> None:
        s = self._s
        try:
            s.inner.wait()
        except Exception:
            self._watch.settle(s, failed=True)
            raise
        except BaseException:
            # An interrupt while waiting: the log takes the sync's result all the same (and then
            # ``done`` is set) before raising it; otherwise the record is still in flight.
            if getattr(s.inner, "done", False):
                self._watch.settle(s, failed=getattr(s.inner, "error", None) is not None)
            raise
        self._watch.settle(s, failed=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never the log's private parts (nor ours before __init__ ran)
            raise AttributeError(name)
        return getattr(self._s.inner, name)

    def __del__(self) -> None:
        # Only a deque append here: a finaliser may run inside any code of this thread, including a
        # metric's own (non-reentrant) lock, so the metrics are updated by the next sweep. A ticket
        # waited for and confirmed (the usual one) leaves nothing to do: both flags are final once
        # the ticket can be dropped.
        try:
            s = self._s
            if not s.settled or s.decision is not None:
                self._watch.dropped.append(s)
        except AttributeError:  # not fully made (an exception in __init__)
            pass


class DeferredAppends:
    """The two-step appends of one instrumented runtime (see the module docstring)."""

    def __init__(self, m: GatekeeperMetrics) -> None:
        self._m = m
        self._lock = threading.Lock()
        self.dropped: deque[_State] = deque()  # tickets dropped, not looked at yet
        self._orphans: list[_State] = []  # dropped unwaited, and the log has not settled the record yet

    # -- the log's append_deferred ----------------------------------------------------------------
    def wrap(self, call: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], ObservedTicket]:
        m = self._m

        def append_deferred(record: dict[str, Any]) -> ObservedTicket:
            if self.dropped or self._orphans:
                self.sweep()
            m.audit_backlog.inc()
            t0 = _clock()
            try:
                inner = call(record)
            except Exception:
                m.audit_errors.inc()
                m.audit_backlog.dec()
                raise
            except BaseException:
                m.audit_backlog.dec()
                raise
            s = _State(inner, t0)
            if getattr(inner, "done", False) and getattr(inner, "error", None) is None:
                self.settle(s, failed=False)  # joined a batch in flight: durable at the write
            return ObservedTicket(s, self)

        return append_deferred

    def settle(self, s: _State, *, failed: bool, timed: bool = True) -> None:
        """The record of ``s`` is durable (or failed): once per append, whoever sees it first."""
        with self._lock:
            if s.settled:
                return
            s.settled = True
        m = self._m
        m.audit_backlog.dec()
        if failed:
            m.audit_errors.inc()
        elif timed:
            m.audit_seconds.observe(_clock() - s.t0)

    # -- decisions waiting for their ticket -----------------------------------------------------------
    def hold(self, ticket: object, decision: Decision, seconds: float) -> bool:
        """Keep ``decision`` to be counted at ``confirm`` (True), if ``ticket`` is one of ours."""
        if not isinstance(ticket, ObservedTicket):
            return False
        ticket._s.decision = (decision, seconds)
        return True

    def claim(self, ticket: object) -> tuple[Decision, float] | None:
        """The decision held for ``ticket``, once (None when there is none, or it was counted)."""
        if not isinstance(ticket, ObservedTicket):
            return None
        return self._take(ticket._s)

    def _take(self, s: _State) -> tuple[Decision, float] | None:
        with self._lock:
            held, s.decision = s.decision, None
        return held

    # -- tickets dropped without a wait -----------------------------------------------------------------
    def sweep(self) -> None:
        """Count what the dropped tickets leave: their decisions never confirmed, and their records
        once the log has settled them."""
        m = self._m
        while True:
            try:
                s = self.dropped.popleft()
            except IndexError:
                break
            held = self._take(s)
            if held is not None:  # never confirmed: counted as decided
                m.observe_decision(*held)
            if not s.settled:
                with self._lock:
                    self._orphans.append(s)
        if not self._orphans:
            return
        ready: list[_State] = []
        with self._lock:
            waiting: list[_State] = []
            for s in self._orphans:  # one reading of each flag: the log may set it meanwhile
                (ready if getattr(s.inner, "done", True) else waiting).append(s)
            self._orphans = waiting
        for s in ready:
            self.settle(s, failed=getattr(s.inner, "error", None) is not None, timed=False)

    # -- a collector that yields nothing: registered first, it sweeps before the metrics are read ----------
    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        self.sweep()
        return iter(())
