"""A local Azure Resource Manager stand-in for tests and the demo (never for production).

``ArmStandIn`` serves HTTPS on 127.0.0.1 (a throw-away self-signed certificate, so the SDK's bearer
token policy runs exactly as against ARM) and keeps resources in memory by resource id: PUT stores
and answers the resource with ``provisioningState: Succeeded`` (so ``begin_create_or_update``'s
poller finishes at once), PATCH merges into the stored resource, GET answers it or an ARM 404, POST
actions (``deallocate``, ``validate``, ``whatIf``) succeed at once, and ARM's ``POST /batch`` answers each
inner request as if sent alone. Every request is recorded. ``StaticToken`` is a minimal ``TokenCredential``.
``ArmStandIn(token=...)`` answers 401 to a request without that bearer token, as ARM does; ``fail``
maps (method, path suffix) to an HTTP status answered with ARM's error shape, until removed.

    with ArmStandIn() as arm:
        client = ComputeManagementClient(StaticToken(), SUB, base_url=arm.url,
                                         connection_verify=arm.ca_file)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken

from gatekeeper.adapters._standin import Answer, Recorded, StandIn
from gatekeeper.providers.azure.operations import merge

__all__ = ["ArmStandIn", "Recorded", "StaticToken"]


class StaticToken:
    """A ``TokenCredential`` that hands out one fixed token (the SDK's own credential protocol)."""

    def __init__(self, token: str = "stand-in-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


# The ARM error code of a status a test makes the stand-in answer.
ERROR_CODES = {400: "BadRequest", 404: "ResourceNotFound", 409: "Conflict", 429: "TooManyRequests",
               500: "InternalServerError", 503: "ServiceUnavailable"}


class ArmStandIn(StandIn):
    def __init__(self, *, token: str | None = None) -> None:
        super().__init__(tls=True)
        self.resources: dict[str, dict[str, Any]] = {}
        # Answer every GET with HTTP 500 (to test what happens when a resource cannot be read).
        self.fail_reads = False
        self.token = token  # when set: the bearer token every request must carry
        # (method, path suffix) -> HTTP status: matching requests fail (case-insensitive suffix).
        self.fail: dict[tuple[str, str], int] = {}

    def refusal(self, method: str, path: str, headers: Mapping[str, str]) -> Answer | None:
        if self.token is not None:
            given = {k.lower(): v for k, v in headers.items()}.get("authorization")
            if given != f"Bearer {self.token}":
                return Answer(401, {"error": {"code": "AuthenticationFailed",
                                              "message": "the bearer token is missing or not the stand-in's"}})
        key = path.rstrip("/").lower()
        for (verb, suffix), status in self.fail.items():
            if verb.upper() == method and key.endswith(suffix.rstrip("/").lower()):
                return Answer(status, {"error": {"code": ERROR_CODES.get(status, "Failed"),
                                                 "message": "stand-in told to fail"}})
        return None

    def seed(self, resource_id: str, body: Mapping[str, Any]) -> None:
        """Make a resource exist (as if created earlier), without recording a request."""
        with self.lock:
            self.resources[resource_id.lower()] = self._complete(resource_id, dict(body))

    @staticmethod
    def _complete(resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        out.setdefault("id", resource_id)
        out.setdefault("name", resource_id.rstrip("/").rsplit("/", 1)[-1])
        props = dict(out.get("properties") or {})
        props["provisioningState"] = "Succeeded"
        out["properties"] = props
        return out

    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        key = path.rstrip("/").lower()
        if method == "GET":
            if self.fail_reads:
                return Answer(500, {"error": {"code": "InternalServerError", "message": "stand-in told to fail"}})
            found = self.resources.get(key)
            if found is None:
                return Answer(404, {"error": {"code": "ResourceNotFound",
                                              "message": f"The resource '{path}' was not found."}})
            return Answer(200, found)
        if method == "PUT":
            self.resources[key] = self._complete(path.rstrip("/"), body if isinstance(body, dict) else {})
            return Answer(200, self.resources[key])
        if method == "PATCH":
            if key not in self.resources:
                return Answer(404, {"error": {"code": "ResourceNotFound",
                                              "message": f"The resource '{path}' was not found."}})
            self.resources[key] = self._complete(path.rstrip("/"), merge(self.resources[key], body or {}))
            return Answer(200, self.resources[key])
        if method == "DELETE":
            self.resources.pop(key, None)
            return Answer(200)
        if method == "POST":
            if key.endswith("/batch"):
                return Answer(200, {"responses": [self._inner(r) for r in (body or {}).get("requests", [])]})
            # Actions (deallocate, stop, validate, whatIf): done at once.
            return Answer(200, {"status": "Succeeded", "properties": {"provisioningState": "Succeeded"}})
        return Answer(405, {"error": {"code": "MethodNotAllowed", "message": method}})

    def _inner(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One request of ARM's ``/batch``, answered as if sent on its own."""
        url = str(request.get("url", "")).split("?", 1)[0]
        answer = self.answer(str(request.get("httpMethod", "GET")).upper(), url, {}, request.get("content"))
        return {"name": request.get("name"), "httpStatusCode": answer.status, "content": answer.body}
