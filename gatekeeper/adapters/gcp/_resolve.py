"""Read-only look-ups a translation needs, made through the caller's own transport.

Compute Engine: an instance template, machine image, instance, managed instance group or reservation
named by reference, fetched with
the REST transport's authorised session from the transport's host (so the same credentials, the
same endpoint, the same mTLS settings). GKE: a node pool, and Cloud TPU: a node, through the
transport's own (unguarded) ``get_node_pool`` / ``get_node`` method, so it works over gRPC and REST
alike. Any failure other than "not found" raises, and the translation fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatekeeper.providers.gcp._read import TranslationError

_KINDS = {"template": "instanceTemplates", "image": "machineImages", "instance": "instances",
          "mig": "instanceGroupManagers", "reservation": "reservations"}
TIMEOUT_SECONDS = 30.0


def compute_path(ref: str, project: str, kind: str) -> str:
    """``projects/P/...`` for a full URL, a ``projects/...`` path, or a ``global/``/``regions/``/
    ``zones/`` partial path relative to ``project``."""
    r = ref.strip()
    i = r.find("projects/")
    if i >= 0:
        path = r[i:]
    elif r.startswith(("global/", "regions/", "zones/")):
        if not project:
            raise TranslationError(f"{ref!r} is relative and the request names no project")
        path = f"projects/{project}/{r}"
    else:
        raise TranslationError(f"{ref!r} is not a resource reference")
    if f"/{_KINDS[kind]}/" not in path or ".." in path.split("/"):
        raise TranslationError(f"{ref!r} does not name one of {_KINDS[kind]}")
    return path


def _instance_like(kind: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
    from google.cloud import compute_v1

    if kind == "template":
        msg: Any = compute_v1.InstanceTemplate.from_json(_dumps(body), ignore_unknown_fields=True)
        props = compute_v1.InstanceTemplate.to_dict(msg, preserving_proto_field_name=True).get("properties")
        return props or {}
    if kind == "image":
        msg = compute_v1.MachineImage.from_json(_dumps(body), ignore_unknown_fields=True)
        d = compute_v1.MachineImage.to_dict(msg, preserving_proto_field_name=True)
        props = d.get("instance_properties") or {}
        return props if props.get("machine_type") else (d.get("source_instance_properties") or props)
    cls: Any = {"mig": compute_v1.InstanceGroupManager, "reservation": compute_v1.Reservation}.get(
        kind, compute_v1.Instance)
    msg = cls.from_json(_dumps(body), ignore_unknown_fields=True)
    result: Mapping[str, Any] = cls.to_dict(msg, preserving_proto_field_name=True)
    return result


def _dumps(body: Mapping[str, Any]) -> str:
    import json

    return json.dumps(body)


class TransportResolver:
    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def compute(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        session = getattr(self.transport, "_session", None)
        host = getattr(self.transport, "_host", None)
        if session is None or not host:
            raise TranslationError(f"cannot read {ref!r}: the transport has no REST session")
        path = compute_path(ref, project, kind)
        try:
            response = session.get(f"{host}/compute/v1/{path}", timeout=TIMEOUT_SECONDS)
        except Exception as exc:
            raise TranslationError(f"reading {path} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TranslationError(f"reading {path} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TranslationError(f"reading {path} returned no JSON") from exc
        if not isinstance(body, Mapping):
            raise TranslationError(f"reading {path} returned no object")
        return _instance_like(kind, body)

    def resource(self, ref: str, project: str, kind: str) -> Mapping[str, Any] | None:
        return self.compute(ref, project, kind)

    def node_pool(self, name: str) -> Mapping[str, Any] | None:
        from google.cloud import container_v1

        return self._get("get_node_pool", container_v1.GetNodePoolRequest, container_v1.NodePool, name)

    def tpu_node(self, name: str) -> Mapping[str, Any] | None:
        from google.cloud import tpu_v2

        return self._get("get_node", tpu_v2.GetNodeRequest, tpu_v2.Node, name)

    def _get(self, method: str, request: Any, message: Any, name: str) -> Mapping[str, Any] | None:
        """``name`` read through the transport's own (unguarded) ``method``: gRPC and REST alike."""
        from google.api_core.exceptions import NotFound

        t = self.transport
        try:
            rpc = t._wrapped_methods[getattr(t, method)]
            found = rpc(request(name=name), timeout=TIMEOUT_SECONDS,
                        metadata=(("x-goog-request-params", f"name={name}"),))
        except NotFound:
            return None
        except Exception as exc:
            raise TranslationError(f"reading {name} failed: {type(exc).__name__}: {exc}") from exc
        result: Mapping[str, Any] = message.to_dict(found, preserving_proto_field_name=True)
        return result
