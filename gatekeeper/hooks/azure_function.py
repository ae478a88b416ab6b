"""The Azure Function detective hook: Event Grid ``ResourceWriteSuccess`` -> read -> decide -> put right.

Subscribed (deploy/azure/azuredeploy.json) to a subscription's system topic, filtered to
``Microsoft.Resources.ResourceWriteSuccess`` for the resource types of the Azure provider spec
(:data:`gatekeeper.providers.azure.OPERATIONS`: VMs, scale sets and their VMs, AKS clusters and agent
pools, Batch pools, Azure ML computes, capacity reservations, dedicated hosts). Event Grid says *that*
a resource was written, not what it now is, so the hook reads the resource (azure-mgmt-resource's
``resources.get_by_id``, with the row's API version) and decides what it runs now, with the same
reader as the SDK adapter. Remediation per kind is ``hooks/remediation.KINDS``: deallocate a VM,
scale a scale set, agent pool, Batch pool, ML cluster or capacity reservation to zero, stop a compute
instance, delete.

Scale sets are covered as well as VMs: Azure's own VM-size policy once ignored them (azure-policy
PR #589). The hook never loops on its own writes:

- its identity is found at start-up (the ``oid``/``appid`` of its managed identity's token), besides
  ``GATEKEEPER_SELF_PRINCIPAL_ID`` and ``[hooks] ignore_principals``, and writes by it are ignored;
- a resource already decided in the state it is in now (same sizes, counts, region) is not decided
  again: an event whose only change is tags (ours or anyone's) is ignored. The state is remembered in
  the hook's own store (the processed-event markers), never in a tag the resource's owner could write;
- tags are keyed by the case (``gatekeeper:case-id``), not by the decision, and are not rewritten when
  they already say the same: the hook's tag write changes nothing it decides on;
- a write that leaves no capacity (our own scale-to-zero) provisions nothing and is ignored.

The customer is the subscription in the resource id (through ``[hooks] account_map``), never a free
field of the event.

The core is :class:`AzureHook` over a plain event dict (Event Grid or CloudEvents schema) and an
:class:`AzureClients` factory, so that tests drive it through the real SDK pipeline against a local
ARM stand-in; :func:`main` is the Azure Functions entry point (an ``azure.functions.EventGridEvent``
or the event's JSON).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.errors import InvalidInputError, ResolutionError
from gatekeeper.hooks import _core
from gatekeeper.hooks import _paths as P
from gatekeeper.hooks.remediation import TAG_CASE_ID, TAG_DECISION_ID, Action, Resource
from gatekeeper.model import ComputeItem, ProvisioningRequest
from gatekeeper.providers.azure import OPERATIONS, AzureOperation
from gatekeeper.providers.azure._read import translate
from gatekeeper.providers.azure.operations import Recognised

if TYPE_CHECKING:
    import azure.functions

HOOK = "azure-function"
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
ACTION_SUCCESS = "Microsoft.Resources.ResourceActionSuccess"
MANAGED_CLUSTER = "azure:managed-cluster"

# The Event Grid operationNames the hook covers: one per row of the Azure spec.
OPERATION_NAMES: tuple[str, ...] = tuple(op.write for op in OPERATIONS)
# ... and the actions that set stopped compute running again (a start undoing the hook's deallocate).
ACTION_NAMES: tuple[str, ...] = tuple(op.action_name(a) for op in OPERATIONS for a in op.actions)

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
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/delete",
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/read",
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/write",
    "Microsoft.Compute/capacityReservationGroups/capacityReservations/delete",
    "Microsoft.Compute/hostGroups/hosts/read",
    "Microsoft.Compute/hostGroups/hosts/write",
    "Microsoft.Compute/hostGroups/hosts/delete",
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/agentPools/read",
    "Microsoft.ContainerService/managedClusters/agentPools/write",
    "Microsoft.ContainerService/managedClusters/agentPools/delete",
    "Microsoft.ContainerService/locations/operations/read",
    "Microsoft.Batch/batchAccounts/read",
    "Microsoft.Batch/batchAccounts/pools/read",
    "Microsoft.Batch/batchAccounts/pools/write",
    "Microsoft.Batch/batchAccounts/pools/delete",
    "Microsoft.MachineLearningServices/workspaces/computes/read",
    "Microsoft.MachineLearningServices/workspaces/computes/write",
    "Microsoft.MachineLearningServices/workspaces/computes/stop/action",
    "Microsoft.MachineLearningServices/workspaces/computes/delete",
)

_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True, slots=True)
class ArmTarget:
    """A resource id the hook covers, taken apart."""

    kind: str
    uri: str
    subscription: str
    group: str
    name: str
    parent: str = ""
    operation: AzureOperation | None = None


def parse_resource_id(uri: str) -> ArmTarget | None:
    for op in OPERATIONS:
        m = op.pattern.match(uri)
        if m:
            g = m.groupdict()
            parent = next((v for k, v in g.items() if k not in ("subscription", "group", "name")), "")
            return ArmTarget(op.kind or MANAGED_CLUSTER, uri.rstrip("/"), g["subscription"].lower(), g["group"],
                             g["name"], parent or "", op)
    return None


def _parts(resource: Resource) -> ArmTarget:
    target = parse_resource_id(resource.id)
    if target is None:
        raise ResolutionError(f"{resource.id} is not a resource id the hook covers")
    return target


def identity_of(token: str) -> tuple[str, ...]:
    """The ids (``oid``, ``appid``/``azp``) an Entra access token names; () when it is not a JWT.

    Read without verification: it is the function's own token, fresh from its own credential; it is used
    only to recognise the function's own writes, never to trust anyone.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return ()
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return ()
    if not isinstance(payload, Mapping):
        return ()
    return tuple(str(payload[k]).strip().lower() for k in ("oid", "appid", "azp")
                 if isinstance(payload.get(k), str) and payload[k].strip())


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
                elif which == "containers":
                    from azure.mgmt.containerservice import ContainerServiceClient as cls  # type: ignore[assignment]
                else:
                    from azure.mgmt.resource.resources import ResourceManagementClient as cls  # type: ignore[assignment]
                client = cls(self.credential, subscription, **self._kwargs)
                self._cache[key] = client
        return client

    def compute(self, subscription: str) -> Any:
        return self._client("compute", subscription)

    def containers(self, subscription: str) -> Any:
        return self._client("containers", subscription)

    def resources(self, subscription: str) -> Any:
        """azure-mgmt-resource's ResourceManagementClient: any resource by id, with a given API version."""
        return self._client("resources", subscription)

    def own_ids(self) -> tuple[str, ...]:
        """The ids of the identity the hook acts as (from its own token); () when it cannot tell."""
        token = self.credential.get_token(_ARM_SCOPE)
        return identity_of(str(getattr(token, "token", "")))


def _json(model: Any) -> Mapping[str, Any]:
    """The ARM JSON of an SDK model (what the wire carried), whatever the SDK generation."""
    if isinstance(model, Mapping) and not hasattr(model, "as_dict"):
        return model
    as_dict = getattr(model, "as_dict", None)
    data = as_dict() if callable(as_dict) else dict(model)
    return data if isinstance(data, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Read:
    """What a resource runs now: the request, the resources to remediate, its state's fingerprint."""

    request: ProvisioningRequest | None
    resources: tuple[Resource, ...]
    state: str = ""


def state_key(uri: str, request: ProvisioningRequest) -> str:
    """The marker of "this resource was decided in this state" (sizes, counts, region; not tags)."""
    items = sorted((i.instance_type.lower(), i.count, i.choice) for i in request.items)
    raw = json.dumps([uri.lower(), request.region, items, list(request.unresolved)])
    return "azure-state:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


class AzureHook(_core.ReadingHook):
    """Handles one Event Grid event at a time over a Gatekeeper runtime and :class:`AzureClients`."""

    hook = HOOK

    def new_clients(self) -> AzureClients:
        return AzureClients()

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
        if event_type not in (WRITE_SUCCESS, ACTION_SUCCESS):
            return _core.answer(_core.IGNORED, event_id, f"event type {event_type!r} is not handled")
        covered = OPERATION_NAMES if event_type == WRITE_SUCCESS else ACTION_NAMES
        data = event.get("data")
        if not isinstance(data, Mapping):
            return run.run(event_id, _core.raising(InvalidInputError("the event's data is not an object",
                                                                     field="data")), context)
        uri = P.text(data, "resourceUri") or str(event.get("subject") or "")
        if not uri.startswith("/subscriptions/"):
            return run.run(event_id, _core.raising(InvalidInputError(
                f"data.resourceUri {uri!r} is not an ARM resource id", field="data.resourceUri")), context)
        status = P.text(data, "status")
        if status and status.lower() != "succeeded":
            return _core.answer(_core.SKIPPED, event_id, f"the write did not succeed ({status})")
        target = parse_resource_id(uri)
        operation = P.text(data, "operationName")
        if target is None or (operation and operation.lower() not in {o.lower() for o in covered}) or (
                event_type == ACTION_SUCCESS and not operation):
            return _core.answer(_core.IGNORED, event_id, f"{operation or uri} provisions no compute gatekeeper covers")
        principal, ids = principal_of(data)
        if self.identity() & {i.lower() for i in ids}:
            return _core.answer(_core.IGNORED, event_id, f"written by {principal}, whose changes the hook ignores")
        context |= {"operation_name": operation, "event_time": str(event.get("eventTime", event.get("time", "")))}
        states: list[str] = []
        restart = event_type == ACTION_SUCCESS
        out = run.run(event_id, lambda: self._prepare(target, principal, operation, states, restart), context)
        # Remembered only once decided and put right: a failed remediation is retried, not forgotten.
        if (states and out.get("status") in (_core.DECIDED, _core.REMEDIATED) and self.markers is not None
                and self.markers.claim_event(states[0])):
            self.markers.complete_event(states[0], str(out.get("decision", "")))
        return out

    def subject(self, target: ArmTarget) -> str:
        """The customer: the subscription of the resource id (mapped by ``[hooks] account_map``)."""
        mapped = self.gk.config.hooks.account_map
        return str(mapped.get(target.subscription, target.subscription)).lower()

    def _prepare(self, target: ArmTarget, principal: str, operation: str, states: list[str],
                 restart: bool = False) -> _core.Prepared:
        account = self.subject(target)
        if not self.read:
            resource = Resource(target.kind, target.uri)
            request = ProvisioningRequest(
                "azure", account, (), service=operation.split("/")[0] if operation else "",
                operation=operation, principal=principal, source="azure-function", resource_ids=(target.uri,),
                unresolved=(f"{target.uri} not read (dry run without --resolve)",))
            return _core.Prepared(request, (resource,))
        try:
            found = self._read(target, account, principal, operation)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                return _core.Prepared(None, reason=f"{target.uri} no longer exists")
            raise  # transient (throttled, no permission): let Event Grid retry
        if found is None:
            return _core.Prepared(None, reason=f"{target.uri} no longer exists")
        if found.request is None:
            return _core.Prepared(None, reason=f"{target.uri} provisions no compute gatekeeper decides")
        if not found.request.unresolved and not any(i.count > 0 for i in found.request.items):
            return _core.Prepared(None, reason=f"{target.uri} runs no capacity now")
        # A start runs the resource again whatever state it was decided in; a write in a decided state is
        # a change of tags or of nothing gatekeeper decides on.
        decided = not self.dry_run and self.markers is not None and self.markers.status(found.state) == "done"
        if decided and not restart:
            return _core.Prepared(None, reason=(
                f"{target.uri} was already decided in this state (sizes, counts, region unchanged: a change of "
                "tags or of nothing gatekeeper decides on)"))
        states.append(found.state)
        return _core.Prepared(found.request, found.resources)

    # -- reading through the SDK -------------------------------------------------------------------
    def _get(self, subscription: str, uri: str, api_version: str) -> Mapping[str, Any] | None:
        try:
            return _json(self.clients.resources(subscription).resources.get_by_id(uri, api_version=api_version))
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                return None
            raise

    def _read(self, t: ArmTarget, account: str, principal: str, operation: str) -> Read | None:
        op = t.operation
        assert op is not None
        body = self._get(t.subscription, t.uri, op.api_version)
        if body is None:
            return None
        rec = Recognised(op, "PUT", {"subscription": t.subscription, "group": t.group, "name": t.name}, t.uri)
        gk = self.gk

        def accelerated(size: str) -> bool:
            return bool(gk.catalog.classify_item("azure", ComputeItem(instance_type=size)).accelerated)

        request = translate(rec, body, fetch=lambda path: self._get(t.subscription, path, op.api_version),
                            accelerated=accelerated, subject=account, principal=principal)
        if request is None:
            return Read(None, ())
        request = ProvisioningRequest(
            "azure", account, request.items, region=request.region, service=op.service, operation=operation or op.write,
            principal=principal, source="azure-function", resource_ids=(t.uri,), unresolved=request.unresolved)
        if op.pools:
            # Remediation acts on the pools that carry accelerators (never on the system pool of plain VMs,
            # which cannot be scaled to zero and is not what the decision is about).
            names = [P.text(p, "name") for p in P.values(body, f"{op.pools}[]")]
            sizes = {n.lower(): P.text(p, "vmSize") for n, p in zip(names, P.values(body, f"{op.pools}[]"),
                                                                    strict=True) if n}
            resources = tuple(Resource("azure:agent-pool", f"{t.uri}/agentPools/{n}", request.region, parent=t.name)
                              for n in names if n and accelerated(sizes.get(n.lower(), "")))
        else:
            resources = (Resource(t.kind, t.uri, request.region, parent=t.parent),)
        return Read(request, resources, state_key(t.uri, request))

    # -- remediation through the SDKs --------------------------------------------------------------
    def _execute(self, action: Action) -> str:
        t = _parts(action.resource)
        kind, what = action.resource.kind, action.action
        if kind == "azure:virtual-machine":
            ops = self.clients.compute(t.subscription).virtual_machines
            if what == "tag":
                from azure.mgmt.compute.models import VirtualMachineUpdate

                tags = _merged(_json(ops.get(t.group, t.name)), action)
                if tags is None:
                    return "already tagged"
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
                    if tags is None:
                        return "already tagged"
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
                    tags = _merged(props, action)
                    if tags is None:
                        return "already tagged"
                    props["tags"] = tags
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
        elif t.operation is not None:
            return self._generic(t, action)
        raise ResolutionError(f"no executor for {what} on {kind}")

    def _generic(self, t: ArmTarget, action: Action) -> str:
        """Batch pools, ML computes, capacity reservations, dedicated hosts, scale-set VMs: through
        azure-mgmt-resource's generic resource operations, with the row's API version."""
        from azure.core.rest import HttpRequest

        op = t.operation
        assert op is not None
        client = self.clients.resources(t.subscription)
        api = op.api_version
        what = action.action
        if what == "tag":
            tags = _merged(self._get(t.subscription, t.uri, api) or {}, action)
            if tags is None:
                return "already tagged"
            client.resources.begin_update_by_id(t.uri, {"tags": tags}, api_version=api).result()
            return "tagged"
        if what == "delete":
            client.resources.begin_delete_by_id(t.uri, api_version=api).result()
            return "deleted"
        patch = _SCALE_TO_ZERO.get(action.resource.kind)
        if what == "scale_to_zero" and action.resource.kind == "azure:ml-compute":
            current = self._get(t.subscription, t.uri, api) or {}
            if str(P.text(current, "properties.computeType")).lower() == "computeinstance":
                what = "stop"
        if what == "scale_to_zero" and patch is not None:
            client.resources.begin_update_by_id(t.uri, patch, api_version=api).result()
            return "scaled to 0"
        if what in ("stop", "deallocate"):
            verb = "stop" if what == "stop" else "deallocate"
            response = client.send_request(HttpRequest("POST", f"{t.uri}/{verb}?api-version={api}"))
            response.raise_for_status()
            return "stopped" if verb == "stop" else "deallocated"
        raise ResolutionError(f"no executor for {what} on {action.resource.kind}")


# The PATCH that leaves a resource of each kind running nothing (in the shape of its update model).
_SCALE_TO_ZERO: Mapping[str, Mapping[str, Any]] = {
    "azure:batch-pool": {"properties": {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 0,
                                                                         "targetLowPriorityNodes": 0}}}},
    "azure:ml-compute": {"properties": {"scaleSettings": {"maxNodeCount": 0, "minNodeCount": 0}}},
    "azure:capacity-reservation": {"sku": {"capacity": 0}},
}


def _merged(body: Mapping[str, Any], action: Action) -> dict[str, str] | None:
    """The resource's tags with the decision's, keyed by the case: ``gatekeeper:decision`` and
    ``gatekeeper:case-id``; a decision id only when there is no case (kept if one is there already).
    None when the resource says all of it already (no write, so no event for the hook to see again)."""
    tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
    wanted = dict(action.tags)
    if TAG_CASE_ID in wanted:
        wanted.pop(TAG_DECISION_ID, None)
        tags.pop(TAG_DECISION_ID, None)
    else:
        tags.pop(TAG_CASE_ID, None)
        if TAG_DECISION_ID in tags:
            wanted.pop(TAG_DECISION_ID, None)
    merged = {**tags, **wanted}
    return None if merged == {str(k): str(v) for k, v in (body.get("tags") or {}).items()} else merged


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
            _hook.identity()  # at start-up: the function's own identity, so its writes never loop
        hook = _hook
    try:
        return hook.handle(event_dict(event))
    finally:
        # The instance may be frozen or recycled once the invocation returns: vouch for its records now.
        hook.gk.publish_audit_digest()


def reset() -> None:
    global _hook
    with _lock:
        _hook = None
