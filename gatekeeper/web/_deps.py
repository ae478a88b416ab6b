"""FastAPI dependencies: the runtime behind the app, and who the caller is (API: bearer; console: cookie)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gatekeeper.web._auth import SESSION_COOKIE, Principal, TokenMap, split_session
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


def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The API caller, from ``Authorization: Bearer TOKEN`` only (never the console's cookie: no CSRF)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AuthError(401, "missing bearer token: send 'Authorization: Bearer TOKEN'")
    principal = tokens(request).lookup(credentials.credentials)
    if principal is None:
        raise AuthError(401, "unknown bearer token")
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
    parts = split_session(request.cookies.get(SESSION_COOKIE))
    if parts is None:
        return None
    return tokens(request).lookup(parts[1])
