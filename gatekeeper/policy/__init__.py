"""Policy packs: parse and validate (``loader``, ``schema``), compile (``compiled``), test (``testing``).

The pack format's models (``Pack``, ``Rule``: pydantic) and the reader that validates with them
(``parse_pack``, ``read_packs``) are imported on first use: a function host compiles packs from a
bundle validated when its package was built (``bundle``, ``plain``) and never loads them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatekeeper.policy.compiled import CompiledRule, PackInfo, PolicySet, compile_packs, load_policies

if TYPE_CHECKING:
    from gatekeeper.policy.loader import parse_pack, read_packs
    from gatekeeper.policy.schema import Pack, Rule

_LAZY = {"Pack": "gatekeeper.policy.schema", "Rule": "gatekeeper.policy.schema",
         "parse_pack": "gatekeeper.policy.loader", "read_packs": "gatekeeper.policy.loader"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gatekeeper.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def shipped_policies_dir() -> Path:
    """The packs shipped with gatekeeper: inside the wheel, or ``policies/`` of a source checkout."""
    inside = Path(__file__).resolve().parent.parent / "_shipped_policies"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parents[2] / "policies"


__all__ = [
    "CompiledRule",
    "Pack",
    "PackInfo",
    "PolicySet",
    "Rule",
    "compile_packs",
    "load_policies",
    "parse_pack",
    "read_packs",
    "shipped_policies_dir",
]
