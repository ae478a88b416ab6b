"""docs/azure-gcp.md lists the covered operations generated from the Azure and Google Cloud specs
(``python -m gatekeeper.gendocs``; tests/providers/test_docs.py checks every generated block is current)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gatekeeper import gendocs
from gatekeeper.providers import azure, gcp
from gatekeeper.providers.docs_azure_gcp import gcp_operations

DOC = Path(__file__).resolve().parents[2] / "docs" / "azure-gcp.md"


def test_the_committed_doc_is_what_the_specs_render() -> None:
    assert not [d for d in gendocs.differences() if d.startswith("azure-gcp.md")]
    text = DOC.read_text(encoding="utf-8")
    for name in ("azure operations", "azure templates", "gcp operations"):
        assert f"<!-- BEGIN generated: {name} -->" in text


def test_every_row_is_listed() -> None:
    text = DOC.read_text(encoding="utf-8")
    for op in azure.OPERATIONS:
        assert f"`{op.type}`" in text and f"`{op.write}`" in text
    for call in azure.DEPLOYMENTS:
        assert f"`{call.sdk}`" in text
    for row in gcp.OPERATIONS:
        assert f"`{row.sdk}`" in text and f"`{row.audit}`" in text


def test_a_new_row_makes_the_doc_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = dataclasses.replace(gcp.OPERATIONS[0], method="insert_extra", audit="v1.compute.extra.insert")
    monkeypatch.setattr(gcp, "OPERATIONS", (*gcp.OPERATIONS, extra))
    assert "`v1.compute.extra.insert`" in gcp_operations()
    assert any(d.startswith("azure-gcp.md") for d in gendocs.differences())
