"""Help screens in the usual CLI notation instead of Python type names.

The typer release in use labels every parameter with its annotation (``--dry-run <bool>``,
``--attach <list[str]>``, ``case_id <str>``). A flag takes no value, so it gets no label; a value gets
its explicit ``metavar`` or a conventional word (TEXT, INTEGER, NUMBER, PATH, ``md|json`` for
choices), with ``...`` when the option may be repeated; an argument needs no label beside its name.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperOption

_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "bool": "BOOLEAN",
          "datetime": "DATE"}
_ORIGINAL = TyperOption.display_type_rich


def option_label(option: TyperOption, ctx: Any) -> str | None:
    if option.is_flag or option.count:
        return None
    if option.metavar is not None:
        return str(option.metavar)
    raw = str(_ORIGINAL(option, ctx) or "").strip("<>")
    repeated = raw.startswith("list[") and raw.endswith("]")
    inner = raw[5:-1] if repeated else raw
    label = "|".join(_WORDS.get(part, part) for part in re.split(r"\|", inner)) if inner else "VALUE"
    return label + ("..." if repeated else "")


def _option_label(self: TyperOption, ctx: Any) -> str | None:
    return option_label(self, ctx)


def _argument_label(self: TyperArgument, ctx: Any) -> str | None:
    return None


def install() -> None:
    """Use the labels above for every typer command of this process (idempotent)."""
    TyperOption.display_type_rich = _option_label  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_label  # type: ignore[method-assign, assignment]
