"""The FastAPI application: the ``/v1`` API, the review console at ``/``, and how errors are answered.

``create_app(gatekeeper)`` builds an app around one Gatekeeper runtime (tests pass their own);
``gatekeeper serve`` builds it from the configuration. Nothing is fetched from the internet: the
interactive docs pages (which load script from a CDN) are off; ``/openapi.json`` is the spec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from gatekeeper import __version__
from gatekeeper._log import get_logger
from gatekeeper.errors import GatekeeperError
from gatekeeper.service import Gatekeeper
from gatekeeper.web import api, console, console_records, metrics
from gatekeeper.web._auth import TokenMap
from gatekeeper.web._errors import (
    AuthError,
    api_auth_response,
    api_error_response,
    api_validation_response,
    is_api,
    status_of,
    validation_message,
)
from gatekeeper.web._guard import AuthenticateFirst
from gatekeeper.web._pages import HERE, LoginRequired, PageForbidden, TokenLogin, login_response, redirect, render
from gatekeeper.web._review import Review

log = get_logger("gatekeeper.web")

# No script anywhere; styles only from /static; forms only back to this origin; never framed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def create_app(gatekeeper: Gatekeeper, *, tokens: TokenMap | None = None,
               environ: Mapping[str, str] | None = None, close_on_shutdown: bool = False) -> FastAPI:
    """The web app around ``gatekeeper``; tokens from its config (and ``$GATEKEEPER_TOKENS``) unless given."""
    token_map = tokens if tokens is not None else TokenMap.from_config(gatekeeper.config.web, environ)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from gatekeeper.notify import start_reminders

        stop_reminders = start_reminders(gatekeeper)  # cases near their deadline, licences near their end
        yield
        stop_reminders()
        if close_on_shutdown:  # seals the audit log's open segment with its signed checkpoint
            gatekeeper.close()

    app = FastAPI(
        title="Gatekeeper decision API",
        version=__version__,
        description=("Decisions on export-controlled AI compute, the permission workflow (cases, licences) and "
                     "the audit log. Authenticate with `Authorization: Bearer TOKEN`; roles: requester, "
                     "reviewer, auditor (see docs/web.md)."),
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        openapi_url="/openapi.json", lifespan=lifespan,
    )
    from gatekeeper.observe import instrument

    app.state.metrics = instrument(gatekeeper)  # before anything holds gatekeeper.decide
    gatekeeper.audit  # noqa: B018 (opened at start-up: a log that cannot be opened fails here, not a request)
    app.state.gatekeeper = gatekeeper
    app.state.review = Review(gatekeeper)
    app.state.tokens = token_map
    app.state.origins = tuple(gatekeeper.config.web.origins)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(console.router)
    app.include_router(console_records.router)
    app.include_router(metrics.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _handlers(app)
    # Bodies over [web] max_body_bytes: 413, without reading one whose Content-Length says so, and as
    # soon as a streamed one passes the cap. Inside the authentication below, so that an anonymous
    # caller gets 401 whatever it sends.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=gatekeeper.config.web.max_body_bytes)
    # Outermost of ours: before any body is read (FastAPI parses it before the routes' dependencies run).
    app.add_middleware(AuthenticateFirst, tokens=token_map, max_body_bytes=gatekeeper.config.web.max_body_bytes)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" even on this site's
        # own form posts, which the Origin check must refuse. Nothing leaks to other sites either way.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        return api_auth_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return api_validation_response(exc)
        return _page_error(request, 422, "Invalid request", validation_message(list(exc.errors())))

    @app.exception_handler(GatekeeperError)
    async def gatekeeper_error(request: Request, exc: GatekeeperError) -> Response:
        status = status_of(exc)
        if status >= 500:
            log.error("web.error", path=request.url.path, error=str(exc), type=type(exc).__name__)
        if is_api(request):
            return api_error_response(request, exc)
        heading = "Not found" if status == 404 else "Could not be done"
        return _page_error(request, status, heading, str(exc))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return redirect("/login", next=exc.next_url)

    @app.exception_handler(TokenLogin)
    async def token_login(request: Request, exc: TokenLogin) -> Response:
        return login_response(request, exc.token, exc.target)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", exc.principal if exc.principal.role != "none" else None, status=403,
                      heading="Not allowed", message=exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or request.url.path.startswith("/static/"):
            return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                                content={"error": str(exc.detail), "type": "HTTPError"})
        return _page_error(request, exc.status_code, "Not found" if exc.status_code == 404 else "Error",
                           str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("web.unexpected", path=request.url.path, error=f"{type(exc).__name__}: {exc}", exc_info=True)
        if is_api(request):
            return JSONResponse(status_code=500, content={"error": "internal error; see the server log",
                                                          "type": "InternalError"})
        return _page_error(request, 500, "Internal error", "Something went wrong; the server log has the details.")


def _page_error(request: Request, status: int, heading: str, message: str) -> Response:
    from gatekeeper.web._deps import session_principal

    user = session_principal(request)
    if user is not None and not user.can("read.cases"):
        user = None
    return render(request, "error.html", user, status=status, heading=heading, message=message)

