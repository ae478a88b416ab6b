"""Run the real ``gatekeeper serve`` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.web.conftest import TOKENS

RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
# `gatekeeper serve` as the console script runs it; typer.run keeps this independent of the CLI table.
ENTRY = "import typer; from gatekeeper.cli.serve import serve; typer.run(serve)"


def write_config(home: Path) -> Path:
    """A configuration under ``home`` with one token per role (in the TOML, as users write it)."""
    tokens = "\n".join(f'"{token}" = "{spec}"' for token, spec in TOKENS.items())
    cfg = home / "gatekeeper.toml"
    cfg.write_text(
        '[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
        '[audit]\nurl = "file://audit"\nsigning_key = "audit-key.pem"\n'
        f"[web.tokens]\n{tokens}\n",
        encoding="utf-8",
    )
    return cfg


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "".join(self.output)


@contextmanager
def serve(config: Path, *extra: str, timeout: float = 60.0) -> Iterator[Served]:
    """Start ``gatekeeper serve --port 0`` and yield its URL once uvicorn says it is listening."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    env.pop("GATEKEEPER_TOKENS", None)
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "--config", str(config), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=config.parent)
    assert proc.stdout is not None
    served = Served("", proc)
    ready = threading.Event()
    port: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            served.output.append(line)
            m = RUNNING.search(line)
            if m and not port:
                port.append(m.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            break
    if not port:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"gatekeeper serve did not start:\n{served.log()}")
    served.url = f"http://127.0.0.1:{port[0]}"
    try:
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
