"""Delivery off the caller's path: a queue, one worker thread, retries with backoff, failures recorded.

``submit`` only puts a job on a bounded queue (it never waits, never raises); the worker builds the
notifications (store reads happen there, not on the provisioning call), drops those already told
(deadline and licence reminders are told once per key: each is claimed first, in the state store's
processed-event markers where there is a store, so that replicas sharing it tell it once), and sends
each on every channel, retrying a failed channel ``retries`` times with exponential backoff. A
channel that still fails is recorded (``notification.failed`` in the audit log, through the
``record`` callable the notifier is given) and logged; the other channels are unaffected.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from gatekeeper._log import get_logger
from gatekeeper.notify.events import Notification
from gatekeeper.notify.senders import Sender
from gatekeeper.notify.settings import NotifyConfig

log = get_logger("gatekeeper.notify")

Job = Callable[[], Iterable[Notification | None]]
Record = Callable[[str, str, dict[str, Any]], Any]
ONCE_KINDS = ("case.deadline", "licence.expiring", "licence.low")
QUEUE_SIZE = 10_000


def _wake() -> list[Notification | None]:
    return []


# A reminder being told is claimed for this long: a replica that dies mid-delivery leaves the key to
# another after it (longer than every channel's retries with their backoff).
CLAIM_SECONDS = 3600.0
# A told reminder is remembered this long: longer than any case stays open or licence runs.
KEEP_SECONDS = 400 * 24 * 3600.0
MARKER_PREFIX = "notify:"


class Told(Protocol):
    """Which reminders were told: ``claim`` a key before telling it (False: told, or being told,
    already), ``done`` once it was."""

    def claim(self, key: str, at: str) -> bool: ...

    def done(self, key: str, outcome: str) -> None: ...

    def close(self) -> None: ...


class SharedKeys:
    """Reminder keys in the state store's processed-event markers (``notify:<key>``), shared by every
    process and machine on the same store: one conditional write claims a key.

    ``open_markers`` is called on first use (in the notifier's worker, never on a provisioning call);
    a key listed in ``legacy`` (the JSON file of an earlier version) counts as told.
    """

    def __init__(self, open_markers: Callable[[], Any], legacy: SentKeys | None = None) -> None:
        self._open, self._markers, self.legacy = open_markers, None, legacy
        self._lock = threading.Lock()

    @property
    def markers(self) -> Any:
        with self._lock:
            if self._markers is None:
                self._markers = self._open()
            return self._markers

    def claim(self, key: str, at: str) -> bool:
        if self.legacy is not None and key in self.legacy:
            return False
        return bool(self.markers.claim_event(MARKER_PREFIX + key, lease_seconds=CLAIM_SECONDS))

    def done(self, key: str, outcome: str) -> None:
        self.markers.complete_event(MARKER_PREFIX + key, outcome, keep_seconds=KEEP_SECONDS)

    def close(self) -> None:
        with self._lock:
            if self._markers is not None:
                self._markers.close()
                self._markers = None


class SentKeys:
    """The keys of reminders already told, in a JSON file (written atomically): one machine only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._keys: dict[str, str] = {}
        if path is not None and path.exists():
            try:
                self._keys = dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:  # unreadable: remind again rather than stay silent
                log.warning("notify.state_unreadable", path=str(path), error=str(exc))

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def claim(self, key: str, at: str) -> bool:
        if key in self._keys:
            return False
        self.add(key, at)
        return True

    def done(self, key: str, outcome: str) -> None:
        pass

    def close(self) -> None:
        pass

    def add(self, key: str, at: str) -> None:
        self._keys[key] = at
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._keys, indent=0), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("notify.state_unwritable", path=str(self.path), error=str(exc))


class Notifier:
    def __init__(self, cfg: NotifyConfig, senders: list[Sender], *, record: Record | None = None,
                 state_path: Path | None = None, told: Told | None = None) -> None:
        self.cfg, self.senders, self.record = cfg, senders, record
        self.sent: Told = told if told is not None else SentKeys(state_path)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[Job] = queue.Queue(QUEUE_SIZE)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- the caller's side: never blocks --------------------------------------------------------
    def submit(self, job: Job) -> bool:
        """Queue ``job`` (it returns the notifications to send); False if the queue is full or closed."""
        if self._stop.is_set():
            return False
        self._ensure_worker()
        with self._idle:
            self._busy += 1
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
            self.dropped += 1
            log.error("notify.queue_full", size=QUEUE_SIZE)
            return False
        return True

    def notify(self, *notifications: Notification) -> bool:
        return self.submit(lambda: notifications)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job is done (delivered or recorded as failed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the worker."""
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_wake)  # end the worker's wait now
            self._thread.join(timeout=1.0)
        self.sent.close()

    # -- the worker ------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gatekeeper-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=5.0)
            except queue.Empty:
                continue
            if job is _wake:
                continue
            try:
                for n in job():
                    if n is not None and n.kind in self.cfg.events:
                        self._deliver(n)
            except Exception as exc:  # a job that cannot even build its notification (store down)
                self.failed += 1
                log.error("notify.job_failed", error=f"{type(exc).__name__}: {exc}")
                self._record_failure("(building the notification)", None, exc)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, n: Notification) -> None:
        once = n.kind in ONCE_KINDS
        if once:
            try:
                if not self.sent.claim(n.key, n.at.isoformat()):
                    return
            except Exception as exc:  # the store is down: not told now; the next scan claims it again
                self.failed += 1
                log.error("notify.claim_failed", kind=n.kind, key=n.key, error=f"{type(exc).__name__}: {exc}")
                self._record_failure("(claiming the reminder)", n, exc)
                return
        failed = 0
        for sender in self.senders:
            error = self._with_retries(sender, n)
            if error is None:
                self.delivered += 1
                log.info("notify.sent", kind=n.kind, key=n.key, channel=sender.name)
            else:
                failed += 1
                self.failed += 1
                log.error("notify.failed", kind=n.kind, key=n.key, channel=sender.name, error=str(error))
                self._record_failure(sender.name, n, error)
        if once:
            # A channel that failed every retry is recorded above; the reminder is not told again.
            outcome = f"failed on {failed} of {len(self.senders)} channels" if failed else "sent"
            try:
                self.sent.done(n.key, outcome)
            except Exception as exc:  # the claim then lapses after CLAIM_SECONDS and it is told again
                log.error("notify.mark_failed", kind=n.kind, key=n.key, error=f"{type(exc).__name__}: {exc}")

    def _with_retries(self, sender: Sender, n: Notification) -> BaseException | None:
        delay = self.cfg.backoff_seconds
        for attempt in range(self.cfg.retries + 1):
            try:
                sender.send(n)
                return None
            except Exception as exc:
                last: BaseException = exc
                if attempt == self.cfg.retries:
                    break
                log.warning("notify.retry", channel=sender.name, attempt=attempt + 1, error=str(exc))
                if self._stop.wait(min(delay, self.cfg.backoff_max_seconds)):
                    break
                delay *= 2
        return last

    def _record_failure(self, channel: str, n: Notification | None, error: BaseException) -> None:
        if self.record is None:
            return
        data: dict[str, Any] = {"channel": channel, "error": f"{type(error).__name__}: {error}",
                                "attempts": self.cfg.retries + 1}
        if n is not None:
            data.update({"notification_id": n.id, "kind": n.kind, "key": n.key, "subject": n.subject})
        try:
            self.record("notification.failed", "gatekeeper-notify", data)
        except Exception as exc:  # the log line above is then the only trace
            log.error("notify.failure_unrecorded", error=str(exc))
