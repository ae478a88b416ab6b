"""Local object-store emulators for tests, demos and the bench, on 127.0.0.1 (free ports).

* :class:`LocalAzurite`: Azurite's Blob service (npm package ``azurite``; scripts/test.sh installs
  it), a Node process with its data in a temporary folder. Audit URL:
  ``azurite.url("container", "prefix")``; the credentials are Azurite's well-known development
  account, set in the environment with :meth:`LocalAzurite.environ` (never real ones).
* :class:`LocalGCS`: gcp-storage-emulator (a Python package of the ``dev`` extra), a server thread
  in this process with its data in a temporary folder. Audit URL: ``gcs.url("bucket", "prefix")``.

Both can be stopped and started again with their data kept (an outage), and closed (data removed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

# Azurite's documented development account (public, the same in every Azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class EmulatorUnavailable(RuntimeError):
    """The emulator is not installed."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the emulator exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def azurite_command() -> list[str]:
    """``azurite-blob`` from ``$GATEKEEPER_AZURITE``, PATH, or a project-local ``node_modules``."""
    env = os.environ.get("GATEKEEPER_AZURITE")
    candidates = [env] if env else []
    candidates += [shutil.which("azurite-blob") or "",
                   str(Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite-blob")]
    for c in candidates:
        if c and Path(c).exists():
            return [c]
    raise EmulatorUnavailable("Azurite is not installed (npm install -g azurite; scripts/test.sh does) "
                              "or set GATEKEEPER_AZURITE to its azurite-blob")


class LocalAzurite:
    """Azurite's Blob service on 127.0.0.1, until ``close()``."""

    def __init__(self) -> None:
        self.command = azurite_command()
        self.root = Path(tempfile.mkdtemp(prefix="gatekeeper-azurite-"))
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @staticmethod
    def environ() -> dict[str, str]:
        """The environment a client needs for Azurite: its well-known account key."""
        return {"AZURE_STORAGE_KEY": AZURITE_KEY}

    def url(self, container: str, prefix: str = "audit", **params: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"azblob://{AZURITE_ACCOUNT}/{container}/{prefix}?endpoint_url={self.endpoint_url}{extra}"

    def container(self, name: str) -> Any:
        """A ContainerClient on the emulator (created if missing), for tests to look at what was stored."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import ContainerClient

        client = ContainerClient(self.endpoint_url, name,
                                 credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY})
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        return client

    def start(self) -> LocalAzurite:
        log = self.root / "azurite.log"
        with open(log, "ab") as out:
            self._proc = subprocess.Popen(
                [*self.command, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
                 str(self.root / "data"), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self._proc, log)
        return self

    def stop(self) -> None:
        """Stop the server, keeping its data."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalAzurite:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class LocalGCS:
    """gcp-storage-emulator on 127.0.0.1, in a thread of this process, until ``close()``."""

    def __init__(self) -> None:
        try:
            import gcp_storage_emulator.server  # noqa: F401
        except ImportError:
            raise EmulatorUnavailable("gcp-storage-emulator is not installed (pip install -e '.[dev]')") from None
        self.root = Path(tempfile.mkdtemp(prefix="gatekeeper-gcs-"))
        self.port = _free_port()
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str, prefix: str = "audit", **params: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"gs://{bucket}/{prefix}?endpoint_url={self.endpoint_url}{extra}"

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]

        return storage.Client(project="gatekeeper", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                              client_options={"api_endpoint": self.endpoint_url})

    def bucket(self, name: str) -> Any:
        """The bucket on the emulator (created if missing), for tests to look at what was stored."""
        from google.api_core.exceptions import Conflict

        client = self.client()
        try:
            return client.create_bucket(name)
        except Conflict:
            return client.bucket(name)

    def start(self) -> LocalGCS:
        from gcp_storage_emulator.server import create_server

        self._server = create_server("127.0.0.1", self.port, in_memory=False, data_dir=str(self.root))
        self._server.start()
        _wait_for_port(self.port, None, self.root / "none.log")
        return self

    def stop(self) -> None:
        """Stop the server, keeping its data."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalGCS:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
