"""Option and argument values converted without pydantic where the conversion is plain.

The typer release in use converts every parameter value (the unset ones too) through a pydantic
``TypeAdapter`` that it builds on first use: importing pydantic and building the adapters costs about
0.1 s of CPU per run, more than a footer-only ``gatekeeper audit summary`` does itself. The values
gatekeeper's commands take are mostly plain: a text, a flag, a path, an integer written in decimal
digits, a list of those. Those are converted here exactly as typer's adapter converts them (the path
checks are typer's own ``coerce_cli_path``); anything else (a choice, a bounded number, ``1_000``, a
value of another type) goes to typer's conversion, built when first needed, so its results and error
messages stay typer's. ``tests/cli/test_coerce.py`` holds the two to the same results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

from typer import _coercion, core
from typer._param_types import coerce_cli_path

# What typer's int adapter (pydantic, lax) reads as int(value); other spellings go to typer.
_DECIMAL = re.compile(r"[+-]?[0-9]{1,30}")
_UNSET: Any = object()


def plain_value(descriptor: _coercion.TypeDescriptor, value: Any, param: Any = None, ctx: Any = None) -> Any:
    """``value`` converted as typer would for the parameter ``descriptor`` describes; ``_UNSET`` when
    the conversion is not a plain one (typer's must do it)."""
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return _UNSET
    annotation: Any = descriptor.annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        if len(args) != 1 or not isinstance(value, (list, tuple)):
            return _UNSET
        items = [_leaf(args[0], info, v, param, ctx) for v in value]
        return _UNSET if any(v is _UNSET for v in items) else items
    return _leaf(annotation, info, value, param, ctx)


def _leaf(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if annotation is bool:
        return value if type(value) is bool else _UNSET
    if annotation is str:
        return value if type(value) is str else _UNSET
    if annotation is int:
        if info.min is not None or info.max is not None or info.clamp:
            return _UNSET
        if type(value) is int:
            return value
        return int(value) if type(value) is str and _DECIMAL.fullmatch(value) else _UNSET
    if annotation is Path and info.path_type is None and not info.allow_dash:
        # typer makes the text a Path (pydantic: Path(text)), checks that Path and names the text in
        # its messages: the same when the text is the Path's own spelling (no "./", "//", trailing "/").
        # A NUL (never in argv) fails os.stat with a ValueError that typer's validator reports: typer's.
        if type(value) is str and str(Path(value)) == value:
            value = Path(value)
        if isinstance(value, Path) and "\x00" not in str(value):
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    return _UNSET


@dataclass(frozen=True)
class _PlainFirst(_coercion.RuntimeParam):
    """A parameter's conversion: plain when it can be, typer's (built on first need) otherwise."""

    descriptor: _coercion.TypeDescriptor
    _typer: list[_coercion.RuntimeParam] = field(default_factory=list)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        out = plain_value(self.descriptor, value, param, ctx)
        if out is not _UNSET:
            return out
        if not self._typer:
            self._typer.append(_coercion.build_runtime_param(self.descriptor))
        return self._typer[0]._coerce_value(value, param=param, ctx=ctx)


def _runtime_param(self: core._TyperParameter) -> _coercion.RuntimeParam:
    if self._runtime_param is None:
        d = self.type_descriptor
        self._runtime_param = _PlainFirst(parameter_info=d.parameter_info, annotation=d.annotation, descriptor=d)
    return self._runtime_param


def install() -> None:
    """Convert every typer parameter of this process plain-first (idempotent)."""
    core._TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]
