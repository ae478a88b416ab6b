"""docs/azure-gcp.md lists the covered operations generated from the specs: the committed text is what
the specs render (regenerate with ``python -m gatekeeper.providers._docs docs/azure-gcp.md``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gatekeeper.providers import azure, gcp
from gatekeeper.providers._docs import BLOCKS, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "azure-gcp.md"


def test_the_committed_doc_is_what_the_specs_render() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "docs/azure-gcp.md is stale: python -m gatekeeper.providers._docs docs/azure-gcp.md"
    for name in BLOCKS:
        assert f"<!-- BEGIN GENERATED: {name}" in text


def test_every_row_is_listed() -> None:
    text = DOC.read_text(encoding="utf-8")
    for op in azure.OPERATIONS:
        assert f"`{op.type}`" in text and f"`{op.write}`" in text
    for call in azure.DEPLOYMENTS:
        assert f"`{call.sdk}`" in text
    for row in gcp.OPERATIONS:
        assert f"`{row.sdk}`" in text and f"`{row.audit}`" in text


def test_a_new_row_changes_the_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    extra = dataclasses.replace(gcp.OPERATIONS[0], method="insert_extra", audit="v1.compute.extra.insert")
    monkeypatch.setattr(gcp, "OPERATIONS", (*gcp.OPERATIONS, extra))
    changed = render(text)
    assert changed != text and "`v1.compute.extra.insert`" in changed
