"""``gatekeeper audit summary --from DIR`` imports only what it uses (start-up is most of its cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gatekeeper.audit import decision_record
from tests.audit.conftest import make_decision, open_log

PROBE = """
import json, sys
from gatekeeper.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in ("gatekeeper.config", "gatekeeper.workflow", "structlog",
                                                         "gatekeeper.cli.cases", "gatekeeper.cli.check")
                                           if m in sys.modules]}), file=sys.stderr)
"""


def _probe(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "GATEKEEPER_CONFIG": ""}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    result: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    result["stdout"] = proc.stdout
    return result


def test_audit_summary_from_a_directory_loads_no_config_workflow_or_structlog(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision()))
    out = _probe("audit", "summary", "--from", str(tmp_path / "audit"), "--json")
    assert out["code"] in (0, None) and json.loads(str(out["stdout"]))["total"] == 1
    assert out["loaded"] == []


def test_top_level_help_still_lists_every_group() -> None:
    from gatekeeper.cli.main import COMMANDS, GROUPS

    out = _probe("--help")
    for name in (*COMMANDS, *GROUPS):
        assert name in str(out["stdout"]), name
