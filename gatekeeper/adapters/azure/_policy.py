"""The azure-core pipeline policies that decide every provisioning call before it leaves the process.

``GatekeeperPolicy`` (sync) and ``AsyncGatekeeperPolicy`` (for ``azure.mgmt.*.aio`` clients) are
``HTTPPolicy`` subclasses rather than ``SansIOHTTPPolicy`` because a scale-set PATCH of
``sku.capacity`` alone must be resolved by reading the scale set: the policy sends that GET down the
rest of the same pipeline (auth, retries, the caller's transport), so it reaches the same endpoint
with the same identity. Placed as a *per-call* policy, it runs once per SDK call, before retries
and before ARM's provider-registration policy re-sends, so one call is decided (and audited) once.

Re-entrancy: the policy marks the pipeline context of a call it has decided; a second gatekeeper
policy in the same pipeline (``per_call_policies=[policy()]`` plus ``install()``) lets it pass, and
the GETs it sends itself are never provisioning calls.

# INVARIANT: a blocked call raises before ``self.next.send``: nothing reaches the network.
# INVARIANT: any failure while translating becomes an unresolved request that the engine denies
# (fail closed); ``Gatekeeper.decide`` itself never raises.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy, HTTPPolicy
from azure.core.rest import HttpRequest

from gatekeeper._log import get_logger
from gatekeeper.adapters._explain import unavailable_decision
from gatekeeper.adapters.azure._errors import blocked_error
from gatekeeper.adapters.azure._operations import OPERATIONS, AzureOperation, Recognised, recognise
from gatekeeper.adapters.azure._translate import Fetch, FetchError, translate
from gatekeeper.context import current_subject
from gatekeeper.model import ComputeItem, Decision, ProvisioningRequest
from gatekeeper.service import Gatekeeper

log = get_logger("gatekeeper.azure")

DECIDED = "gatekeeper.decided"


def _arm_path(url: str) -> tuple[str, str]:
    """(prefix before the ARM resource id, the resource id) of a request URL, percent-decoded.

    Decoded and with repeated slashes collapsed because ARM routes ``virtualMachine%73`` and
    ``//subscriptions`` to the same resource: matching the raw text would let them slip past.
    """
    path = re.sub("/{2,}", "/", unquote(urlsplit(url).path))
    i = path.lower().find("/subscriptions/")
    return (path[:i], path[i:]) if i >= 0 else (path, "")


def _body(http_request: Any) -> Any:
    """The JSON body of the request; None when it has none or it is not JSON."""
    raw: Any = getattr(http_request, "content", None)
    if raw is None:
        raw = getattr(http_request, "body", None)
    if hasattr(raw, "read"):
        # A stream the caller passed as the body: read it, then rewind it for the transport.
        if not (hasattr(raw, "seek") and hasattr(raw, "tell")):
            return None
        pos = raw.tell()
        data = raw.read()
        raw.seek(pos)
        raw = data
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if isinstance(raw, Mapping):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _Decider:
    """What both policies share: recognise, translate, decide."""

    def __init__(self, gatekeeper: Gatekeeper | None, operations: tuple[AzureOperation, ...]) -> None:
        self._gatekeeper = gatekeeper
        self.operations = operations

    def gatekeeper(self) -> Gatekeeper:
        # Looked up per call (not at construction) so that clients created before configure() obey it.
        if self._gatekeeper is not None:
            return self._gatekeeper
        from gatekeeper.runtime import current

        return current()

    def recognise(self, http_request: Any) -> tuple[Recognised, str] | None:
        prefix, path = _arm_path(str(http_request.url))
        if not path:
            return None
        rec = recognise(str(http_request.method), path, self.operations)
        return (rec, prefix) if rec is not None else None

    def decide(self, rec: Recognised, http_request: Any, fetch: Fetch) -> Decision | None:
        subject = current_subject("azure")
        try:
            gk = self.gatekeeper()
        except Exception as exc:  # no runtime (bad configuration): fail closed with the SDK's error
            log.error("azure.runtime_unavailable", path=rec.path, error=repr(exc))
            account = (subject.account_id if subject else rec.params.get("subscription", "")).lower()
            return unavailable_decision("azure", account, rec.operation.methods[rec.method], exc)

        def accelerated(size: str) -> bool:
            return gk.catalog.classify_item("azure", ComputeItem(instance_type=size)).accelerated

        try:
            request = translate(rec, _body(http_request), fetch=fetch, accelerated=accelerated,
                                subject=subject.account_id if subject else None)
        except Exception as exc:  # a translation bug must deny, not let the call through
            log.error("azure.translate_failed", path=rec.path, error=repr(exc), exc_info=True)
            account = (subject.account_id if subject else rec.params.get("subscription", "")).lower()
            request = ProvisioningRequest(
                provider="azure", account_id=account, items=(), service=rec.operation.service,
                operation=rec.operation.methods[rec.method], resource_ids=(rec.path,),
                unresolved=(f"gatekeeper could not translate {rec.method} {rec.path}: {type(exc).__name__}: {exc}",))
        if request is None:
            return None
        return gk.decide(request)


def _sub_context(context: PipelineContext) -> PipelineContext:
    # The caller's per-call options (timeouts, proxies, enforce_https) apply to the resolving GET too;
    # "stream" does not: the GET's body is read at once.
    options = {k: v for k, v in context.options.items() if k != "stream"}
    sub = PipelineContext(context.transport, **options)
    sub[DECIDED] = True
    return sub


def _fetch_request(http_request: Any, prefix: str, path: str) -> HttpRequest:
    parts = urlsplit(str(http_request.url))
    url = urlunsplit(parts._replace(path=prefix + path))
    return HttpRequest("GET", url, headers={"Accept": "application/json"})


def _fetched(path: str, response: Any) -> Mapping[str, Any] | None:
    status = response.status_code
    if status == 404:
        return None
    if status != 200:
        raise FetchError(f"reading {path} answered HTTP {status}")
    try:
        body = json.loads(response.text())
    except ValueError as exc:
        raise FetchError(f"reading {path} returned no JSON: {exc}") from exc
    if not isinstance(body, Mapping):
        raise FetchError(f"reading {path} returned {type(body).__name__}, not an object")
    return body


class GatekeeperPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Decides ARM compute calls; raises ``HttpResponseError`` (403) for blocked ones.

    ``gatekeeper``: the runtime to use (default: ``gatekeeper.current()`` at call time).
    """

    def __init__(self, gatekeeper: Gatekeeper | None = None, *,
                 operations: tuple[AzureOperation, ...] = OPERATIONS) -> None:
        super().__init__()
        self._decider = _Decider(gatekeeper, operations)

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        if request.context.get(DECIDED):
            return self.next.send(request)
        found = self._decider.recognise(request.http_request)
        if found is None:
            return self.next.send(request)
        rec, prefix = found
        request.context[DECIDED] = True

        def fetch(path: str) -> Mapping[str, Any] | None:
            sub = PipelineRequest(_fetch_request(request.http_request, prefix, path), _sub_context(request.context))
            try:
                response = self.next.send(sub)
            except Exception as exc:  # any failure to read is a failure to resolve
                raise FetchError(f"reading {path} failed: {type(exc).__name__}: {exc}") from exc
            return _fetched(path, response.http_response)

        decision = self._decider.decide(rec, request.http_request, fetch)
        if decision is not None and decision.blocks:
            raise blocked_error(decision, request.http_request)
        return self.next.send(request)


class AsyncGatekeeperPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """The same for async clients. Translation and the decision (which writes the audit record
    durably) run in a worker thread so the event loop is not blocked; a resolving GET is sent down the
    async pipeline from there with ``run_coroutine_threadsafe``."""

    def __init__(self, gatekeeper: Gatekeeper | None = None, *,
                 operations: tuple[AzureOperation, ...] = OPERATIONS) -> None:
        super().__init__()
        self._decider = _Decider(gatekeeper, operations)

    async def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        if request.context.get(DECIDED):
            return await self.next.send(request)
        found = self._decider.recognise(request.http_request)
        if found is None:
            return await self.next.send(request)
        rec, prefix = found
        request.context[DECIDED] = True
        loop = asyncio.get_running_loop()

        async def read(path: str) -> Mapping[str, Any] | None:
            sub = PipelineRequest(_fetch_request(request.http_request, prefix, path), _sub_context(request.context))
            response = await self.next.send(sub)
            await response.http_response.read()
            return _fetched(path, response.http_response)

        def fetch(path: str) -> Mapping[str, Any] | None:
            try:
                return asyncio.run_coroutine_threadsafe(read(path), loop).result()
            except FetchError:
                raise
            except Exception as exc:  # any failure to read is a failure to resolve
                raise FetchError(f"reading {path} failed: {type(exc).__name__}: {exc}") from exc

        def decide() -> Decision | None:
            return self._decider.decide(rec, request.http_request, fetch)

        # to_thread copies the context, so acting_for() set by the caller holds in the worker too.
        decision = await asyncio.to_thread(decide)
        if decision is not None and decision.blocks:
            raise blocked_error(decision, request.http_request)
        return await self.next.send(request)
