"""Authentication before the body: a request that may carry a body is refused before a byte of it is read.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so a check in a
dependency comes after an anonymous client has been allowed to upload (a 300 MB body was read before
the 401). This ASGI middleware runs first: a POST/PUT/PATCH/DELETE (or any request declaring a body)
to the API needs a known bearer token, and one to the console a live session, before the app may
call ``receive``. ``/login`` is the one exception (it is how a session starts). Then a declared
``Content-Length`` over ``[web] max_body_bytes`` is answered 413 here, unread; a streamed body is cut
off at the cap by Starlette's ``RequestBodyLimitMiddleware`` inside (app.py).

The routes still check who may do what; this only decides whether the body is read at all.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper.web._auth import SESSION_COOKIE, TokenMap
from gatekeeper.web._deps import bearer_principal, cookie_principal
from gatekeeper.web._errors import AuthError, api_auth_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths that take a body without a credential: signing in.
OPEN_PATHS = frozenset({"/login"})


def carries_body(scope: Scope, headers: Headers) -> bool:
    """A method that has a body, or a request declaring one (``Content-Length`` > 0, chunked)."""
    if scope["method"] in BODY_METHODS or "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "0").strip()
    return not length.isdigit() or int(length) > 0


class AuthenticateFirst:
    """Refuse a body-carrying request without a credential before the app reads the body."""

    def __init__(self, app: ASGIApp, tokens: TokenMap, max_body_bytes: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if not carries_body(scope, headers):
            return None
        api = path == "/v1" or path.startswith("/v1/")
        if api:
            try:
                bearer_principal(self.tokens, headers.get("authorization"))
            except AuthError as exc:
                return api_auth_response(exc)
        elif path not in OPEN_PATHS:
            cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
            if cookie_principal(self.tokens, cookie) is None:
                # As a console page does without a session: sign in first (nothing of the form was read).
                return RedirectResponse("/login", status_code=303)
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > self.max_body_bytes:
            message = (f"request body of {int(length)} bytes is over the limit of {self.max_body_bytes} "
                       "([web] max_body_bytes)")
            if api:
                return JSONResponse(status_code=413, content={"error": message, "type": "PayloadTooLarge"})
            return PlainTextResponse(message, status_code=413)
        return None
