"""The Google Cloud detective hook: Cloud Audit Logs (Admin Activity) via Eventarc -> decide -> put right.

deploy/gcp/main.tf routes the Admin Activity audit entries of the calls in the Google Cloud provider
spec (:data:`gatekeeper.providers.gcp.OPERATIONS` with an ``audit`` method: instances, managed
instance groups, reservations, GKE node pools, Cloud TPU, Vertex AI) through Eventarc to a Cloud
Run function (functions-framework, :func:`handler`). An audit entry records the request (Compute
Engine: the REST body; the others: the request message) in camelCase JSON; the hook puts it back
into the request's snake_case shape and reads it with the same reader as the SDK adapter
(``gatekeeper.providers.gcp._read``), resolving what it names (an instance template, the group a
resize applies to, a node pool) through the real clients, read-only.

Remediation per kind is ``hooks/remediation.KINDS``: label and stop or delete an instance, resize a
managed instance group to zero or delete it, scale a node pool to zero, stop or delete a TPU node,
delete a queued resource, a reservation or a persistent resource, cancel a Vertex AI job, cancel a
Vertex AI deployment in progress or undeploy the model it deployed. It is
idempotent: the hook's own actions (setLabels, stop, delete, cancel) are not covered calls, a resize
to zero provisions nothing, labels are keyed by the case and not rewritten when they already say the
same, and writes by the hook's own identity (found at start-up, ``GATEKEEPER_SELF_PRINCIPAL_ID``,
``[hooks] ignore_principals``) are ignored.

The customer is the project of the audited resource (``resourceName``, mapped by
``[hooks] account_map``), never a free field of the entry.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from gatekeeper.errors import InvalidInputError, ResolutionError
from gatekeeper.hooks import _core
from gatekeeper.hooks import _paths as P
from gatekeeper.hooks.remediation import TAG_CASE_ID, TAG_DECISION, TAG_DECISION_ID, Action, Resource
from gatekeeper.model import ProvisioningRequest
from gatekeeper.providers.gcp import OPERATIONS, GcpOperation
from gatekeeper.providers.gcp._read import TranslationError, location_of, region_of, translate

HOOK = "gcp-function"
AUDIT_EVENT = "google.cloud.audit.log.v1.written"

# (serviceName, methodName without its API version) -> row. Audit entries name the version the caller
# used ("v1.compute...", "beta.compute...", "google.container.v1beta1...").
_VERSION = re.compile(r"v\d+(?:p\d+)?(?:alpha|beta)?\d*|alpha|beta")


def method_key(name: str) -> str:
    return ".".join(part for part in name.split(".") if not _VERSION.fullmatch(part))


BY_METHOD: Mapping[tuple[str, str], GcpOperation] = {
    (op.service, method_key(op.audit)): op for op in OPERATIONS if op.audit}
AUDITED: tuple[tuple[str, str], ...] = tuple((op.service, op.audit) for op in OPERATIONS if op.audit)
# The Eventarc triggers deploy/gcp/main.tf.json creates: one per (service, methodName), which Eventarc
# matches exactly; Compute Engine records calls made through its beta API as "beta.compute...".
TRIGGERS: tuple[tuple[str, str], ...] = AUDITED + tuple(
    (s, "beta." + m.removeprefix("v1.")) for s, m in AUDITED if s == "compute.googleapis.com")

# Roles deploy/gcp/main.tf grants the function's service account (a test keeps them equal).
IAM_ROLES: tuple[str, ...] = (
    "roles/compute.instanceAdmin.v1",
    "roles/container.clusterAdmin",
    "roles/tpu.admin",
    "roles/aiplatform.user",
    "roles/eventarc.eventReceiver",
)

# Compute Engine collections -> the request field that names one of them.
_SINGULAR = {"instances": "instance", "instanceGroupManagers": "instance_group_manager",
             "reservations": "reservation", "futureReservations": "future_reservation",
             "instanceTemplates": "instance_template"}
# Remediation labels: GCP label keys allow lowercase letters, digits, "_" and "-" only.
LABELS = {TAG_DECISION: "gatekeeper-decision", TAG_CASE_ID: "gatekeeper-case-id",
          TAG_DECISION_ID: "gatekeeper-decision-id"}


def snake(value: Any) -> Any:
    """camelCase JSON (an audit entry's request) -> the snake_case keys of ``to_dict``; ``@type`` dropped."""
    if isinstance(value, Mapping):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", str(k)).lower(): snake(v) for k, v in value.items()
                if k != "@type"}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def _names(resource_name: str) -> dict[str, str]:
    """``projects/p/zones/z/instances/i`` -> {"projects": "p", "zones": "z", "instances": "i"}."""
    parts = [p for p in resource_name.strip("/").split("/") if p and p != "global"]
    return {parts[i]: parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def request_of(op: GcpOperation, payload: Mapping[str, Any], resource_name: str) -> dict[str, Any]:
    """The audit entry's request in the shape the reader takes (the client's request as ``to_dict``)."""
    raw = payload.get("request")
    body = snake(raw) if isinstance(raw, Mapping) else {}
    names = _names(resource_name)
    req: dict[str, Any] = {}
    if op.service == "compute.googleapis.com":
        if op.body:
            req[op.body] = body
        req.update({k: v for k, v in body.items() if k not in req and not isinstance(v, Mapping | list)})
        req["project"] = names.get("projects", "")
        for key, field in (("zones", "zone"), ("regions", "region")):
            if key in names:
                req[field] = names[key]
        for collection, field in _SINGULAR.items():
            if collection in names:
                req.setdefault(field, names[collection])
    else:
        req.update(body)
        if not any(k in req for k in ("parent", "name", "endpoint")):
            req["parent"] = resource_name
    return req


class NoResolver:
    """``gatekeeper hooks test`` without ``--resolve``: references stay unresolved (fail closed)."""

    def compute(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        raise TranslationError(f"{kind} {ref!r} not read (dry run without --resolve)")

    def resource(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        raise TranslationError(f"{kind} {ref!r} not read (dry run without --resolve)")

    def node_pool(self, name: str) -> Mapping[str, Any] | None:
        raise TranslationError(f"node pool {name!r} not read (dry run without --resolve)")

    def tpu_node(self, name: str) -> Mapping[str, Any] | None:
        raise TranslationError(f"TPU node {name!r} not read (dry run without --resolve)")


class GcpClients:
    """The real Google Cloud clients the hook reads and acts through, made on first use.

    ``credentials`` default to Application Default Credentials (the function's service account);
    ``client_options`` go to every client (``{"api_endpoint": ...}`` for a stand-in); ``transport``
    ("rest" by default: one HTTP stack for every client).
    """

    def __init__(self, credentials: Any = None, client_options: Mapping[str, Any] | None = None,
                 transport: str = "rest") -> None:
        self.credentials = credentials
        self.client_options = dict(client_options or {})
        self.transport = transport
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, dotted: str) -> Any:
        """``compute_v1.InstancesClient`` -> that client."""
        with self._lock:
            client = self._cache.get(dotted)
            if client is None:
                import importlib

                module, cls = dotted.rsplit(".", 1)
                kind = getattr(importlib.import_module(f"google.cloud.{module}"), cls)
                client = kind(credentials=self.credentials, client_options=self.client_options or None,
                              transport=self.transport)
                self._cache[dotted] = client
        return client

    def own_ids(self) -> tuple[str, ...]:
        creds = self.credentials
        if creds is None:
            import google.auth

            creds, _ = google.auth.default()
        email = getattr(creds, "service_account_email", "")
        return (str(email).lower(),) if isinstance(email, str) and "@" in email else ()


class ClientResolver:
    """What a translation reads, through the real clients (read-only)."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    def _compute_get(self, ref: str, project: str, kind: str) -> Any:
        from google.api_core.exceptions import NotFound

        from gatekeeper.adapters.gcp._resolve import compute_path

        names = _names(compute_path(ref, project, kind))
        p, region, zone = names.get("projects", ""), names.get("regions"), names.get("zones")
        try:
            if kind == "template":
                if region:
                    return self.clients.get("compute_v1.RegionInstanceTemplatesClient").get(
                        project=p, region=region, instance_template=names["instanceTemplates"])
                return self.clients.get("compute_v1.InstanceTemplatesClient").get(
                    project=p, instance_template=names["instanceTemplates"])
            if kind == "image":
                return self.clients.get("compute_v1.MachineImagesClient").get(project=p,
                                                                               machine_image=names["machineImages"])
            if kind == "instance":
                return self.clients.get("compute_v1.InstancesClient").get(project=p, zone=zone,
                                                                          instance=names["instances"])
            if kind == "mig":
                if region:
                    return self.clients.get("compute_v1.RegionInstanceGroupManagersClient").get(
                        project=p, region=region, instance_group_manager=names["instanceGroupManagers"])
                return self.clients.get("compute_v1.InstanceGroupManagersClient").get(
                    project=p, zone=zone, instance_group_manager=names["instanceGroupManagers"])
            return self.clients.get("compute_v1.ReservationsClient").get(project=p, zone=zone,
                                                                         reservation=names["reservations"])
        except NotFound:
            return None
        except KeyError as exc:
            raise TranslationError(f"{ref!r} does not name a {kind}") from exc
        except Exception as exc:
            raise TranslationError(f"reading {ref} failed: {type(exc).__name__}: {exc}") from exc

    def compute(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        msg = self._compute_get(ref, project, kind)
        if msg is None:
            return None
        d: Mapping[str, Any] = type(msg).to_dict(msg, preserving_proto_field_name=True, use_integers_for_enums=False)
        if kind == "template":
            return d.get("properties") or {}
        if kind == "image":
            return d.get("instance_properties") or d.get("source_instance_properties") or {}
        return d

    def resource(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        return self.compute(ref, project, kind)

    def node_pool(self, name: str) -> Mapping[str, Any] | None:
        from google.cloud import container_v1

        return self._get("container_v1.ClusterManagerClient", "get_node_pool", container_v1.NodePool, name)

    def tpu_node(self, name: str) -> Mapping[str, Any] | None:
        from google.cloud import tpu_v2

        return self._get("tpu_v2.TpuClient", "get_node", tpu_v2.Node, name)

    def _get(self, client: str, method: str, message: Any, name: str) -> Mapping[str, Any] | None:
        """``name`` read through ``client.method`` as a dict; None when it does not exist."""
        from google.api_core.exceptions import NotFound

        try:
            found = getattr(self.clients.get(client), method)(name=name)
        except NotFound:
            return None
        except Exception as exc:
            raise TranslationError(f"reading {name} failed: {type(exc).__name__}: {exc}") from exc
        result: Mapping[str, Any] = message.to_dict(found, preserving_proto_field_name=True)
        return result


def affected(op: GcpOperation, req: Mapping[str, Any], payload: Mapping[str, Any], resource_name: str,
             request: ProvisioningRequest, accelerated: Callable[[int], bool], *,
             operation: str = "") -> tuple[Resource, ...]:
    """The resources the call created or changed, to put right (``operation``: the entry's
    ``operation.id``, a long-running call's operation name)."""
    region = request.region
    if op.kind == "gcp:node-pool":
        if op.reads == "cluster":
            raw_cluster = req.get("cluster")
            cluster: Mapping[str, Any] = raw_cluster if isinstance(raw_cluster, Mapping) else {}
            parent = str(req.get("parent") or resource_name)
            name = cluster.get("name") or ""
            base = parent if parent.rstrip("/").split("/")[-2:-1] == ["clusters"] else f"{parent}/clusters/{name}"
            pools = [p for p in (cluster.get("node_pools") or []) if isinstance(p, Mapping)]
            return tuple(Resource("gcp:node-pool", f"{base}/nodePools/{p.get('name')}", region)
                         for n, p in enumerate(pools) if accelerated(n))
        if op.reads == "node_pool":
            raw_pool = req.get("node_pool")
            pool: Mapping[str, Any] = raw_pool if isinstance(raw_pool, Mapping) else {}
            return (Resource("gcp:node-pool", f"{req.get('parent')}/nodePools/{pool.get('name')}", region),)
        return (Resource("gcp:node-pool", str(req.get("name") or resource_name), region),)
    if op.kind == "gcp:tpu-node":
        node_id = req.get("node_id")
        return (Resource(op.kind, f"{req.get('parent')}/nodes/{node_id}" if node_id else resource_name, region),)
    if op.kind == "gcp:queued-resource":
        qid = req.get("queued_resource_id")
        return (Resource(op.kind, f"{req.get('parent')}/queuedResources/{qid}" if qid else resource_name, region),)
    if op.kind in ("gcp:custom-job", "gcp:tuning-job"):
        created = P.text(payload, "response.name")
        return (Resource(op.kind, created or resource_name, region),)
    if op.kind == "gcp:deployed-model":
        handle = _deployment(op, req, payload, resource_name, operation)
        # No handle: nothing to act on, which the hook records as an error rather than retrying forever.
        return (Resource(op.kind, handle, region),) if handle else ()
    if op.kind:
        return (Resource(op.kind, resource_name, region),)
    return ()


def _deployment(op: GcpOperation, req: Mapping[str, Any], payload: Mapping[str, Any], resource_name: str,
                operation: str = "") -> str:
    """What a Vertex AI deployment's remediation acts on.

    A DeployModel entry is written when the deployment starts, before Vertex AI assigns the deployed
    model's id; its response (or, failing that, the entry's ``operation.id``) is the long-running
    operation (``.../endpoints/E/operations/N``), whose result names the id once the deployment is
    done: the operation is the handle. A caller may also
    choose the id (``deployed_model.id``), and MutateDeployedModel always names it, as
    ``<endpoint>/deployedModels/<id>``. "" when the entry gives neither.
    """
    endpoint = P.text(req, "endpoint") or resource_name
    for name in (P.text(payload, "response.name"), operation):
        if op.method == "deploy_model" and "/operations/" in name:
            return name
    chosen = P.text(req, "deployed_model.id")
    return f"{endpoint}/deployedModels/{chosen}" if chosen else ""


class GcpHook(_core.ReadingHook):
    """Handles one Cloud Audit Logs entry (an Eventarc CloudEvent, or the LogEntry itself)."""

    hook = HOOK

    def new_clients(self) -> GcpClients:
        return GcpClients()

    def handle(self, event: Any) -> dict[str, Any]:
        run = self.new_run(self._execute)
        if not isinstance(event, Mapping):
            return run.malformed(_core.event_digest(event), InvalidInputError("the event is not a JSON object"), {})
        entry = event.get("data") if "protoPayload" not in event else event
        event_id = event.get("id") if "protoPayload" not in event else None
        if not isinstance(entry, Mapping):
            return run.malformed(_core.event_digest(event), InvalidInputError(
                "the event carries no audit log entry (data)", field="data"), {})
        event_id = event_id if isinstance(event_id, str) and event_id.strip() else entry.get("insertId")
        if not isinstance(event_id, str) or not event_id.strip():
            return run.malformed(_core.event_digest(event), InvalidInputError(
                "the event has no id (neither a CloudEvent id nor an insertId)"), {})
        event_id = event_id.strip()
        payload = entry.get("protoPayload")
        if not isinstance(payload, Mapping):
            return run.malformed(event_id, InvalidInputError("the entry has no protoPayload", field="protoPayload"),
                                 {})
        service, method = P.text(payload, "serviceName"), P.text(payload, "methodName")
        context = {"service": service, "method": method, "resource_name": P.text(payload, "resourceName")}
        op = BY_METHOD.get((service, method_key(method)))
        if op is None:
            return _core.answer(_core.IGNORED, event_id, f"{service} {method} provisions no compute gatekeeper covers")
        code = P.integer(payload, "status.code")
        if code:
            return _core.answer(_core.SKIPPED, event_id, f"the call failed (status {code})")
        if "request" not in payload and P.text(entry, "operation.last"):
            return _core.answer(_core.IGNORED, event_id, "the operation's completion entry (its first entry carried "
                                                         "the request)")
        principal = P.text(payload, "authenticationInfo.principalEmail")
        if principal and principal.lower() in self.identity():
            return _core.answer(_core.IGNORED, event_id, f"called by {principal}, whose calls the hook ignores")
        resource_name = context["resource_name"]
        if not resource_name.startswith("projects/"):
            return run.run(event_id, _core.raising(InvalidInputError(
                f"protoPayload.resourceName {resource_name!r} names no project", field="protoPayload.resourceName")),
                context)
        operation = P.text(entry, "operation.id")  # a long-running call's operation (LogEntry.operation)
        return run.run(event_id, lambda: self._prepare(op, payload, resource_name, principal, operation), context)

    def subject(self, resource_name: str) -> str:
        project = _names(resource_name).get("projects", "")
        mapped = self.gk.config.hooks.account_map
        return str(mapped.get(project, project))

    def _prepare(self, op: GcpOperation, payload: Mapping[str, Any], resource_name: str,
                 principal: str, operation: str = "") -> _core.Prepared:
        if not isinstance(payload.get("request", {}), Mapping):
            raise InvalidInputError("protoPayload.request is not an object", field="protoPayload.request")
        req = request_of(op, payload, resource_name)
        account = self.subject(resource_name)
        resolver: Any = ClientResolver(self.clients) if self.read else NoResolver()
        request = translate(op, req, resolver, subject=account)
        if request is None:
            return _core.Prepared(None, reason=f"{op.operation} changes no compute")
        if not request.region:
            request = ProvisioningRequest(**{**_fields(request), "region": region_of(location_of(
                {"name": resource_name}) or _names(resource_name).get("zones", "") or
                _names(resource_name).get("regions", ""))})
        request = ProvisioningRequest(**{**_fields(request), "principal": principal, "source": HOOK,
                                         "resource_ids": (resource_name,)})
        if not request.unresolved and not any(i.count > 0 for i in request.items):
            return _core.Prepared(None, reason=f"{resource_name} runs no capacity after this call")
        gk = self.gk

        def accelerated(n: int) -> bool:
            items = request.items
            return n < len(items) and bool(gk.catalog.classify_item("gcp", items[n]).accelerated)

        return _core.Prepared(request, affected(op, req, payload, resource_name, request, accelerated,
                                                operation=operation))

    # -- remediation through the real clients ------------------------------------------------------
    def _execute(self, action: Action) -> str:
        from google.api_core.exceptions import NotFound

        try:
            return self._act(action)
        except NotFound:
            return "no longer exists"  # deleted since the call: nothing left to put right

    def _act(self, action: Action) -> str:
        res, what = action.resource, action.action
        n = _names(res.id)
        p, zone, region = n.get("projects", ""), n.get("zones"), n.get("regions")
        if res.kind == "gcp:instance":
            client = self.clients.get("compute_v1.InstancesClient")
            name = n.get("instances", "")
            if what == "tag":
                current = client.get(project=p, zone=zone, instance=name)
                labels = _labels(dict(current.labels), action)
                if labels is None:
                    return "already labelled"
                from google.cloud import compute_v1

                client.set_labels(project=p, zone=zone, instance=name,
                                  instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                                      labels=labels, label_fingerprint=current.label_fingerprint))
                return "labelled"
            if what == "stop":
                client.stop(project=p, zone=zone, instance=name)
                return "stop requested"
            if what == "delete":
                client.delete(project=p, zone=zone, instance=name)
                return "delete requested"
        elif res.kind == "gcp:instance-group":
            mig = n.get("instanceGroupManagers", "")
            client = self.clients.get("compute_v1.RegionInstanceGroupManagersClient" if region
                                      else "compute_v1.InstanceGroupManagersClient")
            where = {"region": region} if region else {"zone": zone}
            if what == "scale_to_zero":
                client.resize(project=p, instance_group_manager=mig, size=0, **where)
                return "resized to 0"
            if what == "delete":
                client.delete(project=p, instance_group_manager=mig, **where)
                return "delete requested"
        elif res.kind == "gcp:instance-template" and what == "delete":
            if region:
                self.clients.get("compute_v1.RegionInstanceTemplatesClient").delete(
                    project=p, region=region, instance_template=n.get("instanceTemplates", ""))
            else:
                self.clients.get("compute_v1.InstanceTemplatesClient").delete(
                    project=p, instance_template=n.get("instanceTemplates", ""))
            return "delete requested"
        elif res.kind in ("gcp:reservation", "gcp:future-reservation") and what == "delete":
            if res.kind == "gcp:reservation":
                self.clients.get("compute_v1.ReservationsClient").delete(project=p, zone=zone,
                                                                        reservation=n.get("reservations", ""))
            else:
                self.clients.get("compute_v1.FutureReservationsClient").delete(
                    project=p, zone=zone, future_reservation=n.get("futureReservations", ""))
            return "delete requested"
        elif res.kind == "gcp:node-pool":
            client = self.clients.get("container_v1.ClusterManagerClient")
            if what == "scale_to_zero":
                from google.cloud import container_v1

                client.set_node_pool_autoscaling(request=container_v1.SetNodePoolAutoscalingRequest(
                    name=res.id, autoscaling=container_v1.NodePoolAutoscaling(enabled=False)))
                client.set_node_pool_size(request=container_v1.SetNodePoolSizeRequest(name=res.id, node_count=0))
                return "scaled to 0 nodes (autoscaler off)"
            if what == "delete":
                client.delete_node_pool(name=res.id)
                return "delete requested"
        elif res.kind == "gcp:tpu-node":
            client = self.clients.get("tpu_v2.TpuClient")
            if what == "stop":
                from google.cloud import tpu_v2

                client.stop_node(request=tpu_v2.StopNodeRequest(name=res.id))
                return "stop requested"
            if what == "delete":
                client.delete_node(name=res.id)
                return "delete requested"
        elif res.kind == "gcp:queued-resource" and what == "delete":
            from google.cloud import tpu_v2

            self.clients.get("tpu_v2.TpuClient").delete_queued_resource(
                request=tpu_v2.DeleteQueuedResourceRequest(name=res.id, force=True))
            return "delete requested"
        elif res.kind in ("gcp:custom-job", "gcp:tuning-job") and what == "cancel":
            client = self.clients.get("aiplatform_v1.JobServiceClient")
            (client.cancel_custom_job if res.kind == "gcp:custom-job" else client.cancel_hyperparameter_tuning_job)(
                name=res.id)
            return "cancel requested"
        elif res.kind == "gcp:deployed-model" and what == "undeploy":
            return self._undeploy(res.id)
        elif res.kind == "gcp:persistent-resource" and what == "delete":
            self.clients.get("aiplatform_v1.PersistentResourceServiceClient").delete_persistent_resource(name=res.id)
            return "delete requested"
        raise ResolutionError(f"no executor for {what} on {res.kind}")


    def _undeploy(self, target: str) -> str:
        """Cancel a deployment in progress, or undeploy the model it (or the caller) deployed."""
        client = self.clients.get("aiplatform_v1.EndpointServiceClient")
        if "/operations/" in target:
            operation = client.get_operation({"name": target})
            if not operation.done:
                client.cancel_operation({"name": target})
                return "deployment in progress: cancel requested"
            if operation.HasField("error") and operation.error.code:
                return f"nothing deployed (the deployment ended with status {operation.error.code})"
            from google.cloud import aiplatform_v1

            result = aiplatform_v1.DeployModelResponse.deserialize(operation.response.value)
            endpoint, chosen = target.split("/operations/")[0], result.deployed_model.id
        elif "/deployedModels/" in target:
            endpoint, chosen = target.split("/deployedModels/", 1)
        else:
            raise ResolutionError(f"{target} names neither a deployment's operation nor a deployed model")
        if not chosen:
            raise ResolutionError(f"the deployment {target} finished without a deployed model id: undeploy by hand")
        client.undeploy_model(endpoint=endpoint, deployed_model_id=chosen)
        return f"undeploy of deployed model {chosen} requested"


def _fields(request: ProvisioningRequest) -> dict[str, Any]:
    return {f: getattr(request, f) for f in request.__dataclass_fields__}


def _labels(current: dict[str, str], action: Action) -> dict[str, str] | None:
    """The instance's labels with the decision's, keyed by the case (GCP label syntax); None when unchanged."""
    wanted = {LABELS[k]: v.lower()[:63] for k, v in action.tags if k in LABELS}
    if LABELS[TAG_CASE_ID] in wanted or LABELS[TAG_DECISION_ID] in current:
        wanted.pop(LABELS[TAG_DECISION_ID], None)
    merged = {**current, **wanted}
    return None if merged == current else merged


# -- the functions-framework entry point ------------------------------------------------------------
_lock = threading.Lock()
_hook: GcpHook | None = None


def event_dict(event: Any) -> Any:
    """A ``cloudevents`` CloudEvent as its JSON (attributes and ``data``); a dict passes through."""
    if isinstance(event, Mapping) or not hasattr(event, "get_attributes"):
        return event
    return {**dict(event.get_attributes()), "data": event.get_data()}


def handle(event: Any) -> dict[str, Any]:
    """Decide one Eventarc CloudEvent with the process-wide runtime (created on first use)."""
    global _hook
    from gatekeeper.runtime import current

    with _lock:
        if _hook is None:
            _core.bootstrap_config()
        gk = current()
        if _hook is None or _hook.gk is not gk:
            _hook = GcpHook(gk)
            _hook.identity()  # at start-up: the function's own service account, so its calls never loop
        hook = _hook
    try:
        return hook.handle(event_dict(event))
    finally:
        # The instance may be stopped once the event is handled: vouch for its records now.
        hook.gk.publish_audit_digest()


def reset() -> None:
    global _hook
    with _lock:
        _hook = None
