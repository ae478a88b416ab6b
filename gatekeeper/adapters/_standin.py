"""A local stand-in for a cloud API: a threaded HTTP(S) server on 127.0.0.1 that records every request.

The base of ``gatekeeper.adapters.azure.testing`` and ``gatekeeper.adapters.gcp.testing``, which
answer in the provider's JSON shapes well enough for the real SDK clients. Tests (ours and users')
drive the real SDKs against it and assert what did, or did not, arrive. Never for production.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request that reached the stand-in."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any = None
    headers: Mapping[str, str] | None = None


class StandIn:
    """Subclasses implement ``answer(method, path, query, body) -> Answer``; start with ``start()``
    or use as a context manager. ``requests`` lists what arrived, in order."""

    def __init__(self, *, tls: bool = False) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._tls = tls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None  # the self-signed certificate, for the client's verify option
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", errors="replace")
                path = unquote(parts.path)
                query = parse_qs(parts.query)
                headers = dict(self.headers)
                with stand_in.lock:
                    stand_in.requests.append(Recorded(self.command, path, query, body, headers))
                    answer = (stand_in.refusal(self.command, path, headers)
                              or stand_in.answer(self.command, path, query, body))
                data = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (answer.headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls:
            self._wrap_tls()
        # A short poll interval: stop() (shutdown) waits up to one interval.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)

    def _wrap_tls(self) -> None:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self._tmp = tempfile.TemporaryDirectory(prefix="gk-standin-")
        cert_path, key_path = Path(self._tmp.name) / "cert.pem", Path(self._tmp.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.ca_file = str(cert_path)

    # -- to implement ----------------------------------------------------------------------
    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        raise NotImplementedError

    def refusal(self, method: str, path: str, headers: Mapping[str, str]) -> Answer | None:
        """An answer given instead of ``answer`` (a bad token, a failure a test asked for); None: none."""
        return None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what arrived ------------------------------------------------------------------------
    def arrived(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        """Requests that reached the server, optionally of one method and with ``contains`` in the path
        (compared case-insensitively)."""
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method.upper())
                    and contains.lower() in r.path.lower()]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
