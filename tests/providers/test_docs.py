"""The covered operations in docs/aws.md and the README are generated from the spec and in step with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper import gendocs
from gatekeeper.providers.aws import SPEC
from gatekeeper.providers.docs import operations_table, summary


def test_the_committed_docs_match_the_spec() -> None:
    assert gendocs.differences() == []
    assert gendocs.main(["--check"]) == 0


def test_every_operation_is_listed_once() -> None:
    table = operations_table(SPEC)
    for op in SPEC.operations:
        assert table.count(f"| {op.service} | {op.name} |") == 1
        assert op.name in summary(SPEC)


def test_a_drifted_block_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "aws.md"
    doc.write_text("<!-- BEGIN generated: aws operations -->\n| old |\n<!-- END generated: aws operations -->\n")
    missing = tmp_path / "README.md"
    missing.write_text("no markers\n")
    monkeypatch.setattr(gendocs, "blocks", lambda: {doc: {"aws operations": "new\n"}, missing: {"x": "y\n"}})
    diffs = gendocs.differences()
    assert any("differs" in d for d in diffs) and any("no generated block" in d for d in diffs)
    assert gendocs.main(["--check"]) == 1
    monkeypatch.setattr(gendocs, "blocks", lambda: {doc: {"aws operations": "new\n"}})
    gendocs.write()
    assert "new\n<!-- END" in doc.read_text() and gendocs.differences() == []
