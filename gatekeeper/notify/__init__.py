"""Notifications to reviewers: a new pending case, a case near its deadline, a licence near its expiry
or nearly drawn down, by signed webhook, e-mail (SMTP) and SNS. Configured in ``[notify]``
(``gatekeeper.notify.settings``); off unless a channel is configured.

- ``on_workflow_event(gk, kind, data)``: called by the workflow after each recorded state change;
  queues a job and returns at once (a new case; a draw that leaves a licence low).
- ``scan(gk)``: queues the reminders due now (deadlines, expiries, low licences); ``gatekeeper serve``
  runs it every ``scan_interval_seconds``, ``gatekeeper notify scan`` once (for cron).
- ``notifier_for(gk)``: the one notifier of a runtime (None when notifications are off).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the package is imported by gatekeeper.config: nothing heavy at import time
    from gatekeeper.notify.events import Notification
    from gatekeeper.notify.notifier import Notifier


class Runtime(Protocol):
    """What notifications use of the runtime (``gatekeeper.service.Gatekeeper`` is one), passed in."""

    @property
    def config(self) -> Any: ...
    @property
    def store(self) -> Any: ...
    def clock(self) -> datetime: ...
    def record_event(self, kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]: ...


__all__ = ["close_for", "notifier_for", "on_workflow_event", "scan", "start_reminders"]

_LOCK = threading.Lock()
_NOTIFIERS: weakref.WeakKeyDictionary[Any, Notifier] = weakref.WeakKeyDictionary()


def notifier_for(gk: Runtime) -> Notifier | None:
    cfg = gk.config.notify
    if not cfg.enabled:
        return None
    found = _NOTIFIERS.get(gk)
    if found is not None:
        return found
    with _LOCK:
        found = _NOTIFIERS.get(gk)
        if found is None:
            from gatekeeper.notify.notifier import Notifier
            from gatekeeper.notify.senders import senders

            ref = weakref.ref(gk)  # the notifier must not keep its runtime alive

            def record(kind: str, actor: str, data: dict[str, Any]) -> Any:
                owner = ref()
                return owner.record_event(kind, actor, data) if owner is not None else None

            found = Notifier(cfg, senders(cfg), record=record, told=_told(gk))
            _NOTIFIERS[gk] = found
            # A short-lived process (``gatekeeper check``) delivers what it queued before it exits.
            atexit.register(_close_at_exit, weakref.ref(found))
    return found


def _told(gk: Runtime) -> Any:
    """Which reminders were told: the state store's markers, shared by every replica on the store,
    with the keys an earlier version kept in ``state_file`` counted as told."""
    from gatekeeper.notify.notifier import SentKeys, SharedKeys

    config, ref = gk.config, weakref.ref(gk)  # the notifier must not keep its runtime alive
    legacy = config.resolve(config.notify.state_file)

    def now() -> float:  # the runtime's clock (a test's, or the wall)
        owner = ref()
        return owner.clock().timestamp() if owner is not None else time.time()

    def open_markers() -> Any:
        from gatekeeper.stores.events import open_event_markers

        return open_event_markers(config.store.url, base_dir=config.base_dir, clock=now)

    return SharedKeys(open_markers, SentKeys(legacy) if legacy.exists() else None)


def _close_at_exit(ref: weakref.ref[Notifier]) -> None:
    found = ref()
    if found is not None:
        found.close()


def close_for(gk: Runtime, timeout: float = 10.0) -> None:
    """Deliver what ``gk``'s notifier has queued (up to ``timeout``) and stop it (``Gatekeeper.close``)."""
    found = _NOTIFIERS.pop(gk, None)
    if found is not None:
        found.close(timeout)


def on_workflow_event(gk: Runtime, kind: str, data: dict[str, Any]) -> None:
    """Queue what a recorded workflow change should tell reviewers; cheap and never raises."""
    if kind not in ("case.opened", "licence.drawn", "licence.exhausted") or not gk.config.notify.enabled:
        return
    try:
        notifier = notifier_for(gk)
        if notifier is None:
            return
        from gatekeeper.notify.events import case_opened, licence_low

        cfg, now = notifier.cfg, gk.clock()
        if kind == "case.opened":
            case_id = str(data["case_id"])

            def opened() -> list[Notification | None]:
                case = gk.store.cases.get_case(case_id)
                return [case_opened(cfg, case, now)] if case is not None else []

            notifier.submit(opened)
        else:
            number = str(data["licence_number"])

            def low() -> list[Notification | None]:
                lic = gk.store.licences.get_licence(number)
                return [licence_low(cfg, lic, now)] if lic is not None else []

            notifier.submit(low)
    except Exception as exc:  # notifications never break a decision
        from gatekeeper._log import get_logger

        get_logger("gatekeeper.notify").error("notify.submit_failed", kind=kind, error=str(exc))


def scan(gk: Runtime) -> int:
    """Queue the reminders due now; the number of jobs queued (0 when notifications are off)."""
    notifier = notifier_for(gk)
    if notifier is None:
        return 0
    from gatekeeper.notify.events import due

    cfg, now = notifier.cfg, gk.clock()

    def reminders() -> list[Notification | None]:
        return list(due(cfg, gk.store.cases.list_cases("open"), gk.store.licences.list_licences(), now))

    return int(notifier.submit(reminders))


def start_reminders(gk: Runtime) -> Callable[[], None]:
    """Run ``scan(gk)`` every ``scan_interval_seconds`` in a thread (``gatekeeper serve``); returns stop()."""
    if not gk.config.notify.enabled:
        return lambda: None
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                scan(gk)
            except Exception as exc:  # a store hiccup: try again next time
                from gatekeeper._log import get_logger

                get_logger("gatekeeper.notify").error("notify.scan_failed", error=str(exc))
            if stop.wait(gk.config.notify.scan_interval_seconds):
                return

    threading.Thread(target=loop, name="gatekeeper-reminders", daemon=True).start()
    return stop.set
