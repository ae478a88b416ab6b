"""``install()``: every azure-mgmt client created afterwards carries the gatekeeper policy.

The hook is ``azure.mgmt.core.ARMPipelineClient.__init__`` (and its async twin). Every track-2
azure-mgmt-* client builds exactly one of them in its own ``__init__``, and the generated modules
import the class itself (``from azure.mgmt.core import ARMPipelineClient``), so wrapping the class's
``__init__`` reaches compute, container service and any other management client, of every version,
without touching one of them. The wrapper only adds the policy to the documented
``per_call_policies`` keyword; azure-core builds the pipeline as it always does. azure-core has no
process-wide policy registry, so this is the least invasive hook there is.

Clients created before ``install()`` are not changed: pass ``per_call_policies=[gatekeeper.azure.policy()]``
to them, or create them again.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

from azure.core.pipeline.policies import AsyncHTTPPolicy, HTTPPolicy
from azure.mgmt.core import ARMPipelineClient, AsyncARMPipelineClient

from gatekeeper.adapters.azure._policy import AsyncGatekeeperPolicy, GatekeeperPolicy
from gatekeeper.service import Gatekeeper

_lock = threading.Lock()
_originals: dict[type[Any], Callable[..., None]] = {}


def _with_policy(kwargs: dict[str, Any], make: Callable[[], HTTPPolicy | AsyncHTTPPolicy],  # type: ignore[type-arg]
                 kind: type[Any]) -> None:
    given = kwargs.get("per_call_policies")
    if given is None:
        policies: list[Any] = []
    elif isinstance(given, Iterable) and not isinstance(given, str | bytes):
        policies = list(given)
    else:
        policies = [given]
    if not any(isinstance(p, kind) for p in policies):
        policies.insert(0, make())
    kwargs["per_call_policies"] = policies


def install(gatekeeper: Gatekeeper | None = None) -> None:
    """Protect every azure-mgmt client (sync and aio) created from now on. Idempotent."""
    targets: tuple[tuple[type[Any], Callable[[], Any], type[Any]], ...] = (
        (ARMPipelineClient, lambda: GatekeeperPolicy(gatekeeper), GatekeeperPolicy),
        (AsyncARMPipelineClient, lambda: AsyncGatekeeperPolicy(gatekeeper), AsyncGatekeeperPolicy),
    )
    with _lock:
        for cls, make, kind in targets:
            if cls in _originals:
                continue
            original = cls.__init__

            def wrapped(self: Any, base_url: str, *args: Any, __original: Callable[..., None] = original,
                        __make: Callable[[], Any] = make, __kind: type[Any] = kind, **kwargs: Any) -> None:
                _with_policy(kwargs, __make, __kind)
                __original(self, base_url, *args, **kwargs)

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
