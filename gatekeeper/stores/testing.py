"""A local DynamoDB for tests and demos: moto's server on 127.0.0.1, in a thread of this process.

    with LocalDynamoDB() as ddb:
        url = ddb.url("myprefix")            # dynamodb://myprefix?region=us-east-1&endpoint_url=...
        store = open_store(url); store.init()

Other processes reach it over HTTP through the same URL (that is how the multi-process tests run).
Needs the ``dev`` extra (moto[server]); sets no credentials itself: botocore needs some to sign
requests, so callers export dummy ones (:data:`DUMMY_CREDENTIALS`) — never real ones.

Why requests are serialised: real DynamoDB evaluates a condition and applies the write as one
atomic step per item; moto's server checks and writes in Python without a lock, so two threaded
requests could both pass a condition. Serialising the requests restores DynamoDB's per-item
atomicity, so that what is tested is gatekeeper's use of conditional writes, not moto's threading.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Serialised:
    """WSGI middleware: one request at a time (see the module docstring)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


class LocalDynamoDB:
    """moto's DynamoDB over HTTP on 127.0.0.1 (a free port), until ``stop()``."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalDynamoDB:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = _Serialised(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-dynamodb", daemon=True)
        self._thread.start()
        return self

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalDynamoDB is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, prefix: str, **params: str | int) -> str:
        """The store URL of tables ``PREFIX-*`` on this server."""
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"dynamodb://{prefix}?region={self.region}&endpoint_url={self.endpoint_url}{extra}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalDynamoDB:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
