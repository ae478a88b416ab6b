"""FastAPI dependencies: the runtime behind the app, and who the caller is (API: bearer; console: cookie)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gatekeeper.web._auth import SESSION_COOKIE, Principal, TokenMap, bearer, split_session
from gatekeeper.web._errors import AuthError
from gatekeeper.web._review import Review

# auto_error=False: a missing token is our 401 (with our body), not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="A token from [web.tokens] or GATEKEEPER_TOKENS.")


def review(request: Request) -> Review:
    r: Review = request.app.state.review
    return r


def tokens(request: Request) -> TokenMap:
    t: TokenMap = request.app.state.tokens
    return t


def bearer_principal(token_map: TokenMap, authorization: str | None) -> Principal:
    """The principal of an ``Authorization`` header; AuthError 401 when it has no known bearer token."""
    token = bearer(authorization)
    if token is None:
        raise AuthError(401, "missing bearer token: send 'Authorization: Bearer TOKEN'")
    principal = token_map.lookup(token)
    if principal is None:
        raise AuthError(401, "unknown bearer token")
    return principal


def api_principal(
    request: Request,
    # Declared for the OpenAPI security scheme; the header itself is read by bearer_principal.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The API caller, from ``Authorization: Bearer TOKEN`` only (never the console's cookie: no CSRF)."""
    principal = bearer_principal(tokens(request), request.headers.get("authorization"))
    request.state.principal = principal
    return principal


def api_allowed(permission: str) -> Callable[[Principal], Principal]:
    """A dependency: the API caller, who must hold ``permission`` (403 otherwise)."""

    def check(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if not principal.can(permission):
            raise AuthError(403, f"role {principal.role!r} may not do this (needs {permission!r}; see docs/web.md)")
        return principal

    return check


def session_principal(request: Request) -> Principal | None:
    """The console user, from the session cookie; None when not logged in (or the token was withdrawn)."""
    return cookie_principal(tokens(request), request.cookies.get(SESSION_COOKIE))


def cookie_principal(token_map: TokenMap, cookie: str | None) -> Principal | None:
    parts = split_session(cookie)
    return None if parts is None else token_map.lookup(parts[1])
