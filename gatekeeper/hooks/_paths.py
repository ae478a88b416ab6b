"""A tiny path language over CloudTrail/Event Grid JSON, so that the translation tables stay data.

    "requestParameters.instancesSet.items[].maxCount"

- ``.`` descends into an object; keys match case-insensitively, because CloudTrail spells the same
  field camelCase for one operation and PascalCase for another (EC2's newer query operations are
  recorded inside a ``CreateFleetRequest`` wrapper with the API's own PascalCase names).
- ``[]`` iterates: a list yields its elements, an object or scalar yields itself. CloudTrail turns an
  EC2 XML list of one element into a bare object (``{"item": {...}}`` rather than ``[{...}]``), so a
  path must not care which of the two it meets.
- ``|`` separates alternatives; the first alternative that yields anything wins.

Everything is read-only and total: a missing key, a null or a wrong type yields nothing; the caller
decides whether nothing is an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def _child(node: Any, key: str) -> Any:
    if not isinstance(node, Mapping):
        return None
    if key in node:
        return node[key]
    low = key.lower()
    for k, v in node.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


def _walk(node: Any, parts: list[str]) -> Iterator[Any]:
    if node is None:
        return
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    iterate = head.endswith("[]")
    key = head[:-2] if iterate else head
    child = _child(node, key) if key else node
    if child is None:
        return
    if iterate:
        elements = child if isinstance(child, list) else [child]
        for element in elements:
            yield from _walk(element, rest)
    else:
        yield from _walk(child, rest)


def values(node: Any, path: str) -> list[Any]:
    """Every value at ``path`` (alternatives separated by ``|``; the first non-empty one wins)."""
    if not path:
        return [node] if node is not None else []
    for alternative in path.split("|"):
        alt = alternative.strip()
        if not alt:
            continue
        found = [v for v in _walk(node, alt.split(".")) if v is not None and v != ""]
        if found:
            return found
    return []


def first(node: Any, path: str) -> Any:
    """The first value at ``path``, or None."""
    found = values(node, path)
    return found[0] if found else None


def text(node: Any, path: str) -> str:
    """The first value at ``path`` as a stripped string ("" when absent or not a scalar)."""
    v = first(node, path)
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, bool) or v is None or isinstance(v, Mapping | list):
        return ""
    return str(v)


def integer(node: Any, path: str) -> int | None:
    """The first value at ``path`` as a non-negative int; None when absent or not a whole number."""
    v = first(node, path)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, float) and v.is_integer() and v >= 0:
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def strings(node: Any, path: str) -> list[str]:
    """Every string value at ``path`` (a list of strings is flattened), stripped, empties dropped."""
    out: list[str] = []
    for v in values(node, path):
        for s in v if isinstance(v, list) else [v]:
            if isinstance(s, str) and s.strip():
                out.append(s.strip())
    return out
