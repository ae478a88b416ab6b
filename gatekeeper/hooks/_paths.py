"""Event-shape reads for the hooks that have no provider spec of their own yet (Event Grid).

A thin view of the one path reader (:mod:`gatekeeper.providers._paths`) in a loose mode: keys match
case-insensitively, ``[]`` over an object yields the object, ``|`` separates alternatives. Kept so
that ``hooks/azure_function.py`` reads through the same reader until it moves onto its provider spec.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.providers import _paths as _p

EVENT = _p.Mode(ignore_case=True, bare_lists=True)


def values(node: Any, path: str) -> list[Any]:
    """Every value at ``path`` (alternatives separated by ``|``; the first non-empty one wins)."""
    if not path:
        return [node] if node is not None else []
    return [v for v in _p.values(node, path, mode=EVENT) if v != ""]


def first(node: Any, path: str) -> Any:
    found = values(node, path)
    return found[0] if found else None


def text(node: Any, path: str) -> str:
    return _p.text(node, path, mode=EVENT)


def integer(node: Any, path: str) -> int | None:
    """The first value at ``path`` as a non-negative whole number; None when absent or not one."""
    n = _p.number(first(node, path))
    return int(n) if n is not None and n.is_integer() and 0 <= n <= _p.MAX_COUNT else None


def strings(node: Any, path: str) -> list[str]:
    return _p.strings(node, path, mode=EVENT)
