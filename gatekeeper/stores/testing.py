"""Local servers for tests, demos and the bench: DynamoDB (moto, in a thread) and PostgreSQL (a process).

PostgreSQL: :class:`LocalPostgres` runs Debian's server binaries in a temporary folder (see below).

DynamoDB: moto's server on 127.0.0.1, in a thread of this process.

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

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
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


# -- PostgreSQL ---------------------------------------------------------------------------------------
class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl) are not installed."""


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: ``$GATEKEEPER_PG_BINDIR``, Debian's newest, ``pg_config --bindir``, PATH."""
    import shutil
    import subprocess

    env = os.environ.get("GATEKEEPER_PG_BINDIR")
    candidates = [Path(env)] if env else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                    if p.parent.name.isdigit() else 0, reverse=True)
    candidates += debian
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PostgresUnavailable("PostgreSQL server binaries not found (initdb, pg_ctl): install Debian's "
                              "'postgresql' package (scripts/test.sh does) or set GATEKEEPER_PG_BINDIR")


class LocalPostgres:
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port) with its data in a temporary folder.

    PostgreSQL refuses to run as root: under root (CI) the server runs as the ``postgres`` user that
    Debian's package creates (through ``runuser``), with the folder given to it. ``stop()`` and
    ``start()`` again keep the data (an outage); ``close()`` removes everything.

        with LocalPostgres() as pg:
            url = pg.url(schema="gk_test")      # postgresql://gatekeeper@127.0.0.1:PORT/postgres?schema=...
    """

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = 0
        self.root: Path | None = None
        self._user: str | None = None

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str) -> None:
        import subprocess

        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if out.returncode != 0:
            log = (self.root / "server.log") if self.root else None
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}): {out.stderr or out.stdout}\n{tail}")

    def _setup(self) -> None:
        import pwd
        import socket
        import tempfile

        entry = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server "
                                          "as (install Debian's 'postgresql' package)") from None
            self._user = "postgres"
        # Under root the folder must be reachable by 'postgres': /tmp, whatever $TMPDIR says.
        self.root = Path(tempfile.mkdtemp(prefix="gatekeeper-pg-", dir="/tmp" if entry else None))
        if entry is not None:
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run("initdb", "-D", str(self.data), "-U", "gatekeeper", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def start(self) -> LocalPostgres:
        if self.root is None:
            self._setup()
        assert self.root is not None
        # No fsync: the tests exercise gatekeeper, not the disk; a server is never crashed mid-write here.
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", options, "start")
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut), keeping its data."""
        if self.root is not None and (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, schema: str = "gatekeeper", **params: str | int | float) -> str:
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"postgresql://gatekeeper@127.0.0.1:{self.port}/postgres?schema={schema}{extra}"

    def close(self) -> None:
        import shutil

        try:
            self.stop()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
