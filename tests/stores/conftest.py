"""Store backends for the contract tests (see backends.py), and logging isolation."""

from collections.abc import Iterator

import pytest
import structlog

from tests.stores.backends import local_dynamodb, local_postgres, store_url

__all__ = ["local_dynamodb", "local_postgres", "store_url"]


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    # ``gatekeeper`` (cli/main.py) binds structlog to the sys.stderr of the invocation; under CliRunner
    # that stream is closed afterwards, and any later log call in the process would raise. Start and
    # leave every test with structlog's defaults.
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
