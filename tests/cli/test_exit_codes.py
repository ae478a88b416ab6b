"""One exit-code rule for every command that decides: check, plan check and hooks test agree."""

from __future__ import annotations

import pytest

from gatekeeper.cli._common import EXIT_DENY, EXIT_ERROR, EXIT_OK, EXIT_PENDING, decision_exit_code, worst_exit_code
from gatekeeper.cli.hooks import exit_code as hooks_exit_code


@pytest.mark.parametrize(("outcome", "error", "code"), [
    ("allow", None, EXIT_OK), ("flag", None, EXIT_OK), ("pending", None, EXIT_PENDING), ("deny", None, EXIT_DENY),
    ("deny", "store unavailable", EXIT_ERROR),  # denied fail-closed: "could not ask", not "no"
    ("pending", "audit write failed", EXIT_ERROR),
    ("allow", "on_error = allow", EXIT_OK),  # the operator chose to let errors through
    ("nonsense", None, EXIT_ERROR),
])
def test_one_decision(outcome: str, error: str | None, code: int) -> None:
    assert decision_exit_code(outcome, error) == code


def test_several_decisions_exit_with_the_most_restrictive() -> None:
    assert worst_exit_code([]) == EXIT_OK
    assert worst_exit_code([EXIT_OK, EXIT_ERROR]) == EXIT_ERROR
    assert worst_exit_code([EXIT_ERROR, EXIT_PENDING]) == EXIT_PENDING
    assert worst_exit_code([EXIT_PENDING, EXIT_DENY, EXIT_ERROR]) == EXIT_DENY


def test_hooks_test_follows_the_rule() -> None:
    ok = {"status": "dry_run", "decision": "allow", "error": None}
    failed_closed = {"status": "dry_run", "decision": "deny", "error": "store unavailable"}
    assert hooks_exit_code([ok]) == EXIT_OK
    assert hooks_exit_code([ok, failed_closed]) == EXIT_ERROR  # was 4 (deny) before the rule was shared
    assert hooks_exit_code([failed_closed, {"status": "dry_run", "decision": "deny"}]) == EXIT_DENY
    assert hooks_exit_code([{"status": "error", "reason": "malformed"}]) == EXIT_ERROR
