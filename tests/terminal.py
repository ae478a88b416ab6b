"""Run a ``gatekeeper`` command on a pseudo-terminal, as a person at a shell would, for tests of what
only a terminal exercises (rich's live progress display, colours, widths).

``on_a_terminal(["audit", "verify", "--config", cfg], cwd=...)`` returns the exit code and everything the
command wrote to the terminal (stdout and stderr share it, as on a real one).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def on_a_terminal(args: Sequence[str], *, cwd: Path, timeout: float = 120) -> tuple[int, str]:
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "gatekeeper.cli.main", *args],
                            stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
