"""A tiny Azure Resource Manager on 127.0.0.1 over TLS, for driving the real Azure SDKs in tests.

It keeps resources (VMs, scale sets, managed clusters, agent pools) as ARM JSON in memory and
answers GET, PUT, PATCH, DELETE and POST .../deallocate the way ARM does for a completed operation
(200 with the resource). It checks the bearer token, so the SDK's authentication policy runs for
real; TLS is a self-signed certificate for 127.0.0.1 that the test trusts (``connection_verify``).
Every request is kept in ``requests`` for assertions.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TOKEN = "stand-in-token"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "arm-cert.pem", directory / "arm-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Seen:
    method: str
    path: str
    body: Any


@dataclass
class ArmStandIn:
    directory: Path
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    fail: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, path suffix) -> status

    def __post_init__(self) -> None:
        self.cert, self.key = self_signed(self.directory)
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = urlsplit(self.path).path
                standin.requests.append(Seen(self.command, path, body))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._reply(401, {"error": {"code": "AuthenticationFailed", "message": "bad token"}})
                    return
                for (method, suffix), status in standin.fail.items():
                    if method == self.command and path.lower().endswith(suffix.lower()):
                        self._reply(status, {"error": {"code": "Conflict", "message": "stand-in failure"}})
                        return
                status, out = standin.answer(self.command, path, body)
                self._reply(status, out)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> ArmStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the resources ----------------------------------------------------------------------------
    def put(self, resource_id: str, body: dict[str, Any]) -> None:
        name = resource_id.rstrip("/").rsplit("/", 1)[-1]
        full = {"id": resource_id, "name": name, **body}
        full.setdefault("properties", {}).setdefault("provisioningState", "Succeeded")
        self.resources[resource_id.lower()] = full

    def get(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(resource_id.lower())

    def seen(self, method: str, suffix: str = "") -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.lower().endswith(suffix.lower())]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        key = path.rstrip("/").lower()
        with self._lock:
            if method == "POST" and key.endswith("/deallocate"):
                target = self.resources.get(key.rsplit("/", 1)[0])
                if target is None:
                    return 404, {"error": {"code": "ResourceNotFound", "message": path}}
                target["properties"]["powerState"] = "deallocated"  # not ARM's shape; for the test to read
                return 200, None
            current = self.resources.get(key)
            if method == "GET":
                return (200, current) if current else (404, {"error": {"code": "ResourceNotFound", "message": path}})
            if method == "DELETE":
                self.resources.pop(key, None)
                return 200, None
            if method == "PUT":
                self.put(path, {k: v for k, v in (body or {}).items() if k not in ("id", "name")})
                return 200, self.resources[key]
            if method == "PATCH":
                if current is None:
                    return 404, {"error": {"code": "ResourceNotFound", "message": path}}
                for k, v in (body or {}).items():
                    if isinstance(v, dict) and isinstance(current.get(k), dict) and k != "tags":
                        current[k].update(v)
                    else:
                        current[k] = v
                return 200, current
        return 405, {"error": {"code": "MethodNotAllowed", "message": method}}


class StaticToken:
    """A TokenCredential that hands out the stand-in's token (azure-core calls ``get_token``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes = scopes
        return AccessToken(TOKEN, int(dt.datetime.now(dt.UTC).timestamp()) + 3600)
