"""The review commands on a real terminal (a pseudo-terminal): rich draws its progress bar and tables.

Under ``CliRunner`` or a pipe the progress bar is disabled, so only a terminal exercises rich's live
display, which enters the CLI's lazily made console as a context manager (it once failed there with
``TypeError: '_LazyConsole' object does not support the context manager protocol``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli._common import EXIT_OK, EXIT_PENDING
from tests.terminal import on_a_terminal
from tests.workflow.test_cli import check, import_profiles, write_config


def _on_a_terminal(cfg: Path, *args: str) -> tuple[int, str]:
    return on_a_terminal([*args, "--config", str(cfg)], cwd=cfg.parent)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    f = write_config(tmp_path)
    import_profiles("sqlite:///state.db", tmp_path)
    for _ in range(3):
        assert check(f)[0] == EXIT_PENDING  # three decisions recorded
    return f


def test_audit_verify_draws_its_progress_and_reports_intact(cfg: Path) -> None:
    code, text = _on_a_terminal(cfg, "audit", "verify")
    assert code == EXIT_OK, text[-2000:]
    assert "intact" in text and "Traceback" not in text


@pytest.mark.parametrize(("args", "shown"), [(("audit", "summary"), "pending"), (("audit", "query"), "pending"),
                                             (("audit", "reconcile"), "0 reviewer records")])
def test_the_review_tables_on_a_terminal(cfg: Path, args: tuple[str, ...], shown: str) -> None:
    code, text = _on_a_terminal(cfg, *args)
    assert code == EXIT_OK, text[-2000:]
    assert "Traceback" not in text and "TypeError" not in text
    assert shown in text.lower()  # what was recorded is shown
