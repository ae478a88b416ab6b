"""Policy packs: parse and validate (``loader``, ``schema``), compile (``compiled``), test (``testing``)."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.policy.compiled import CompiledRule, PackInfo, PolicySet, compile_packs, load_policies
from gatekeeper.policy.loader import parse_pack, read_packs
from gatekeeper.policy.schema import Pack, Rule


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
