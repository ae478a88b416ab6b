"""How errors become HTTP answers: one JSON shape for the API, a page for the console.

Every API error is ``{"error": MESSAGE, "type": NAME}`` (the shape of the CLI's ``--json`` errors),
plus ``detail`` (pydantic's list, each with ``loc`` naming the field) on 422 and ``field`` when a
gatekeeper InvalidInputError named one.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gatekeeper.errors import (
    AuditError,
    AuditIntegrityError,
    ConfigError,
    ConflictError,
    GatekeeperError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    WorkflowError,
)

# Most specific first.
STATUS_BY_ERROR: tuple[tuple[type[GatekeeperError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (WorkflowError, 409),
    (InvalidInputError, 422),
    (AuditIntegrityError, 500),
    (StoreError, 503),
    (AuditError, 503),
    (ConfigError, 500),
    (GatekeeperError, 500),
)


class AuthError(Exception):
    """401 (no or unknown token) or 403 (the token's role may not do this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def status_of(exc: GatekeeperError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: GatekeeperError, where: str = "body") -> dict[str, Any]:
    """``where``: ``body`` or ``query``, the part of the request the named field was in."""
    body: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, InvalidInputError) and exc.field:
        body["field"] = exc.field
        body["detail"] = [{"loc": [where, exc.field], "msg": exc.detail, "type": "value_error"}]
    return body


def validation_message(errors: list[dict[str, Any]]) -> str:
    """``body.count: Input should be ...; query.limit: ...`` — every field named."""
    parts = []
    for e in errors:
        loc = ".".join(str(x) for x in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def api_validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse(status_code=422, content=jsonable_encoder({
        "error": validation_message(errors), "type": "ValidationError", "detail": errors}))


def api_error_response(request: Request, exc: GatekeeperError) -> JSONResponse:
    where = "body" if request.method in ("POST", "PUT", "PATCH") else "query"
    return JSONResponse(status_code=status_of(exc), content=error_body(exc, where))


def api_auth_response(exc: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="gatekeeper"'} if exc.status == 401 else {}
    return JSONResponse(status_code=exc.status, headers=headers,
                        content={"error": exc.message, "type": "Unauthorized" if exc.status == 401 else "Forbidden"})


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/v1/") or request.url.path == "/v1"
