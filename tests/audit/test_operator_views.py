"""What reviewers read from the log: chip families in queries, replay counts that add up, the case column.

``--chip H100`` (the help's own example) finds the H100 variants the catalog records (H100-SXM,
H100-PCIe, H100-NVL) and not another family's name that merely starts alike (A10 is not A100 or
A10G). ``audit replay`` lists every changed record in exactly one bucket. The query table's case
column holds case ids only; a licence drawn is in its own column.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from gatekeeper.audit import decision_record
from gatekeeper.audit.replay import replay
from gatekeeper.cli.audit import app
from gatekeeper.model import Outcome
from tests.audit.conftest import make_decision, open_log
from tests.audit.test_replay import DIFFUSION, write_cases

runner = CliRunner()
CHIPS = [("dec-sxm", "H100-SXM"), ("dec-pcie", "H100-PCIe"), ("dec-nvl", "H100-NVL"), ("dec-h200", "H200"),
         ("dec-a10", "A10"), ("dec-a10g", "A10G"), ("dec-a100", "A100")]


def _cfg(tmp_path: Path) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[audit]\nurl = "file://audit"\nsigning_key = "key.pem"\n', encoding="utf-8")
    return f


def _query(cfg: Path, *args: str) -> list[str]:
    result = runner.invoke(app, ["query", "--config", str(cfg), "--json", *args])
    assert result.exit_code == 0, result.output
    return [r["decision_id"] for r in json.loads(result.stdout)["records"]]


def test_chip_family(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with open_log(tmp_path) as log:
        for did, chip in CHIPS:
            log.append(decision_record(make_decision(decision_id=did, chip=chip)))
    assert _query(cfg, "--chip", "H100") == ["dec-sxm", "dec-pcie", "dec-nvl"]
    assert _query(cfg, "--chip", "h100-pcie") == ["dec-pcie"]
    assert _query(cfg, "--chip", "A10") == ["dec-a10"]
    assert _query(cfg, "--chip", " a100 ") == ["dec-a100"]
    assert _query(cfg, "--chip", "H10") == []


def test_case_column_holds_cases_only(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with open_log(tmp_path) as log:
        log.append(decision_record(replace(make_decision(decision_id="dec-lic", outcome=Outcome.ALLOW, rules=()),
                                           licence_id="LIC-77")))
        log.append(decision_record(replace(make_decision(decision_id="dec-case", outcome=Outcome.PENDING),
                                           case_id="case-0042")))
    out = runner.invoke(app, ["query", "--config", str(cfg)], env={"COLUMNS": "250"}).stdout
    header = next(line for line in out.splitlines() if "seq" in line and "case" in line)
    case_at, licence_at = header.index(" case "), header.index("licence")
    lic_row = next(line for line in out.splitlines() if "allow" in line)
    case_row = next(line for line in out.splitlines() if "pending" in line)
    assert lic_row.index("LIC-77") >= licence_at and lic_row[case_at:licence_at].strip(" │|") == ""
    assert case_at <= case_row.index("case-0042") < licence_at


def test_replay_breakdown_adds_up(tmp_path: Path) -> None:
    write_cases(tmp_path)
    report = replay(tmp_path / "audit", [DIFFUSION])
    # dec-cn stays deny under other rules: it is counted, in its own bucket.
    assert report.changed == 4 and report.rules_only == 1
    assert sum(report.breakdown().values()) == report.changed
    out = runner.invoke(app, ["replay", "--config", str(_cfg(tmp_path)), "--policies", str(DIFFUSION)],
                        env={"COLUMNS": "250"}).stdout
    summary = next(line for line in out.splitlines() if "would change" in line)
    assert "4 would change" in summary and "same decision, other rules: 1" in summary
    assert sum(int(part.rsplit(": ", 1)[1]) for part in summary.split("(", 1)[1].rstrip(")").split("; ")) == 4
