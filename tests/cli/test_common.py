"""The CLI's shared runtime handling: errors become exit 1 (JSON with --json), the runtime is always closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from gatekeeper.cli import _common
from gatekeeper.errors import StoreError


class Spy:
    closed = 0

    def close(self) -> None:
        Spy.closed += 1


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[Spy]:
    Spy.closed = 0
    monkeypatch.setattr(_common, "runtime", lambda path, as_json=False: Spy())
    return Spy


def test_exit_codes_pass_through_and_the_runtime_is_closed(spy: type[Spy]) -> None:
    with pytest.raises(typer.Exit) as info, _common.opened(None):
        raise typer.Exit(3)
    assert info.value.exit_code == 3 and spy.closed == 1


def test_a_gatekeeper_error_becomes_exit_1_in_json(spy: type[Spy], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as info, _common.opened(None, as_json=True):
        raise StoreError("dynamodb unreachable")
    assert info.value.exit_code == 1 and spy.closed == 1
    assert json.loads(capsys.readouterr().out) == {"error": "dynamodb unreachable", "type": "StoreError"}


def test_other_exceptions_propagate_and_still_close(spy: type[Spy]) -> None:
    with pytest.raises(ValueError), _common.opened(None):
        raise ValueError("bug")
    assert spy.closed == 1


def test_a_bad_config_is_a_json_error_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "g.toml"
    bad.write_text('mode = "loose"\n', encoding="utf-8")
    with pytest.raises(typer.Exit) as info, _common.opened(bad, as_json=True):
        pass
    assert info.value.exit_code == 1 and "mode" in json.loads(capsys.readouterr().out)["error"]
