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
import functools
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy, HTTPPolicy
from azure.core.rest import HttpRequest

from gatekeeper._log import get_logger
from gatekeeper.adapters._explain import unavailable_decision
from gatekeeper.adapters.azure._errors import blocked_error
from gatekeeper.context import current_subject
from gatekeeper.model import ComputeItem, Decision, ProvisioningRequest
from gatekeeper.providers.azure._read import Fetch, FetchError, translate, translate_template
from gatekeeper.providers.azure.operations import (
    BATCH,
    DEPLOYMENTS,
    OPERATIONS,
    AzureOperation,
    Recognised,
    TemplateCall,
    recognise,
)
from gatekeeper.providers.azure.templates import Unresolvable
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
    if i < 0:  # management-group and tenant scopes
        i = path.lower().find("/providers/")
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


@dataclass(frozen=True, slots=True)
class _Call:
    """One call the policy decides: a resource write, a template deployment, or an inner request of /batch."""

    path: str
    method: str
    body: Any
    query: str  # the request's own query (its api-version), for the GETs that resolve it
    resource: Recognised | None = None
    template: TemplateCall | None = None
    params: Mapping[str, str] | None = None


def _match_template(method: str, path: str) -> tuple[TemplateCall, Mapping[str, str]] | None:
    for call in DEPLOYMENTS:
        if call.method == method.upper():
            m = call.pattern.match(path)
            if m:
                return call, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


class _UrlLinks:
    """What a template evaluation reads: a ``templateLink.uri`` fetched as ARM fetches it (anonymously:
    the caller's ARM token is never sent to another host), template specs and resource groups through
    the caller's pipeline."""

    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch

    def template(self, link: Mapping[str, Any], base_uri: str) -> Mapping[str, Any]:
        spec_id, uri, relative = link.get("id"), link.get("uri"), link.get("relativePath")
        try:
            if isinstance(spec_id, str) and spec_id.startswith("/"):
                found = self.fetch(spec_id)
                body = (found or {}).get("properties", {}).get("mainTemplate") if found else None
                if not isinstance(body, Mapping):
                    raise Unresolvable(f"template spec {spec_id} has no mainTemplate")
                return body
            if not isinstance(uri, str) and isinstance(relative, str) and base_uri:
                uri = urljoin(base_uri, relative) + (("?" + urlsplit(base_uri).query) if urlsplit(base_uri).query
                                                     else "")
            if not isinstance(uri, str) or urlsplit(uri).scheme not in ("http", "https"):
                raise Unresolvable(f"no readable link (uri {uri!r})")
            with urllib.request.urlopen(uri, timeout=10) as response:
                data = response.read(self.MAX_BYTES + 1)
            if len(data) > self.MAX_BYTES:
                raise Unresolvable(f"{uri} is larger than {self.MAX_BYTES} bytes")
            doc = json.loads(data.decode("utf-8-sig"))
        except Unresolvable:
            raise
        except Exception as exc:  # unreadable link: the deployment is decided fail-closed
            raise Unresolvable(f"reading {uri or spec_id} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(doc, Mapping):
            raise Unresolvable(f"{uri} is not a JSON object")
        return doc

    def resource_group(self, subscription: str, group: str) -> Mapping[str, Any] | None:
        try:
            return self.fetch(f"/subscriptions/{subscription}/resourceGroups/{group}")
        except FetchError as exc:
            raise Unresolvable(str(exc)) from exc


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

    def _one(self, method: str, url: str, body: Callable[[], Any]) -> _Call | None:
        """The call ``method url`` is, or None; ``body`` is read only for a call gatekeeper decides (the
        plain path pays for no JSON parsing)."""
        _, path = _arm_path(url)
        if not path:
            return None
        rec = recognise(method, path, self.operations)
        if rec is not None:
            return _Call(path, method, body(), urlsplit(url).query, resource=rec)
        found = _match_template(method, path)
        if found is not None:
            return _Call(path, method, body(), urlsplit(url).query, template=found[0], params=found[1])
        return None

    def recognise(self, http_request: Any) -> tuple[list[_Call], str] | None:
        url = str(http_request.url)
        prefix, path = _arm_path(url)
        if not path:
            m = BATCH.search(re.sub("/{2,}", "/", unquote(urlsplit(url).path)))
            if m is None or str(http_request.method).upper() != "POST":
                return None
            return self._batch(_body(http_request)), m.string[:m.start()]
        one = self._one(str(http_request.method), url, lambda: _body(http_request))
        return ([one], prefix) if one is not None else None

    def _batch(self, body: Any) -> list[_Call]:
        requests = body.get("requests") if isinstance(body, Mapping) else None
        if not isinstance(requests, list):
            return [_Call("/batch", "POST", body, "", params={"error": "the /batch body has no requests list"})]
        out: list[_Call] = []
        for n, inner in enumerate(requests):
            if not isinstance(inner, Mapping) or not isinstance(inner.get("url"), str):
                out.append(_Call("/batch", "POST", inner, "", params={"error": f"requests[{n}] has no url"}))
                continue
            one = self._one(str(inner.get("httpMethod") or "GET"), str(inner["url"]),
                            functools.partial(inner.get, "content"))
            if one is not None:
                out.append(one)
        return out

    def decide(self, calls: list[_Call], fetch_for: Callable[[str], Fetch]) -> list[Decision]:
        subject = current_subject("azure")
        try:
            gk = self.gatekeeper()
        except Exception as exc:  # no runtime (bad configuration): fail closed with the SDK's error
            first = calls[0]
            log.error("azure.runtime_unavailable", path=first.path, error=repr(exc))
            account = (subject.account_id if subject else _subscription(first.path)).lower()
            return [unavailable_decision("azure", account, _operation_name(first), exc)]

        def accelerated(size: str) -> bool:
            return gk.catalog.classify_item("azure", ComputeItem(instance_type=size)).accelerated

        decisions = []
        for call in calls:
            for request in self._requests(call, fetch_for(call.query), accelerated,
                                          subject.account_id if subject else None):
                decisions.append(gk.decide(request))
        return decisions

    def _requests(self, call: _Call, fetch: Fetch, accelerated: Callable[[str], bool],
                  subject: str | None) -> tuple[ProvisioningRequest, ...]:
        account = (subject or _subscription(call.path)).lower()
        if call.params is not None and "error" in call.params:
            return (ProvisioningRequest(provider="azure", account_id=account, items=(), service="Microsoft.Resources",
                                        operation="batch", resource_ids=(call.path,),
                                        unresolved=(f"POST /batch: {call.params['error']}",)),)
        try:
            if call.resource is not None:
                one = translate(call.resource, call.body, fetch=fetch, accelerated=accelerated, subject=subject)
                return (one,) if one is not None else ()
            assert call.template is not None and call.params is not None
            props = call.body.get("properties") if isinstance(call.body, Mapping) else None
            return translate_template(props, operation=call.template.name, path=call.path,
                                      subscription=call.params.get("subscription", ""),
                                      group=call.params.get("group", ""), links=_UrlLinks(fetch),
                                      accelerated=accelerated, subject=subject)
        except Exception as exc:  # a translation bug must deny, not let the call through
            log.error("azure.translate_failed", path=call.path, error=repr(exc), exc_info=True)
            why = f"gatekeeper could not translate {call.method} {call.path}: {type(exc).__name__}: {exc}"
            return (ProvisioningRequest(
                provider="azure", account_id=account, items=(), service="Microsoft.Resources",
                operation=_operation_name(call), resource_ids=(call.path,), unresolved=(why,)),)


def _subscription(path: str) -> str:
    m = re.match(r"^/subscriptions/([^/]+)", path, re.IGNORECASE)
    return m.group(1) if m else ""


def _operation_name(call: _Call) -> str:
    if call.resource is not None:
        return call.resource.operation.operation_id(call.resource.method, call.resource.params.get("action", ""))
    if call.template is not None:
        return call.template.name
    return "batch"


def _blocking(decisions: list[Decision]) -> Decision | None:
    blocking = [d for d in decisions if d.blocks]
    return max(blocking, key=lambda d: d.outcome) if blocking else None


def _sub_context(context: PipelineContext) -> PipelineContext:
    # The caller's per-call options (timeouts, proxies, enforce_https) apply to the resolving GET too;
    # "stream" does not: the GET's body is read at once.
    options = {k: v for k, v in context.options.items() if k != "stream"}
    sub = PipelineContext(context.transport, **options)
    sub[DECIDED] = True
    return sub


def _fetch_request(http_request: Any, prefix: str, path: str, query: str) -> HttpRequest:
    parts = urlsplit(str(http_request.url))
    url = urlunsplit(parts._replace(path=prefix + path, query=query or parts.query))
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
        calls, prefix = found
        request.context[DECIDED] = True

        def fetch_for(query: str) -> Fetch:
            def fetch(path: str) -> Mapping[str, Any] | None:
                sub = PipelineRequest(_fetch_request(request.http_request, prefix, path, query),
                                      _sub_context(request.context))
                try:
                    response = self.next.send(sub)
                except Exception as exc:  # any failure to read is a failure to resolve
                    raise FetchError(f"reading {path} failed: {type(exc).__name__}: {exc}") from exc
                return _fetched(path, response.http_response)
            return fetch

        decision = _blocking(self._decider.decide(calls, fetch_for))
        if decision is not None:
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
        calls, prefix = found
        request.context[DECIDED] = True
        loop = asyncio.get_running_loop()

        def fetch_for(query: str) -> Fetch:
            async def read(path: str) -> Mapping[str, Any] | None:
                sub = PipelineRequest(_fetch_request(request.http_request, prefix, path, query),
                                      _sub_context(request.context))
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
            return fetch

        # to_thread copies the context, so acting_for() set by the caller holds in the worker too.
        decisions = await asyncio.to_thread(self._decider.decide, calls, fetch_for)
        decision = _blocking(decisions)
        if decision is not None:
            raise blocked_error(decision, request.http_request)
        return await self.next.send(request)
