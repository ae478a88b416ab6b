"""A local Compute Engine + GKE REST stand-in for tests and the demo (never for production).

``GcpStandIn`` serves HTTP on 127.0.0.1 and keeps resources in memory by path: an insert (POST to a
collection) stores the body under its name, a PUT replaces, custom verbs (``bulkInsert``,
``setMachineType``, ``:setSize``) are accepted; every write answers an operation that is already
``DONE``; GET answers a stored resource, an operation, or Google's 404. Every request is recorded.
A google.longrunning operation seeded at its path (``.../operations/N``, Vertex AI's ``/ui/`` alias
included) is answered as seeded, and ``:cancel`` marks it done with the CANCELLED status;
``:undeployModel`` removes the deployed model from a seeded endpoint's ``deployedModels``.

    with GcpStandIn() as gcp:
        client = compute_v1.InstancesClient(credentials=AnonymousCredentials(),
                                            client_options={"api_endpoint": gcp.url})
        container_v1.ClusterManagerClient(credentials=AnonymousCredentials(), transport="rest",
                                          client_options={"api_endpoint": gcp.url})
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from gatekeeper.adapters._standin import Answer, Recorded, StandIn

__all__ = ["GcpStandIn", "Recorded"]

# Compute Engine collections that an insert (POST with a body naming the resource) adds to.
_COLLECTIONS = {"instances", "instanceTemplates", "machineImages", "nodePools", "clusters", "instanceGroupManagers",
                "reservations", "futureReservations", "resizeRequests"}
# Request bodies that wrap the resource (GKE: {"nodePool": {...}}, {"cluster": {...}}).
_WRAPPERS = ("nodePool", "cluster")


class GcpStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__(tls=False)
        self.resources: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def seed(self, path: str, body: Mapping[str, Any]) -> None:
        """Make a resource exist at ``path`` (``/compute/v1/projects/...`` or ``/v1/projects/...``)
        without recording a request."""
        with self.lock:
            self.resources[path.rstrip("/")] = dict(body)

    def _operation(self, path: str, kind: str) -> dict[str, Any]:
        n = next(self._ids)
        if path.startswith("/compute/"):
            base = path.split("/instances")[0].split("/instanceTemplates")[0]
            op: dict[str, Any] = {"kind": "compute#operation", "id": str(n), "name": f"operation-{n}",
                                  "operationType": kind, "status": "DONE", "progress": 100,
                                  "targetLink": path, "selfLink": f"{base}/operations/operation-{n}"}
            if "/zones/" in path:
                op["zone"] = path.split("/operations")[0].split("/instances")[0]
            return op
        return {"name": f"operation-{n}", "operationType": kind.upper(), "status": "DONE", "selfLink": path}

    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        path = path.rstrip("/")
        last = path.rsplit("/", 1)[-1]
        if path.startswith("/ui/"):
            path = "/v1/" + path.removeprefix("/ui/")  # Vertex AI's operations mixin: the same resource
        if method == "GET":
            if "/operations/" in path and path not in self.resources:
                return Answer(200, {"kind": "compute#operation", "name": last, "status": "DONE", "progress": 100})
            found = self.resources.get(path)
            if found is None:
                return Answer(404, {"error": {"code": 404, "message": f"The resource '{path}' was not found",
                                              "status": "NOT_FOUND",
                                              "errors": [{"reason": "notFound", "message": "not found"}]}})
            return Answer(200, found)
        if method == "POST" and path.endswith("/wait"):
            return Answer(200, {"kind": "compute#operation", "name": path.split("/")[-2], "status": "DONE"})
        data = body if isinstance(body, dict) else {}
        if method == "POST" and last in _COLLECTIONS:
            resource = next((data[w] for w in _WRAPPERS if isinstance(data.get(w), dict)), data)
            name = resource.get("name")
            if isinstance(name, str) and name:
                self.resources[f"{path}/{name}"] = dict(resource)
            return Answer(200, self._operation(path, "insert"))
        if method in ("PUT", "PATCH"):
            if path in self.resources or method == "PUT":
                self.resources[path] = {**self.resources.get(path, {}), **data}
            return Answer(200, self._operation(path, "update"))
        if method == "POST":
            verb = last.split(":")[-1] if ":" in last else last
            target = path.rsplit(":", 1)[0] if ":" in last else path.rsplit("/", 1)[0]
            if verb == "setMachineType" and target in self.resources and "machineType" in data:
                self.resources[target]["machineType"] = data["machineType"]
            if verb == "resize" and target in self.resources and "size" in query:
                self.resources[target]["targetSize"] = int(query["size"][0])
            if verb == "cancel" and "/operations/" in target and target in self.resources:
                # google.longrunning: a cancelled operation is done, with the CANCELLED status (code 1).
                self.resources[target].update({"done": True, "error": {"code": 1, "message": "cancelled"}})
                return Answer(200, {})
            if verb == "undeployModel" and target in self.resources:
                gone = str(data.get("deployedModelId", ""))
                models = self.resources[target].get("deployedModels", [])
                self.resources[target]["deployedModels"] = [m for m in models if str(m.get("id")) != gone]
            if verb in ("stop", "setLabels") and target in self.resources:
                self.resources[target].update({"status": "TERMINATED"} if verb == "stop" else
                                              {"labels": data.get("labels", {})})
            return Answer(200, self._operation(path, verb))
        if method == "DELETE":
            self.resources.pop(path, None)
            return Answer(200, self._operation(path, "delete"))
        return Answer(405, {"error": {"code": 405, "message": method}})
