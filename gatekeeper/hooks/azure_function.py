"""The Azure Function detective hook: Event Grid ``ResourceWriteSuccess`` -> read -> decide -> put right.

Subscribed (deploy/azure/main.bicep) to a subscription's system topic, filtered to
``Microsoft.Resources.ResourceWriteSuccess`` for the compute resource types below. Event Grid says
*that* a resource was written, not what it now is, so the hook reads the resource through the real
SDKs (azure-mgmt-compute, azure-mgmt-containerservice) and decides what it runs now:

    virtual machine          properties.hardwareProfile.vmSize x 1          deallocate | delete
    virtual machine scale set sku.name (or the instance mix) x sku.capacity  capacity 0 | delete
    AKS agent pool           properties.vmSize x max(count, maxCount)        count 0   | delete
    AKS managed cluster      each agentPoolProfiles[] as above               (per pool)

Scale sets are covered as well as VMs: Azure's own VM-size policy once ignored them (azure-policy
PR #589). A write that leaves no capacity (our own scale-to-zero) provisions nothing and is ignored;
the function's own identity (``GATEKEEPER_SELF_PRINCIPAL_ID``, ``[hooks] ignore_principals``) is
ignored so that its tag updates do not trigger it again.

The core is :class:`AzureHook` over a plain event dict (Event Grid or CloudEvents schema) and an
:class:`AzureClients` factory, so that tests drive it through the real SDK pipeline against a local
ARM stand-in; :func:`main` is the Azure Functions entry point (an ``azure.functions.EventGridEvent``
or the event's JSON).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.errors import InvalidInputError, ResolutionError
from gatekeeper.hooks import _core
from gatekeeper.hooks import _paths as P
from gatekeeper.hooks.remediation import TAG_CASE_ID, Action, Resource
from gatekeeper.model import ComputeItem, ProvisioningRequest

if TYPE_CHECKING:
    import azure.functions

HOOK = "azure-function"
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
_RG = r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"

# ARM resource types the hook covers: remediation kind -> (operationName, resource id pattern).
RESOURCE_TYPES: Mapping[str, tuple[str, re.Pattern[str]]] = {
    "azure:virtual-machine": (
        "Microsoft.Compute/virtualMachines/write",
        re.compile(_RG + r"Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)/?$", re.IGNORECASE)),
    "azure:scale-set": (
        "Microsoft.Compute/virtualMachineScaleSets/write",
        re.compile(_RG + r"Microsoft\.Compute/virtualMachineScaleSets/(?P<name>[^/]+)/?$", re.IGNORECASE)),
    "azure:agent-pool": (
        "Microsoft.ContainerService/managedClusters/agentPools/write",
        re.compile(_RG + r"Microsoft\.ContainerService/managedClusters/(?P<parent>[^/]+)/agentPools/(?P<name>[^/]+)/?$",
                   re.IGNORECASE)),
    "azure:managed-cluster": (
        "Microsoft.ContainerService/managedClusters/write",
        re.compile(_RG + r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)/?$", re.IGNORECASE)),
}
OPERATION_NAMES: tuple[str, ...] = tuple(op for op, _ in RESOURCE_TYPES.values())

# What the hook reads and does through ARM; deploy/azure/azuredeploy.json's custom role grants exactly
# these (a test keeps them equal). Tag updates are writes; LROs are polled through locations/operations.
RBAC_ACTIONS: tuple[str, ...] = (
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/deallocate/action",
    "Microsoft.Compute/virtualMachines/delete",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachineScaleSets/write",
    "Microsoft.Compute/virtualMachineScaleSets/delete",
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/agentPools/read",
    "Microsoft.ContainerService/managedClusters/agentPools/write",
    "Microsoft.ContainerService/managedClusters/agentPools/delete",
    "Microsoft.ContainerService/locations/operations/read",
)

_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


@dataclass(frozen=True, slots=True)
class ArmTarget:
    """A resource id the hook covers, taken apart."""

    kind: str
    uri: str
    subscription: str
    group: str
    name: str
    parent: str = ""


def parse_resource_id(uri: str) -> ArmTarget | None:
    for kind, (_, pattern) in RESOURCE_TYPES.items():
        m = pattern.match(uri)
        if m:
            g = m.groupdict()
            return ArmTarget(kind, uri.rstrip("/"), g["subscription"].lower(), g["group"], g["name"],
                             g.get("parent") or "")
    return None


def _parts(resource: Resource) -> ArmTarget:
    target = parse_resource_id(resource.id)
    if target is None:
        raise ResolutionError(f"{resource.id} is not a resource id the hook covers")
    return target


class AzureClients:
    """Management clients per subscription, made on first use with one credential.

    ``credential`` defaults to ``azure.identity.DefaultAzureCredential`` (the function's managed
    identity); ``client_kwargs`` go to every client (``base_url``, ``connection_verify``, policies).
    """

    def __init__(self, credential: Any = None, **client_kwargs: Any) -> None:
        self._credential = credential
        self._kwargs = client_kwargs
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def credential(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def _client(self, which: str, subscription: str) -> Any:
        key = (which, subscription)
        with self._lock:
            client = self._cache.get(key)
            if client is None:
                if which == "compute":
                    from azure.mgmt.compute import ComputeManagementClient as cls
                else:
                    from azure.mgmt.containerservice import ContainerServiceClient as cls  # type: ignore[assignment]
                client = cls(self.credential, subscription, **self._kwargs)
                self._cache[key] = client
        return client

    def compute(self, subscription: str) -> Any:
        return self._client("compute", subscription)

    def containers(self, subscription: str) -> Any:
        return self._client("containers", subscription)


def _json(model: Any) -> Mapping[str, Any]:
    """The ARM JSON of an SDK model (what the wire carried), whatever the SDK generation."""
    if isinstance(model, Mapping) and not hasattr(model, "as_dict"):
        return model
    as_dict = getattr(model, "as_dict", None)
    data = as_dict() if callable(as_dict) else dict(model)
    return data if isinstance(data, Mapping) else {}


def _count(body: Mapping[str, Any], *paths: str) -> int:
    found = [n for n in (P.integer(body, p) for p in paths) if n is not None]
    return max(found) if found else 0


@dataclass(frozen=True, slots=True)
class Read:
    """What a resource runs now: items, its location, the resources to remediate."""

    items: tuple[ComputeItem, ...]
    location: str
    resources: tuple[Resource, ...]


class AzureHook(_core.EventHook):
    """Handles one Event Grid event at a time over a Gatekeeper runtime and :class:`AzureClients`."""

    hook = HOOK

    def __init__(self, gk: Any = None, *, clients: AzureClients | None = None, markers: Any = None,
                 dry_run: bool = False, read: bool = True) -> None:
        super().__init__(gk, markers=markers, dry_run=dry_run)
        self.read = read
        self._clients = clients

    @property
    def clients(self) -> AzureClients:
        if self._clients is None:
            self._clients = AzureClients()
        return self._clients

    # -- the event -------------------------------------------------------------------------------
    def handle(self, event: Any) -> dict[str, Any]:
        run = self.new_run(self._execute)
        if not isinstance(event, Mapping):
            return run.malformed(_core.event_digest(event), InvalidInputError("the event is not a JSON object"), {})
        event_id = event.get("id")
        event_type = event.get("eventType", event.get("type"))
        context = {"event_type": str(event_type or ""), "subject": str(event.get("subject", ""))}
        if not isinstance(event_id, str) or not event_id.strip():
            return run.malformed(_core.event_digest(event),
                                 InvalidInputError("the event has no id (not an Event Grid event?)"), context)
        event_id = event_id.strip()
        if event_type != WRITE_SUCCESS:
            return _core.answer(_core.IGNORED, event_id, f"event type {event_type!r} is not handled")
        data = event.get("data")
        if not isinstance(data, Mapping):
            return run.run(event_id, _raise(InvalidInputError("the event's data is not an object", field="data")),
                           context)
        uri = P.text(data, "resourceUri") or str(event.get("subject") or "")
        if not uri.startswith("/subscriptions/"):
            return run.run(event_id, _raise(InvalidInputError(
                f"data.resourceUri {uri!r} is not an ARM resource id", field="data.resourceUri")), context)
        status = P.text(data, "status")
        if status and status.lower() != "succeeded":
            return _core.answer(_core.SKIPPED, event_id, f"the write did not succeed ({status})")
        target = parse_resource_id(uri)
        operation = P.text(data, "operationName")
        if target is None or (operation and operation.lower() not in {o.lower() for o in OPERATION_NAMES}):
            return _core.answer(_core.IGNORED, event_id, f"{operation or uri} provisions no compute gatekeeper covers")
        principal, ids = principal_of(data)
        ignored = {p.lower() for p in self.gk.config.hooks.ignore_principals}
        own = os.environ.get("GATEKEEPER_SELF_PRINCIPAL_ID", "").strip().lower()
        if own:
            ignored.add(own)
        if ignored & {i.lower() for i in ids}:
            return _core.answer(_core.IGNORED, event_id, f"written by {principal}, whose changes the hook ignores")
        context |= {"operation_name": operation, "event_time": str(event.get("eventTime", event.get("time", "")))}
        return run.run(event_id, lambda: self._prepare(data, target, principal, operation), context)

    def subject(self, data: Mapping[str, Any], target: ArmTarget) -> str:
        sub = (P.text(data, "subscriptionId") or target.subscription).lower()
        mapped = self.gk.config.hooks.account_map
        return str(mapped.get(sub, mapped.get(target.subscription, sub))).lower()

    def _prepare(self, data: Mapping[str, Any], target: ArmTarget, principal: str,
                 operation: str) -> _core.Prepared:
        account = self.subject(data, target)
        if not self.read:
            resource = Resource(target.kind, target.uri)
            request = ProvisioningRequest(
                "azure", account, (), service=operation.split("/")[0] if operation else "",
                operation=operation, principal=principal, source="azure-function", resource_ids=(target.uri,),
                unresolved=(f"{target.uri} not read (dry run without --resolve)",))
            return _core.Prepared(request, (resource,))
        try:
            found = self._read(target)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                return _core.Prepared(None, reason=f"{target.uri} no longer exists")
            raise  # transient (throttled, no permission): let Event Grid retry
        if not any(i.count > 0 for i in found.items):
            return _core.Prepared(None, reason=f"{target.uri} runs no capacity now")
        request = ProvisioningRequest(
            "azure", account, found.items, region=found.location, service=operation.split("/")[0],
            operation=operation, principal=principal, source="azure-function",
            resource_ids=tuple(r.id for r in found.resources))
        return _core.Prepared(request, found.resources)

    # -- reading through the SDKs ------------------------------------------------------------------
    def _read(self, t: ArmTarget) -> Read:
        if t.kind == "azure:virtual-machine":
            vm = _json(self.clients.compute(t.subscription).virtual_machines.get(t.group, t.name))
            size = P.text(vm, "properties.hardwareProfile.vmSize")
            return Read((ComputeItem(size, 1, path="properties.hardwareProfile.vmSize"),) if size else (),
                        P.text(vm, "location"), (Resource(t.kind, t.uri, P.text(vm, "location")),))
        if t.kind == "azure:scale-set":
            ss = _json(self.clients.compute(t.subscription).virtual_machine_scale_sets.get(t.group, t.name))
            capacity = _count(ss, "sku.capacity")
            mix = P.strings(ss, "properties.skuProfile.vmSizes[].name")
            sizes = mix or [s for s in P.strings(ss, "sku.name") if s.lower() != "mix"]
            choice = "properties.skuProfile.vmSizes" if len(sizes) > 1 else ""
            items = tuple(ComputeItem(s, capacity, choice=choice, path="sku") for s in sizes)
            return Read(items, P.text(ss, "location"), (Resource(t.kind, t.uri, P.text(ss, "location")),))
        cs = self.clients.containers(t.subscription)
        if t.kind == "azure:agent-pool":
            pool = _json(cs.agent_pools.get(t.group, t.parent, t.name))
            cluster = _json(cs.managed_clusters.get(t.group, t.parent))
            location = P.text(cluster, "location")
            size = P.text(pool, "properties.vmSize")
            count = _count(pool, "properties.count", "properties.maxCount")
            return Read((ComputeItem(size, count, path="properties.vmSize"),) if size else (), location,
                        (Resource(t.kind, t.uri, location, parent=t.parent),))
        cluster = _json(cs.managed_clusters.get(t.group, t.name))
        location = P.text(cluster, "location")
        pools: list[ComputeItem] = []
        resources: list[Resource] = []
        for profile in P.values(cluster, "properties.agentPoolProfiles[]"):
            name, size = P.text(profile, "name"), P.text(profile, "vmSize")
            if not name or not size:
                continue
            item = ComputeItem(size, _count(profile, "count", "maxCount"), path=f"agentPoolProfiles[{name}]")
            pools.append(item)
            # Remediation acts on the pools that carry accelerators (never on the system pool of
            # plain VMs, which cannot be scaled to zero and is not what the decision is about).
            if self.gk.catalog.classify_item("azure", item).accelerated:
                resources.append(Resource("azure:agent-pool", f"{t.uri}/agentPools/{name}", location, parent=t.name))
        return Read(tuple(pools), location, tuple(resources))

    # -- remediation through the SDKs --------------------------------------------------------------
    def _execute(self, action: Action) -> str:
        t = _parts(action.resource)
        kind, what = action.resource.kind, action.action
        if kind == "azure:virtual-machine":
            ops = self.clients.compute(t.subscription).virtual_machines
            if what == "tag":
                from azure.mgmt.compute.models import VirtualMachineUpdate

                tags = _merged(_json(ops.get(t.group, t.name)), action)
                ops.begin_update(t.group, t.name, VirtualMachineUpdate(tags=tags)).result()
                return "tagged"
            if what == "deallocate":
                ops.begin_deallocate(t.group, t.name).result()
                return "deallocated"
            if what == "delete":
                ops.begin_delete(t.group, t.name).result()
                return "deleted"
        elif kind == "azure:scale-set":
            ops = self.clients.compute(t.subscription).virtual_machine_scale_sets
            if what in ("tag", "scale_to_zero"):
                from azure.mgmt.compute.models import Sku, VirtualMachineScaleSetUpdate

                if what == "tag":
                    tags = _merged(_json(ops.get(t.group, t.name)), action)
                    ops.begin_update(t.group, t.name, VirtualMachineScaleSetUpdate(tags=tags)).result()
                    return "tagged"
                ops.begin_update(t.group, t.name, VirtualMachineScaleSetUpdate(sku=Sku(capacity=0))).result()
                return "scaled to capacity 0"
            if what == "delete":
                ops.begin_delete(t.group, t.name).result()
                return "deleted"
        elif kind == "azure:agent-pool":
            pools = self.clients.containers(t.subscription).agent_pools
            if what in ("tag", "scale_to_zero"):
                from azure.mgmt.containerservice.models import AgentPool

                body = dict(_json(pools.get(t.group, t.parent, t.name)))
                props = dict(body.get("properties") or {})
                if what == "tag":
                    props["tags"] = _merged(props, action)
                    said = "tagged"
                else:
                    # A user pool may run zero nodes; the autoscaler is switched off so it stays there.
                    props.update(count=0, enableAutoScaling=False)
                    props.pop("minCount", None)
                    props.pop("maxCount", None)
                    said = "scaled to 0 nodes (autoscaler off)"
                body["properties"] = props
                pools.begin_create_or_update(t.group, t.parent, t.name, AgentPool(body)).result()
                return said
            if what == "delete":
                pools.begin_delete(t.group, t.parent, t.name).result()
                return "deleted"
        raise ResolutionError(f"no executor for {what} on {kind}")


def _merged(body: Mapping[str, Any], action: Action) -> dict[str, str]:
    """The resource's tags with the decision's (a case id of an earlier decision is replaced)."""
    tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
    if TAG_CASE_ID not in dict(action.tags):
        tags.pop(TAG_CASE_ID, None)
    tags.update(dict(action.tags))
    return tags


def principal_of(data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A readable principal and every id it is known by (object id, app id, UPN)."""
    raw = data.get("claims")
    claims: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

    def claim(*names: str) -> str:  # claim names are URIs with dots: looked up whole, not as paths
        for n in names:
            v = claims.get(n)
            if isinstance(v, str) and v.strip():
                return v.strip()
        return ""

    upn = claim(_UPN_CLAIM, "upn", "unique_name", "name")
    oid = claim(_OID_CLAIM, "oid") or P.text(data, "authorization.evidence.principalId")
    appid = claim("appid", "azp")
    principal = upn or (f"appid:{appid}" if appid else "") or (f"oid:{oid}" if oid else "")
    return principal, tuple(i for i in (upn, oid, appid) if i)


def _raise(exc: InvalidInputError) -> Any:
    def prepare() -> _core.Prepared:
        raise exc
    return prepare


# -- the Azure Functions entry point ---------------------------------------------------------------
_lock = threading.Lock()
_hook: AzureHook | None = None


def event_dict(event: Any) -> Any:
    """An ``azure.functions.EventGridEvent`` as the Event Grid JSON; a dict passes through."""
    if isinstance(event, Mapping) or not hasattr(event, "get_json"):
        return event
    return {"id": event.id, "eventType": event.event_type, "subject": event.subject, "topic": event.topic,
            "eventTime": str(event.event_time or ""), "dataVersion": event.data_version, "data": event.get_json()}


def main(event: azure.functions.EventGridEvent | Mapping[str, Any]) -> dict[str, Any]:
    """Azure Functions entry point (function.json ``eventGridTrigger``, or the v2 app in deploy/azure)."""
    global _hook
    from gatekeeper.runtime import current

    with _lock:
        if _hook is None:
            _core.bootstrap_config()
        gk = current()
        if _hook is None or _hook.gk is not gk:
            _hook = AzureHook(gk)
        hook = _hook
    return hook.handle(event_dict(event))


def reset() -> None:
    global _hook
    with _lock:
        _hook = None
