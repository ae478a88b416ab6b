"""The error a blocked Azure call raises: ``HttpResponseError`` with status 403 and an ARM error body.

The response is a real ``azure.core.rest.HttpResponse`` (the SDK's documented base for custom
responses) holding the ARM error JSON, so everything callers already do with an ARM denial works:
``err.status_code == 403``, ``err.error.code`` (``ExportControlDenied`` / ``ExportLicensePending``),
``err.error.message``, ``err.error.additional_info`` (type ``Gatekeeper``: decision and case ids) and
``err.response.json()``. The SDK has no request for it to answer; nothing was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.core.exceptions import ARMErrorFormat

from gatekeeper.adapters._explain import details, error_code, explain
from gatekeeper.model import Decision


class _BlockedResponse(HttpResponse):
    """An in-memory 403 that gatekeeper answers in place of ARM."""

    def __init__(self, request: HttpRequest, body: dict[str, Any]) -> None:
        self._request = request
        self._content = json.dumps(body).encode("utf-8")
        self._headers: MutableMapping[str, str] = {"Content-Type": "application/json; charset=utf-8",
                                                   "x-ms-gatekeeper": "blocked"}
        self._closed = False

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return 403

    @property
    def headers(self) -> MutableMapping[str, str]:
        return self._headers

    @property
    def reason(self) -> str:
        return "Forbidden"

    @property
    def content_type(self) -> str | None:
        return self._headers["Content-Type"]

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return True

    @property
    def encoding(self) -> str | None:
        return "utf-8"

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        pass  # always UTF-8 JSON

    @property
    def url(self) -> str:
        return str(self._request.url)

    @property
    def content(self) -> bytes:
        return self._content

    def text(self, encoding: str | None = None) -> str:
        return self._content.decode(encoding or "utf-8")

    def json(self) -> Any:
        return json.loads(self._content)

    def raise_for_status(self) -> None:
        raise HttpResponseError(response=self, error_format=ARMErrorFormat)

    def __enter__(self) -> _BlockedResponse:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def read(self) -> bytes:
        return self._content

    def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._content

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._content


class ExportControlHttpError(HttpResponseError):
    """A call gatekeeper blocked. ``decision``, ``decision_id`` and ``case_id`` say which and why."""

    decision: Decision
    decision_id: str
    case_id: str | None
    code: str


def blocked_error(decision: Decision, request: HttpRequest) -> ExportControlHttpError:
    """The error to raise for a blocking decision on ``request``."""
    code = error_code(decision)
    body = {"error": {
        "code": code,
        "message": explain(decision),
        "target": decision.request.resource_ids[0] if decision.request.resource_ids else None,
        "additionalInfo": [{"type": "Gatekeeper", "info": details(decision)}],
    }}
    err = ExportControlHttpError(response=_BlockedResponse(request, body), error_format=ARMErrorFormat)
    err.decision, err.decision_id, err.case_id, err.code = decision, decision.decision_id, decision.case_id, code
    return err
