"""Helpers of the deploy-bundle tests: build a cloud's bundle with its build.sh, unpack it, and run code
from the unpacked bundle in a fresh interpreter that sees nothing else.

The child runs ``python -S`` (no site: neither the venv's site-packages nor the system's) with
``PYTHONPATH`` set to the bundle's folders only and an environment built from nothing. It reports
every module it loaded from outside the bundle and the standard library, and every module of the
bundle it had to compile from source (a packaged function must find each module's .pyc: /var/task
and a run-from-package app are read-only).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from gatekeeper.config import load_config
from gatekeeper.stores import open_store
from tests.hooks.conftest import HOOK_PROFILES

ROOT = Path(__file__).resolve().parents[2]
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]

# Runs first in the child: count compilations from source, then hand over to the test's code.
PRELUDE = r"""
import json, os, sys, sysconfig
from importlib.machinery import SourceFileLoader
_compiled = []
_to_code = SourceFileLoader.source_to_code
def _counting(self, data, path, *args, **kwargs):
    _compiled.append(str(path))
    return _to_code(self, data, path, *args, **kwargs)
SourceFileLoader.source_to_code = _counting
_roots = [p for p in os.environ["PYTHONPATH"].split(os.pathsep) if p]
_std = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
def report(**extra):
    outside = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
                     - {""})
    outside = [f for f in outside if not f.startswith(tuple(_roots)) and not f.startswith(tuple(_std))]
    print("REPORT " + json.dumps({"outside": outside, "sys_path_site": [p for p in sys.path if "site-packages" in p
                                                                         and not p.startswith(tuple(_roots))],
                                  "compiled": [c for c in _compiled if c.startswith(tuple(_roots))], **extra},
                                 default=str))
"""


def build(cloud: str, out_dir: Path, *args: str) -> tuple[Path, Path]:
    """``deploy/<cloud>/build.sh`` for this machine's architecture; returns (the zip, its unpacked folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{cloud}.zip"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["sh", str(ROOT / "deploy" / cloud / "build.sh"), str(out), "--arch", HOST_ARCH, *args],
                          capture_output=True, text=True, env=env, cwd=out_dir, check=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert str(out) in done.stdout and "MB)" in done.stdout
    unpacked = out_dir / cloud
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unpacked)
    return out, unpacked


def config_toml(home: Path, hooks: str = "") -> str:
    """The hook's configuration as a template sets it (GATEKEEPER_CONFIG_TOML): a local store and audit log."""
    return (f'mode = "enforce"\non_error = "deny"\n[store]\nurl = "sqlite:///{home}/state.db"\ncreate = true\n'
            f'[audit]\nurl = "file://{home}/audit"\nsigning_key = "{home}/audit-signing-key.pem"\n'
            f"[hooks]\n{hooks}")


def seed_profiles(home: Path, toml: str) -> Path:
    """Write the configuration to ``home`` and import the hook tests' customer profiles into its store."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "seed.toml"
    cfg.write_text(toml, encoding="utf-8")
    config = load_config(cfg)
    store = open_store(config.store.url, base_dir=config.base_dir)
    try:
        store.profiles.put_profiles(list(HOOK_PROFILES))
    finally:
        store.close()
    return cfg


def run_child(code: str, paths: list[Path], env: dict[str, str], cwd: Path) -> tuple[dict[str, Any], str]:
    """``code`` (after PRELUDE; it must call ``report(...)``) in ``python -S`` seeing only ``paths``."""
    clean = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd),
             "PYTHONPATH": os.pathsep.join(str(p) for p in paths), **env}
    done = subprocess.run([sys.executable, "-S", "-c", PRELUDE + code], capture_output=True, text=True, env=clean,
                          cwd=cwd, check=False, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("REPORT ")]
    result: dict[str, Any] = json.loads(line.removeprefix("REPORT "))
    return result, log


def assert_self_contained(result: dict[str, Any]) -> None:
    """Nothing came from outside the bundle and the standard library, and nothing was compiled."""
    assert result["outside"] == [] and result["sys_path_site"] == []
    assert result["compiled"] == []


def verify_audit(cfg: Path, *args: str) -> dict[str, Any]:
    """``gatekeeper audit verify --json`` (this checkout's, not the bundle's) on the log the child wrote,
    which must answer "intact" (exit 0)."""
    done = subprocess.run([sys.executable, "-m", "gatekeeper.cli.main", "audit", "verify", "--config", str(cfg),
                           "--json", *args], capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def audit_records(home: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seg in sorted((home / "audit").glob("*.jsonl")):
        out.extend(json.loads(line) for line in seg.read_text(encoding="utf-8").splitlines() if line.strip())
    return [r for r in out if not str(r.get("kind", "")).startswith("audit.")]
