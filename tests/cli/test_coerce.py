"""Plain-first conversion of option values gives what typer's own (pydantic) conversion gives.

For every kind of parameter the CLI declares (and the path checks typer offers), random values are
converted both ways: the same value of the same type, or the same error with the same message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer import _coercion
from typer._click import Context
from typer._click.exceptions import BadParameter
from typer.core import TyperArgument, TyperOption

from gatekeeper.cli import _coerce
from gatekeeper.cli.main import COMMANDS, GROUPS, _load


def _params() -> list[Any]:
    """One parameter of each distinct kind the gatekeeper CLI declares, with its command."""
    seen: dict[str, tuple[Any, Any]] = {}

    def walk(cmd: Any) -> None:
        if hasattr(cmd, "commands"):
            for name in cmd.list_commands(Context(cmd)):  # builds a lazy group's commands
                walk(cmd.get_command(Context(cmd), name))
        for p in cmd.params:
            d = p.type_descriptor
            i = d.parameter_info
            key = repr((d.annotation, i.min, i.max, i.clamp, i.path_type, i.exists, i.file_okay, i.dir_okay,
                        i.resolve_path, i.allow_dash, i.parser, p.multiple, p.nargs))
            seen.setdefault(key, (p, cmd))

    for name in (*COMMANDS, *GROUPS):
        walk(_load(name))
    return list(seen.values())


def _checked_paths() -> list[tuple[Any, Any]]:
    """Path options with each of typer's checks, as a command would declare them."""
    app = typer.Typer()

    @app.command()
    def cmd(
        a: Annotated[Path | None, typer.Option(exists=True)] = None,
        b: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
        c: Annotated[Path | None, typer.Option(exists=True, file_okay=False)] = None,
        d: Annotated[Path | None, typer.Option(resolve_path=True)] = None,
        e: Annotated[Path | None, typer.Option(writable=True, exists=True)] = None,
        n: Annotated[int, typer.Option(min=0, max=9)] = 1,
    ) -> None: ...

    command = typer.main.get_command(app)
    return [(p, command) for p in command.params]


PARAMS = _params() + _checked_paths()


def _convert(runtime: _coercion.RuntimeParam, value: Any, param: Any, ctx: Context) -> tuple[str, Any]:
    try:
        out = runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return "error", exc.format_message()
    return type(out).__name__, out


def _values(base: Path) -> st.SearchStrategy[Any]:
    paths = st.sampled_from(["file.txt", "dir", "missing", "dir/", "./file.txt", "", "-", "~", "dir/../file.txt"])
    texts = st.one_of(
        st.text(max_size=12),
        st.from_regex(r"\A[ +-]?[0-9_]{0,25}(\.0)?[ \n]?\Z"),
        paths.map(lambda p: str(base / p) if p not in ("", "-", "~") else p),
        paths,
    )
    return st.one_of(texts, st.integers(-10**20, 10**20), st.booleans(), texts.map(Path),
                     st.lists(texts, max_size=3), st.tuples(texts, texts), st.none())


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("coerce")
    (d / "file.txt").write_text("x", encoding="utf-8")
    (d / "dir").mkdir()
    return d


def test_every_kind_of_parameter_is_covered() -> None:
    kinds = {repr(p.type_descriptor.annotation) for p, _ in PARAMS}
    assert {"<class 'str'>", "<class 'int'>", "<class 'bool'>", "<class 'pathlib.Path'>",
            "list[str]", "list[pathlib.Path]"} <= kinds
    assert all(isinstance(p, TyperOption | TyperArgument) for p, _ in PARAMS)


@pytest.mark.parametrize("index", range(len(PARAMS)), ids=lambda i: f"{PARAMS[i][0].name}")
def test_plain_first_converts_as_typer_does(index: int, base: Path) -> None:
    param, command = PARAMS[index]
    d = param.type_descriptor
    ctx = Context(command)

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(_values(base))
    def check(value: Any) -> None:
        plain = _coerce._PlainFirst(parameter_info=d.parameter_info, annotation=d.annotation, descriptor=d)
        assert _convert(plain, value, param, ctx) == _convert(_coercion.build_runtime_param(d), value, param, ctx)

    check()


def test_the_review_commands_values_need_no_typer_conversion(base: Path) -> None:
    """What ``audit query`` and ``audit summary`` are given is converted without typer's adapter."""
    group = _load("audit")
    given_values = {"query": {"since": "2026-01-15", "until": "2026-01-16T00:00:00+00:00", "limit": "100",
                              "from_": str(base / "dir"), "json_out": True, "country": "CN"},
                    "summary": {"from_": str(base / "dir"), "json_out": True, "chip": "H100"}}
    for name, values in given_values.items():
        command = group.get_command(Context(group), name)
        params = {p.name: p for p in command.params}
        for key, value in values.items():
            d = params[key].type_descriptor
            out = _coerce.plain_value(d, value, params[key], Context(command))
            assert out is not _coerce._UNSET, (name, key, value)
