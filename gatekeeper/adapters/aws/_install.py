"""``install()``, ``uninstall()`` and ``protect()``: putting the handler on botocore's event system.

Two botocore extension points, both public:

- ``creating-client-class.<service>`` (botocore's documented hook for customising client classes,
  the one boto3 itself uses to add methods): for the provisioning services only, gatekeeper adds a
  small mixin to the class's bases whose ``__init__`` registers the client's ``ClientGuard`` on that
  client's own event emitter, for the table's operations only.
- ``botocore.handlers.BUILTIN_HANDLERS``: the list of handlers every new botocore ``Session``
  registers on itself when it is created. ``install()`` appends the ``creating-client-class`` handler
  there, so every session created afterwards (boto3's included: a ``boto3.Session`` wraps a new
  botocore session) protects every client it creates. botocore has no "session created" event, and
  this list is the mechanism moto uses for the same purpose (``moto.core.models`` appends its
  ``before-send`` stub to it); nothing private is patched. boto3's default session, if it exists
  already, is protected as well, since ``boto3.client(...)`` creates its clients.

``protect(x)`` registers directly: on a client (its guard, now), on a botocore or boto3 session (the
``creating-client-class`` handler, for the clients it creates from then on), or on a boto3 resource
(its client). Clients already created from a session are protected one by one.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import Any, TypeVar

import botocore.handlers
import botocore.session
from botocore.client import BaseClient

from gatekeeper.adapters.aws._handler import INSTALL, ClientGuard
from gatekeeper.context import Subject, subject
from gatekeeper.providers.aws import OPERATIONS, SERVICE_IDS

_lock = threading.RLock()
_guards: weakref.WeakKeyDictionary[Any, ClientGuard] = weakref.WeakKeyDictionary()
_OPS_BY_SERVICE: dict[str, tuple[str, ...]] = {
    s: tuple(op.name for op in OPERATIONS if op.service == s) for s in SERVICE_IDS
}
_SERVICES_BY_ID = {sid: s for s, sid in SERVICE_IDS.items()}
T = TypeVar("T")


def _guard(client: Any, *, explicit: bool) -> ClientGuard | None:
    """Register (once) the guard of ``client`` for its service's provisioning operations."""
    model = client.meta.service_model
    service = model.service_name
    if service not in _OPS_BY_SERVICE:
        return None  # no provisioning operations: nothing to guard
    with _lock:
        guard = _guards.get(client)
        if guard is None:
            guard = ClientGuard(client, service)
            sid = model.service_id.hyphenize()
            for name in _OPS_BY_SERVICE[service]:
                event = f"before-parameter-build.{sid}.{name}"
                # Last: handlers the caller registers on the same event (which may rewrite the
                # parameters) run first, so the guard decides the parameters that will be sent.
                client.meta.events.register_last(event, guard, unique_id=f"gatekeeper.aws:{event}")
                # Last again: what is finally sent is checked against what was decided.
                sent = f"before-call.{sid}.{name}"
                client.meta.events.register_last(sent, guard.sent, unique_id=f"gatekeeper.aws:{sent}")
                # The record of an allowed decision durable before the request is signed and sent
                # (handlers of this, the most specific name, run before botocore's signer).
                built = f"request-created.{sid}.{name}"
                client.meta.events.register_last(built, guard.durable, unique_id=f"gatekeeper.aws:{built}")
            _guards[client] = guard
        if explicit:
            guard.explicit = True
        else:
            guard.via_install = True
        return guard


class _InstalledClient:
    """Mixed into client classes created by sessions made after install()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _guard(self, explicit=False)


class _ProtectedClient:
    """Mixed into client classes created by a session passed to protect()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _guard(self, explicit=True)


def _inject_installed(base_classes: list[type], **_: Any) -> None:
    if _InstalledClient not in base_classes:
        base_classes.insert(0, _InstalledClient)


def _inject_protected(base_classes: list[type], **_: Any) -> None:
    if _ProtectedClient not in base_classes:
        base_classes.insert(0, _ProtectedClient)


def _events_of(session: Any) -> Any:
    """The event emitter of a botocore Session or a boto3 Session (its public ``events``)."""
    if isinstance(session, botocore.session.Session):
        return session.get_component("event_emitter")
    return session.events


def _register(events: Any, handler: Any) -> None:
    for sid in SERVICE_IDS.values():
        events.register(f"creating-client-class.{sid}", handler,
                        unique_id=f"gatekeeper.aws:{handler.__name__}:{sid}")


def _unregister(events: Any, handler: Any) -> None:
    for sid in SERVICE_IDS.values():
        events.unregister(f"creating-client-class.{sid}", handler, unique_id=f"gatekeeper.aws:{handler.__name__}:{sid}")
        events.unregister(f"creating-client-class.{sid}", handler)


def _builtin_entries() -> list[tuple[str, Any]]:
    return [(f"creating-client-class.{sid}", _inject_installed) for sid in SERVICE_IDS.values()]


def _default_boto3_session() -> Any:
    boto3 = sys.modules.get("boto3")  # not imported: there is no default session to protect
    return getattr(boto3, "DEFAULT_SESSION", None) if boto3 is not None else None


def install() -> None:
    """Protect every botocore/boto3 session and client created from now on (and boto3's default session).

    Idempotent. Clients that exist already are protected with :func:`protect`.
    """
    with _lock:
        present = set(map(tuple, botocore.handlers.BUILTIN_HANDLERS))
        for entry in _builtin_entries():
            if entry not in present:
                botocore.handlers.BUILTIN_HANDLERS.append(entry)
        INSTALL.installed = True
        default = _default_boto3_session()
        if default is not None:
            _register(_events_of(default), _inject_installed)


def uninstall() -> None:
    """Undo :func:`install`: new sessions are no longer protected, and clients protected through
    install() stop being checked. Clients and sessions passed to :func:`protect` stay protected."""
    with _lock:
        entries = _builtin_entries()
        botocore.handlers.BUILTIN_HANDLERS[:] = [e for e in botocore.handlers.BUILTIN_HANDLERS
                                                 if tuple(e) not in entries]
        INSTALL.installed = False
        default = _default_boto3_session()
        if default is not None:
            _unregister(_events_of(default), _inject_installed)


def installed() -> bool:
    return INSTALL.installed


def protect(target: T, *, acting_for: str | None = None) -> T:
    """Protect an existing client, session (boto3 or botocore) or boto3 resource; returns it.

    ``acting_for`` (a customer's account id) binds a client or resource to that customer: every call
    it makes is decided for them, also from worker threads, where a context's ``acting_for`` does not
    reach. A client of a service without provisioning operations (S3, STS) is returned unchanged.
    """
    bound = subject("aws", acting_for) if acting_for is not None else None
    if isinstance(target, BaseClient):
        _bind(_guard(target, explicit=True), bound)
        return target
    if isinstance(target, botocore.session.Session) or (
            type(target).__module__.startswith("boto3") and hasattr(target, "events")
            and hasattr(target, "client")):
        if bound is not None:
            raise TypeError("gatekeeper.aws.protect: acting_for binds a client or a resource, not a session "
                            "(protect each client made from it)")
        with _lock:
            _register(_events_of(target), _inject_protected)
        return target
    client = getattr(getattr(target, "meta", None), "client", None)
    if isinstance(client, BaseClient):  # a boto3 resource (ServiceResource or a resource object)
        _bind(_guard(client, explicit=True), bound)
        return target
    raise TypeError(f"gatekeeper.aws.protect: expected a botocore/boto3 client, session or resource, "
                    f"not {type(target).__name__}")


def _bind(guard: ClientGuard | None, bound: Subject | None) -> None:
    if guard is not None and bound is not None:
        if guard.subject is not None and guard.subject != bound:
            raise ValueError(f"gatekeeper.aws.protect: the client is bound to {guard.subject.account_id} already")
        guard.subject = bound


def is_protected(client: Any) -> bool:
    """True when every provisioning operation of ``client`` is checked (vacuously for S3, STS ...)."""
    target = getattr(getattr(client, "meta", None), "client", None) if not isinstance(client, BaseClient) else client
    if not isinstance(target, BaseClient):
        raise TypeError(f"expected a botocore/boto3 client or resource, not {type(client).__name__}")
    if target.meta.service_model.service_name not in _OPS_BY_SERVICE:
        return True
    guard = _guards.get(target)
    return guard is not None and guard.active


def strip(session: botocore.session.Session) -> None:
    """Remove gatekeeper's session handlers from ``session`` (the resolver's own, read-only session)."""
    events = _events_of(session)
    _unregister(events, _inject_installed)
    _unregister(events, _inject_protected)
