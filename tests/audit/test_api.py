"""The public surface of gatekeeper.audit, pinned (a change here is a change of contract)."""

from __future__ import annotations

import inspect
from pathlib import Path

import gatekeeper.audit
from gatekeeper.audit import open_audit_log


def test_public_names() -> None:
    assert sorted(gatekeeper.audit.__all__) == sorted([
        "BACKENDS", "SCHEMA", "AuditLog", "AuditTrust", "decision_record", "event_record", "local_directory",
        "open_audit_log", "request_from_record"])
    for name in gatekeeper.audit.__all__:
        assert hasattr(gatekeeper.audit, name)


def test_open_audit_log_signature_the_service_calls() -> None:
    params = inspect.signature(open_audit_log).parameters
    assert list(params) == ["url", "signing_key", "segment_max_bytes", "segment_max_seconds", "base_dir", "trust",
                            "witness_interval"]
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in list(params)[1:])


def test_backends_are_imported_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, gatekeeper.audit; from pathlib import Path; import tempfile; d = Path(tempfile.mkdtemp()); "
            "gatekeeper.audit.open_audit_log('file://a', signing_key=None, segment_max_bytes=1<<20, "
            "segment_max_seconds=60, base_dir=d).close(); print('boto3' in sys.modules, 'duckdb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["False", "False"]


def test_local_directory(tmp_path: Path) -> None:
    assert gatekeeper.audit.local_directory("file://x/y", tmp_path) == tmp_path / "x" / "y"
    assert gatekeeper.audit.local_directory("s3://b/p?spool=sp", tmp_path) == tmp_path / "sp"
