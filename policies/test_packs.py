"""Every shipped pack's own test cases, run by pytest (and by `gatekeeper policy test`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.policy.testing import CaseResult, run_pack_tests

RESULTS = run_pack_tests([Path(__file__).parent])


def test_every_pack_ships_cases() -> None:
    packs = {p.stem for p in Path(__file__).parent.glob("*.yaml")}
    assert packs <= {r.pack_id for r in RESULTS}


@pytest.mark.parametrize("result", RESULTS, ids=[f"{r.pack_id}: {r.name}" for r in RESULTS])
def test_pack_case(result: CaseResult) -> None:
    assert result.passed, (
        f"{result.file}: case {result.name!r}: expected {result.expected} {result.expected_rules or ''}, "
        f"got {result.actual} {list(result.actual_rules)}: {list(result.reasons)}"
    )
