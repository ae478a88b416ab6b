"""Interception for google-cloud-compute and google-cloud-container clients: ``protect`` and ``install``.

The hook is the transport's table of wrapped methods. Every generated (GAPIC) client method ends in
``rpc = self._transport._wrapped_methods[self._transport.<method>]; rpc(request, ...)`` with the
request already built as a proto-plus message, whatever the transport (REST for Compute Engine,
gRPC or REST for GKE) and whether the caller used the sync client or the async one (which wraps a
sync client's transport). Replacing the entries for the provisioning methods with a guard that
decides first is therefore one point per method that sees a typed request and covers every
transport. The alternatives are narrower: REST interceptors are public but fixed when the transport
is built and do not exist for gRPC; patching client methods misses ``*_unary`` twins and callers
that use the transport directly.

``protect(client)`` guards an existing client (idempotent); ``install()`` wraps the client classes'
``__init__`` so every client created afterwards is protected; ``uninstall()`` undoes that (clients
already protected stay protected).

# INVARIANT: a blocked call raises before the original method runs: nothing is sent.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from gatekeeper._log import get_logger
from gatekeeper.adapters._explain import unavailable_decision
from gatekeeper.adapters.gcp._errors import ExportControlPermissionDenied
from gatekeeper.adapters.gcp._resolve import TransportResolver
from gatekeeper.context import current_subject
from gatekeeper.model import Decision, ProvisioningRequest
from gatekeeper.providers.gcp._read import location_of, project_of, region_of, translate
from gatekeeper.providers.gcp.operations import OPERATIONS, GcpOperation
from gatekeeper.service import Gatekeeper

log = get_logger("gatekeeper.gcp")

_MARK = "__gatekeeper_guard__"


def _client_class(op: GcpOperation) -> type[Any] | None:
    try:
        module = importlib.import_module(op.module)
    except ImportError:  # google-cloud-container, -tpu, -aiplatform are optional
        return None
    cls = getattr(module, op.client, None)
    return cls if isinstance(cls, type) else None


def _as_dict(message: Any) -> Mapping[str, Any]:
    to_dict = getattr(type(message), "to_dict", None)
    if to_dict is None:
        raise TypeError(f"{type(message).__name__} is not a proto-plus message")
    # Enums by name (Vertex's NVIDIA_TESLA_A100), as Cloud Audit Logs record them too.
    result: Mapping[str, Any] = to_dict(message, preserving_proto_field_name=True, use_integers_for_enums=False)
    return result


class _Guard:
    """Decides one operation's calls on one transport, then calls the original wrapped method."""

    def __init__(self, op: GcpOperation, transport: Any, original: Callable[..., Any],
                 gatekeeper: Gatekeeper | None) -> None:
        self.op, self.transport, self.original, self._gatekeeper = op, transport, original, gatekeeper
        setattr(self, _MARK, True)
        functools.update_wrapper(self, original)

    def gatekeeper(self) -> Gatekeeper:
        if self._gatekeeper is not None:
            return self._gatekeeper
        from gatekeeper.runtime import current

        return current()

    def decide(self, message: Any) -> Decision | None:
        subject = current_subject("gcp")
        account = subject.account_id if subject else None
        req: Mapping[str, Any] = {}
        try:
            req = _as_dict(message)
            request = translate(self.op, req, TransportResolver(self.transport), subject=account)
        except Exception as exc:  # a translation bug must deny, not let the call through
            log.error("gcp.translate_failed", operation=self.op.operation, error=repr(exc), exc_info=True)
            request = ProvisioningRequest(
                provider="gcp", account_id=account or project_of(req), items=(),
                region=region_of(location_of(req)), service=self.op.service, operation=self.op.operation,
                unresolved=(f"gatekeeper could not translate {self.op.operation}: {type(exc).__name__}: {exc}",))
        if request is None:
            return None
        try:
            gk = self.gatekeeper()
        except Exception as exc:  # no runtime (bad configuration): fail closed with the SDK's error
            log.error("gcp.runtime_unavailable", operation=self.op.operation, error=repr(exc))
            return unavailable_decision("gcp", request.account_id, self.op.operation, exc)
        return gk.decide(request)

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        decision = self.decide(request)
        if decision is not None and decision.blocks:
            raise ExportControlPermissionDenied(decision)
        return self.original(request, *args, **kwargs)


def _operations_for(client: Any) -> list[GcpOperation]:
    return [op for op in OPERATIONS if (cls := _client_class(op)) is not None and isinstance(client, cls)]


def protect(client: Any, gatekeeper: Gatekeeper | None = None) -> Any:
    """Guard the provisioning methods of an existing client (sync, or async via its inner client);
    returns the client. Idempotent. Raises TypeError for a client gatekeeper does not know."""
    target: Any = client if _operations_for(client) else getattr(client, "_client", None)
    ops = _operations_for(target) if target is not None else []
    if not ops or target is None:
        raise TypeError(f"gatekeeper.gcp cannot protect a {type(client).__name__}; it protects "
                        f"{sorted({op.client for op in OPERATIONS})} (and their async clients)")
    transport = target.transport
    table: dict[Any, Callable[..., Any]] = transport._wrapped_methods
    for op in ops:
        key = getattr(transport, op.method)
        original = table.get(key)
        if original is None:
            raise TypeError(f"{type(target).__name__} transport has no wrapped method {op.method!r}")
        if getattr(original, _MARK, False):
            continue
        table[key] = _Guard(op, transport, original, gatekeeper)
    return client


_lock = threading.Lock()
_originals: dict[type[Any], Callable[..., None]] = {}


def install(gatekeeper: Gatekeeper | None = None) -> None:
    """Protect every Compute Engine / GKE client created from now on. Idempotent."""
    with _lock:
        for cls in {c for op in OPERATIONS if (c := _client_class(op)) is not None}:
            if cls in _originals:
                continue
            original = cls.__init__

            def wrapped(self: Any, *args: Any, __original: Callable[..., None] = original, **kwargs: Any) -> None:
                __original(self, *args, **kwargs)
                protect(self, gatekeeper)

            functools.update_wrapper(wrapped, original)
            _originals[cls] = original
            cls.__init__ = wrapped


def uninstall() -> None:
    """Stop protecting clients created from now on (those already protected stay protected)."""
    with _lock:
        for cls, original in _originals.items():
            cls.__init__ = original
        _originals.clear()


def installed() -> bool:
    return bool(_originals)
