"""Fixtures for screening tests: the fixture list (real Entity List names and decoys) and a Gatekeeper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper.config import Config
from gatekeeper.screening import ParsedList, ScreeningIndex, parse_file
from gatekeeper.service import Gatekeeper

DATA = Path(__file__).parent / "data"
CSV_LIST = DATA / "consolidated.csv"
JSON_LIST = DATA / "consolidated.json"


@pytest.fixture(scope="session")
def parsed_csv() -> ParsedList:
    return parse_file(CSV_LIST)


@pytest.fixture(scope="session")
def index(parsed_csv: ParsedList) -> ScreeningIndex:
    return ScreeningIndex(parsed_csv.entries)


@pytest.fixture
def gkeeper(config: Config) -> Iterator[Gatekeeper]:
    """A Gatekeeper on a temporary store and audit log (not the process-wide one)."""
    g = Gatekeeper(config)
    yield g
    g.close()
