"""The one reader of the Google Cloud spec: a request -> one ProvisioningRequest, or None when it provisions nothing.

The SDK adapter passes the request message as ``to_dict`` gives it; the Cloud Audit Logs hook passes
the audit entry's request in the same snake_case shape (``gatekeeper.hooks.gcp_function``).

Works on ``type(msg).to_dict(msg)`` (snake_case field names), so it serves every transport (REST or
gRPC). Machine types may be zone URLs (the catalog keeps the last path segment); accelerators come
from ``guestAccelerators`` (Compute Engine) or ``config.accelerators`` (GKE) and are decided with
the machine type.

What a request leaves to another resource is read from it through ``Resolver`` (read-only calls on
the caller's own transport): the instance template or machine image an insert names (its machine
type, and its accelerators unless the insert overrides them), the source instance of a template,
the node pool a resize or update applies to.

GKE counts: a node pool's ``initial_node_count`` and autoscaler maximum are per zone, so the count
is that times the pool's zones (its ``locations``; else 1 for a zonal and 3, GKE's default, for a
regional cluster), or the autoscaler's ``total_max_node_count`` when set. An empty GKE machine type
is GKE's documented default, ``e2-medium``. Autopilot clusters provision nodes from workloads, not
from this call, so their creation provisions nothing here.

# INVARIANT: anything that cannot be translated becomes a request with ``unresolved`` set (denied
# fail-closed); never None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gatekeeper.model import AttachedAccelerator, ComputeItem, ProvisioningRequest
from gatekeeper.providers._paths import MAX_COUNT, deep_merge, number, shown
from gatekeeper.providers.gcp.operations import GcpOperation
from gatekeeper.providers.gcp.vocabulary import tpu_slice, tpu_topology, vertex_accelerator

GKE_DEFAULT_MACHINE_TYPE = "e2-medium"
GKE_REGIONAL_ZONES = 3
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


class TranslationError(ValueError):
    """The request cannot be turned into what it provisions; decided fail-closed."""


class Resolver(Protocol):
    def compute(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        """An instance-like dict (``machine_type``, ``guest_accelerators``) of the instance template
        (``kind`` "template"), machine image ("image") or instance ("instance") at ``ref``; None when
        it does not exist. Raises on any other failure."""
        ...

    def resource(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        """A managed instance group (``kind`` "mig") or reservation ("reservation") at ``ref``, as
        ``to_dict`` gives it; None when it does not exist. Raises on any other failure."""
        ...

    def node_pool(self, name: str) -> Mapping[str, Any] | None:
        """The GKE node pool ``projects/P/locations/L/clusters/C/nodePools/N`` as a dict; None if absent."""
        ...

    def tpu_node(self, name: str) -> Mapping[str, Any] | None:
        """The Cloud TPU node ``projects/P/locations/L/nodes/N`` as a dict; None if absent."""
        ...


def get(d: Any, path: str) -> Any:
    node = d
    for key in path.split(".") if path else ():
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _number(value: Any, what: str) -> int:
    # int64 fields arrive as strings from to_dict and in audit entries; audit entries are untrusted.
    n = number(value)
    if n is None or not n.is_integer():
        raise TranslationError(f"{what} is not a count: {shown(value)}")
    if n < 0:
        raise TranslationError(f"{what} is negative: {shown(value)}")
    if n > MAX_COUNT:
        raise TranslationError(f"{what} is out of range (0 to {MAX_COUNT}): {shown(value)}")
    return int(n)


def region_of(location: str) -> str:
    """``us-central1-a`` -> ``us-central1``; a region stays as it is."""
    m = _ZONE.match(location)
    return m.group(1) if m else location


def _after(name: str, key: str) -> str:
    parts = name.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == key:
            return parts[i + 1]
    return ""


def project_of(req: Mapping[str, Any]) -> str:
    for key in ("project", "project_id"):
        if isinstance(req.get(key), str) and req[key]:
            return str(req[key])
    for key in ("parent", "name", "endpoint"):
        if isinstance(req.get(key), str) and (p := _after(req[key], "projects")):
            return p
    return ""


_TPU_NODE = re.compile(r"projects/[^/]+/locations/[^/]+/nodes/[^/]+")


def location_of(req: Mapping[str, Any]) -> str:
    for key in ("zone", "region"):
        if isinstance(req.get(key), str) and req[key]:
            return str(req[key])
    for key in ("parent", "name", "endpoint"):
        if isinstance(req.get(key), str) and (loc := _after(req[key], "locations")):
            return loc
    return ""


def _accelerators(raw: Any, what: str, *, type_key: str = "accelerator_type",
                  count_key: str = "accelerator_count") -> tuple[AttachedAccelerator, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise TranslationError(f"{what} is not a list")
    out = []
    for n, acc in enumerate(raw):
        kind = acc.get(type_key) if isinstance(acc, Mapping) else None
        if not isinstance(kind, str) or not kind.strip():
            raise TranslationError(f"{what}[{n}] names no accelerator type")
        given = acc.get(count_key)
        # A missing (or zero, proto3's unset) count is read as one accelerator: never as none.
        count = _number(given, f"{what}[{n}].{count_key}") if given not in (None, "", 0, "0") else 1
        out.append(AttachedAccelerator(kind.strip(), count))
    return tuple(out)


class _Translator:
    def __init__(self, op: GcpOperation, req: Mapping[str, Any], resolver: Resolver) -> None:
        self.op, self.req, self.resolver = op, req, resolver
        self.project = project_of(req)
        self.location = location_of(req)

    # -- Compute Engine ------------------------------------------------------------------------
    def instance(self) -> tuple[ComputeItem, ...] | None:
        op, req = self.op, self.req
        d = get(req, op.at)
        d = d if isinstance(d, Mapping) else {}
        machine_type = d.get("machine_type") or ""
        accs = _accelerators(d.get("guest_accelerators"), f"{op.at}.guest_accelerators")
        if not op.machine_type_required and not machine_type and not accs:
            return None  # setMachineResources without accelerators: memory/CPU only
        source = ""
        for path, kind in ((op.template, "template"), (op.image, "image"), (op.source_instance, "instance")):
            ref = get(req, path) if path else None
            if not ref:
                continue
            if machine_type and accs:
                break  # the request overrides all the source could add
            src = self.resolver.compute(str(ref), self.project, kind)
            if src is None:
                raise TranslationError(f"{path} {ref!r} does not exist")
            source = f"{path} {ref}"
            machine_type = machine_type or src.get("machine_type") or ""
            if not accs:  # the request's guestAccelerators replace the source's
                accs = _accelerators(src.get("guest_accelerators"), f"{source}: guest_accelerators")
            break
        if not machine_type and op.machine_type_required:
            raise TranslationError(f"{op.at}.machine_type is not given" + (f" (nor by {source})" if source else ""))
        count = _number(get(req, op.count), op.count) if op.count else 1
        return (ComputeItem(instance_type=str(machine_type), count=count, attached=accs, path=f"{op.at}.machine_type"),)

    def instance_start(self) -> tuple[ComputeItem, ...] | None:
        name, zone = self.req.get("instance"), self.req.get("zone")
        if not (isinstance(name, str) and name and isinstance(zone, str) and zone and self.project):
            raise TranslationError("the instance is not named (project, zone, instance)")
        ref = f"projects/{self.project}/zones/{zone}/instances/{name}"
        current = self.resolver.compute(ref, self.project, "instance")
        if current is None:
            raise TranslationError(f"{ref} does not exist")
        machine_type = current.get("machine_type") or ""
        if not machine_type:
            raise TranslationError(f"{ref} names no machine type")
        accs = _accelerators(current.get("guest_accelerators"), f"{ref}: guest_accelerators")
        return (ComputeItem(instance_type=str(machine_type), count=1, attached=accs, path=f"{ref}.machine_type"),)

    # -- managed instance groups -----------------------------------------------------------------
    def _template_items(self, refs: list[tuple[str, str]], count: int) -> tuple[ComputeItem, ...]:
        """The machine type of each instance template, ``count`` machines each (alternatives when several)."""
        items = []
        choice = "versions" if len(refs) > 1 else ""
        for ref, path in refs:
            src = self.resolver.compute(ref, self.project, "template")
            if src is None:
                raise TranslationError(f"{path} {ref!r} does not exist")
            machine_type = src.get("machine_type") or ""
            if not machine_type:
                raise TranslationError(f"{path} {ref!r} names no machine type")
            accs = _accelerators(src.get("guest_accelerators"), f"{ref}: guest_accelerators")
            items.append(ComputeItem(instance_type=str(machine_type), count=count, attached=accs, choice=choice,
                                     path=path))
        return tuple(items)

    def _mig_ref(self) -> str:
        name = self.req.get("instance_group_manager")
        where = ("zones", self.req.get("zone")) if self.req.get("zone") else ("regions", self.req.get("region"))
        if not (isinstance(name, str) and name and isinstance(where[1], str) and where[1] and self.project):
            raise TranslationError("the instance group manager is not named (project, zone or region, name)")
        return f"projects/{self.project}/{where[0]}/{where[1]}/instanceGroupManagers/{name}"

    def _current(self, kind: str, ref: str) -> Mapping[str, Any]:
        found = self.resolver.resource(ref, self.project, kind)
        if found is None:
            raise TranslationError(f"{ref} does not exist")
        return found

    @staticmethod
    def _mig_templates(mig: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        versions = mig.get("versions") or []
        refs = [(str(v["instance_template"]), f"{path}.versions[{n}].instance_template")
                for n, v in enumerate(versions) if isinstance(v, Mapping) and v.get("instance_template")]
        if not refs and mig.get("instance_template"):
            refs = [(str(mig["instance_template"]), f"{path}.instance_template")]
        return refs

    def mig(self) -> tuple[ComputeItem, ...] | None:
        op = self.op
        d = get(self.req, op.at)
        d = dict(d) if isinstance(d, Mapping) else {}
        if op.method != "insert":
            if not any(k in d for k in ("instance_template", "versions", "target_size")):
                return None  # update policy, autohealing, names: not a provisioning change
            d = deep_merge(self._current("mig", self._mig_ref()), d)
        refs = self._mig_templates(d, op.at)
        if not refs:
            raise TranslationError(f"{op.at} names no instance template")
        return self._template_items(refs, _number(d.get("target_size") or 0, f"{op.at}.target_size"))

    def mig_size(self) -> tuple[ComputeItem, ...] | None:
        ref = self._mig_ref()
        current = self._current("mig", ref)
        size = _number(current.get("target_size") or 0, f"{ref}.target_size")
        given = get(self.req, self.op.count)
        if self.op.method == "resize":
            count = _number(given if given is not None else 0, self.op.count)
        elif self.op.method == "create_instances":
            if not isinstance(given, Sequence) or isinstance(given, str):
                raise TranslationError(f"{self.op.count} is not a list")
            count = size + len(given)
        else:
            count = size + _number(given if given is not None else 0, self.op.count)
        refs = self._mig_templates(current, ref)
        if not refs:
            raise TranslationError(f"{ref} names no instance template")
        return self._template_items(refs, count)

    def mig_template(self) -> tuple[ComputeItem, ...] | None:
        ref = self._mig_ref()
        template = get(self.req, self.op.template)
        if not isinstance(template, str) or not template:
            raise TranslationError(f"{self.op.template} is not given")
        current = self._current("mig", ref)
        count = _number(current.get("target_size") or 0, f"{ref}.target_size")
        return self._template_items([(template, self.op.template)], count)

    # -- reservations ----------------------------------------------------------------------------
    def _properties(self, props: Any, template: Any, path: str, count: int) -> tuple[ComputeItem, ...]:
        props = props if isinstance(props, Mapping) else {}
        machine_type = props.get("machine_type") or ""
        accs = _accelerators(props.get("guest_accelerators"), f"{path}.guest_accelerators")
        if not machine_type and isinstance(template, str) and template:
            return self._template_items([(template, f"{path}.source_instance_template")], count)
        if not machine_type:
            raise TranslationError(f"{path}.machine_type is not given")
        return (ComputeItem(instance_type=str(machine_type), count=count, attached=accs, path=f"{path}.machine_type"),)

    def _reservation(self, spec: Mapping[str, Any], path: str) -> tuple[ComputeItem, ...]:
        count = _number(spec.get("count") or 0, f"{path}.count")
        return self._properties(spec.get("instance_properties"), spec.get("source_instance_template"),
                                f"{path}.instance_properties", count)

    def _reservation_ref(self) -> str:
        name = self.req.get("reservation")
        if not (isinstance(name, str) and name and self.project and self.location):
            raise TranslationError("the reservation is not named (project, zone, name)")
        return f"projects/{self.project}/zones/{self.location}/reservations/{name}"

    def reservation(self) -> tuple[ComputeItem, ...] | None:
        spec = get(self.req, self.op.at)
        if not isinstance(spec, Mapping):
            return None  # a reservation of no specific SKU (an aggregate or a commitment's): nothing typed
        if self.op.method == "update":
            current = get(self._current("reservation", self._reservation_ref()), "specific_reservation")
            spec = deep_merge(current if isinstance(current, Mapping) else {}, spec)
        return self._reservation(spec, self.op.at)

    def reservation_size(self) -> tuple[ComputeItem, ...] | None:
        ref = self._reservation_ref()
        spec = get(self._current("reservation", ref), "specific_reservation")
        if not isinstance(spec, Mapping):
            raise TranslationError(f"{ref} has no specific reservation")
        count = _number(get(self.req, self.op.count) or 0, self.op.count)
        return self._reservation({**spec, "count": count}, ref)

    def future_reservation(self) -> tuple[ComputeItem, ...] | None:
        d = get(self.req, self.op.at)
        sku = get(d, "specific_sku_properties")
        if not isinstance(sku, Mapping):
            return None
        count = _number(sku.get("total_count") or 0, f"{self.op.at}.specific_sku_properties.total_count")
        return self._properties(sku.get("instance_properties"), sku.get("source_instance_template"),
                                f"{self.op.at}.specific_sku_properties.instance_properties", count)

    # -- Cloud TPU -------------------------------------------------------------------------------
    @staticmethod
    def _tpu(node: Any, path: str, count: int) -> ComputeItem:
        if not isinstance(node, Mapping):
            raise TranslationError(f"{path} is missing")
        kind = node.get("accelerator_type")
        config = node.get("accelerator_config")
        found = None
        if isinstance(kind, str) and kind.strip():
            found = tpu_slice(kind)
            if found is None:
                raise TranslationError(f"{path}.accelerator_type {kind!r} is not a TPU slice (VERSION-SIZE)")
        elif isinstance(config, Mapping) and (config.get("type") or config.get("type_")):
            found = tpu_topology(str(config.get("type") or config.get("type_")), str(config.get("topology") or ""))
            if found is None:
                raise TranslationError(f"{path}.accelerator_config topology {config.get('topology')!r} is not AxB[xC]")
        if found is None:
            raise TranslationError(f"{path} names neither accelerator_type nor accelerator_config")
        return ComputeItem(instance_type="", count=count, attached=(AttachedAccelerator(found[0], found[1]),),
                           path=f"{path}.accelerator_type")

    def tpu_node(self) -> tuple[ComputeItem, ...] | None:
        return (self._tpu(get(self.req, self.op.at), self.op.at, 1),)

    def tpu_start(self) -> tuple[ComputeItem, ...] | None:
        # A node stopped (by its owner, or by the hook's remediation) keeps its slice; starting it
        # runs that slice again, so it is decided on the node as it is.
        name = self.req.get("name")
        if not (isinstance(name, str) and _TPU_NODE.fullmatch(name)):
            raise TranslationError(f"name {name!r} is not projects/P/locations/L/nodes/N")
        node = self.resolver.tpu_node(name)
        if node is None:
            raise TranslationError(f"{name} does not exist")
        return (self._tpu(node, name, 1),)

    def tpu_queued(self) -> tuple[ComputeItem, ...] | None:
        qr = get(self.req, self.op.at)
        specs = get(qr, "tpu.node_spec")
        if not isinstance(specs, Sequence) or isinstance(specs, str) or not specs:
            raise TranslationError(f"{self.op.at}.tpu.node_spec is missing")
        out = []
        for n, spec in enumerate(specs):
            if not isinstance(spec, Mapping):
                raise TranslationError(f"{self.op.at}.tpu.node_spec[{n}] is not an object")
            slices = _number(get(spec, "multislice_params.node_count") or 1, "multislice_params.node_count")
            if not self.location and isinstance(spec.get("parent"), str):
                self.location = _after(spec["parent"], "locations")
            out.append(self._tpu(spec.get("node"), f"{self.op.at}.tpu.node_spec[{n}].node", max(slices, 1)))
        return tuple(out)

    # -- Vertex AI -------------------------------------------------------------------------------
    def machine_specs(self) -> tuple[ComputeItem, ...] | None:
        op = self.op
        raw = get(self.req, op.at)
        pools = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else [raw] if raw else []
        multiplier = _number(get(self.req, op.multiplier) or 1, op.multiplier) if op.multiplier else 1
        out = []
        for n, pool in enumerate(pools):
            path = f"{op.at}[{n}]" if isinstance(raw, Sequence) else op.at
            if not isinstance(pool, Mapping):
                raise TranslationError(f"{path} is not an object")
            spec = pool.get("machine_spec")
            if not isinstance(spec, Mapping):
                continue  # an empty worker pool slot (Vertex allows gaps)
            counts = [v for alt in op.count.split("|") if (v := get(pool, alt)) not in (None, "", 0, "0")]
            count = max((_number(v, f"{path}.{op.count}") for v in counts), default=1) * max(multiplier, 1)
            kind = spec.get("accelerator_type")
            accs: tuple[AttachedAccelerator, ...] = ()
            if isinstance(kind, str) and kind and kind != "ACCELERATOR_TYPE_UNSPECIFIED":
                per = spec.get("accelerator_count")
                accs = (AttachedAccelerator(vertex_accelerator(kind),
                                            _number(per, f"{path}.machine_spec.accelerator_count")
                                            if per not in (None, "", 0, "0") else 1),)
            elif kind not in (None, "", "ACCELERATOR_TYPE_UNSPECIFIED"):
                raise TranslationError(f"{path}.machine_spec.accelerator_type is not a name: {kind!r}")
            machine_type = spec.get("machine_type") or ""
            if not machine_type and not accs:
                raise TranslationError(f"{path}.machine_spec names no machine type")
            out.append(ComputeItem(instance_type=str(machine_type), count=count, attached=accs,
                                   path=f"{path}.machine_spec"))
        return tuple(out) if out else None

    # -- GKE -----------------------------------------------------------------------------------
    def _zones(self, locations: Any, fallback: str) -> int:
        if isinstance(locations, Sequence) and not isinstance(locations, str) and locations:
            return len(locations)
        return 1 if _ZONE.match(fallback) else GKE_REGIONAL_ZONES

    def _pool(self, pool: Mapping[str, Any], path: str, zones: int,
              per_zone: int | None = None) -> ComputeItem:
        cfg = pool.get("config") if isinstance(pool.get("config"), Mapping) else {}
        machine_type = (cfg or {}).get("machine_type") or GKE_DEFAULT_MACHINE_TYPE
        accs = _accelerators((cfg or {}).get("accelerators"), f"{path}.config.accelerators")
        n = per_zone if per_zone is not None else _number(pool.get("initial_node_count") or 0,
                                                           f"{path}.initial_node_count")
        auto = pool.get("autoscaling") if isinstance(pool.get("autoscaling"), Mapping) else None
        total_max = 0
        if auto and auto.get("enabled"):
            n = max(n, _number(auto.get("max_node_count") or 0, f"{path}.autoscaling.max_node_count"))
            total_max = _number(auto.get("total_max_node_count") or 0, f"{path}.autoscaling.total_max_node_count")
        count = max(total_max, n * zones)
        return ComputeItem(instance_type=str(machine_type), count=count, attached=accs, path=f"{path}.config")

    def node_pool(self) -> tuple[ComputeItem, ...] | None:
        pool = get(self.req, self.op.at)
        if not isinstance(pool, Mapping):
            raise TranslationError(f"{self.op.at} is missing")
        return (self._pool(pool, self.op.at, self._zones(pool.get("locations"), self.location)),)

    def cluster(self) -> tuple[ComputeItem, ...] | None:
        cluster = get(self.req, self.op.at)
        if not isinstance(cluster, Mapping):
            raise TranslationError(f"{self.op.at} is missing")
        if not self.location and isinstance(cluster.get("location"), str):
            self.location = cluster["location"]
        if get(cluster, "autopilot.enabled"):
            return None
        zones = self._zones(cluster.get("locations"), self.location)
        pools = cluster.get("node_pools") or []
        if not isinstance(pools, Sequence):
            raise TranslationError(f"{self.op.at}.node_pools is not a list")
        if pools:
            return tuple(self._pool(p, f"{self.op.at}.node_pools[{p.get('name') or n}]",
                                    self._zones(p.get("locations"), "") if p.get("locations") else zones)
                         for n, p in enumerate(pools) if isinstance(p, Mapping))
        legacy = {"config": cluster.get("node_config") or {}, "initial_node_count": cluster.get("initial_node_count")}
        return (self._pool(legacy, self.op.at, zones),)

    def _pool_name(self) -> str:
        req = self.req
        if isinstance(req.get("name"), str) and req["name"]:
            return str(req["name"])
        parts = (req.get("project_id"), req.get("zone"), req.get("cluster_id"), req.get("node_pool_id"))
        if not all(isinstance(p, str) and p for p in parts):
            raise TranslationError("the node pool is not named (name, or project_id/zone/cluster_id/node_pool_id)")
        p, z, c, n = parts
        return f"projects/{p}/locations/{z}/clusters/{c}/nodePools/{n}"

    def _current_pool(self) -> tuple[Mapping[str, Any], str]:
        name = self._pool_name()
        pool = self.resolver.node_pool(name)
        if pool is None:
            raise TranslationError(f"node pool {name} does not exist")
        return pool, name

    def pool_update(self) -> tuple[ComputeItem, ...] | None:
        machine_type = self.req.get("machine_type") or ""
        accs = self.req.get("accelerators") or []
        if not machine_type and not accs:
            return None  # version, image, labels, ...: not a provisioning change
        pool, name = self._current_pool()
        cfg = dict(pool.get("config") or {})
        if machine_type:
            cfg["machine_type"] = machine_type
        if accs:
            cfg["accelerators"] = accs
        merged = {**pool, "config": cfg}
        return (self._pool(merged, name, self._zones(pool.get("locations"), self.location)),)

    def pool_size(self) -> tuple[ComputeItem, ...] | None:
        pool, name = self._current_pool()
        size = _number(self.req.get("node_count") or 0, "node_count")
        without_autoscaling = {**pool, "autoscaling": None}
        return (self._pool(without_autoscaling, name, self._zones(pool.get("locations"), self.location), size),)

    def pool_autoscaling(self) -> tuple[ComputeItem, ...] | None:
        auto = self.req.get("autoscaling")
        if not isinstance(auto, Mapping) or not auto.get("enabled"):
            return None  # turning the autoscaler off adds nothing
        pool, name = self._current_pool()
        merged = {**pool, "autoscaling": auto, "initial_node_count": 0}
        return (self._pool(merged, name, self._zones(pool.get("locations"), self.location)),)


def translate(op: GcpOperation, req: Mapping[str, Any], resolver: Resolver, *,
              subject: str | None = None) -> ProvisioningRequest | None:
    """The ProvisioningRequest for a recognised call; None when it changes no compute."""
    t = _Translator(op, req, resolver)

    def request(items: tuple[ComputeItem, ...], unresolved: tuple[str, ...] = ()) -> ProvisioningRequest:
        ref = req.get("name") or req.get("parent") or req.get("instance") or ""
        return ProvisioningRequest(
            provider="gcp", account_id=(subject or t.project).strip(), items=items,
            region=region_of(t.location), service=op.service, operation=op.operation,
            resource_ids=(str(ref),) if ref else (), unresolved=unresolved)

    try:
        reader = getattr(t, op.reads, None)
        if reader is None:
            raise TranslationError(f"gatekeeper has no reader {op.reads!r}")
        items = reader()
        if items is None:
            return None
        if not (subject or t.project):
            raise TranslationError("the request names no project")
    except TranslationError as exc:
        return request((), (f"{op.operation}: {exc}",))
    return request(items)
