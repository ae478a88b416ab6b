"""Reading botocore-style parameter paths: ``LaunchTemplateConfigs[].Overrides[].InstanceType``.

A path is dot-separated member names; ``[]`` after a name iterates the list there; a leading ``$.``
reads from the request's root instead of the current scope. Paths are compiled once (the table is
data, read on every call) and each value read comes back with its concrete location
(``LaunchTemplateConfigs[0].Overrides[1].InstanceType``), which goes into the decision record.

Reading never raises on a missing member or on a value of the wrong shape: a caller's parameters
are not validated yet when gatekeeper sees them (botocore validates after ``before-parameter-build``),
so a string where a list belongs is simply "not there" here and botocore rejects the call later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    from_root: bool
    # (member name, iterate the list there)
    segments: tuple[tuple[str, bool], ...]


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Compile ``text``; an empty path (or ``$``) is the scope (root) itself."""
    raw = text.strip()
    from_root = raw == "$" or raw.startswith("$.")
    if from_root:
        raw = raw[2:] if raw.startswith("$.") else ""
    segments: list[tuple[str, bool]] = []
    for part in raw.split(".") if raw else ():
        iterate = part.endswith("[]")
        name = part[:-2] if iterate else part
        if not name or "[" in name or "]" in name:
            raise ValueError(f"bad parameter path {text!r}")
        segments.append((name, iterate))
    return Path(text, from_root, tuple(segments))


def _is_map(node: Any) -> bool:
    # dict first: isinstance against the Mapping ABC costs several times more, on the hot path.
    return isinstance(node, (dict, Mapping))


def read(scope: Any, path: str | Path, root: Any = None, where: str = "") -> list[tuple[str, Any]]:
    """Every value at ``path`` under ``scope`` (or ``root`` for ``$.`` paths), with its location.

    ``None`` values count as absent (botocore treats an explicit None as not given too).
    """
    p = compile_path(path) if isinstance(path, str) else path
    start = root if p.from_root and root is not None else scope
    nodes: list[tuple[str, Any]] = [("" if p.from_root else where, start)]
    for name, iterate in p.segments:
        nxt: list[tuple[str, Any]] = []
        for loc, node in nodes:
            if not _is_map(node):
                continue
            value = node.get(name)
            if value is None:
                continue
            here = f"{loc}.{name}" if loc else name
            if iterate:
                if isinstance(value, (list, tuple)):
                    nxt.extend((f"{here}[{i}]", v) for i, v in enumerate(value) if v is not None)
            else:
                nxt.append((here, value))
        nodes = nxt
        if not nodes:
            break
    return nodes


def first(scope: Any, path: str | Path, root: Any = None) -> Any:
    """The first value at ``path`` or None (no location kept: the cheap read for counts and flags)."""
    p = compile_path(path) if isinstance(path, str) else path
    node = root if p.from_root and root is not None else scope
    for i, (name, iterate) in enumerate(p.segments):
        if iterate:
            found = read(node, Path(p.text, False, p.segments[i:]))
            return found[0][1] if found else None
        if not _is_map(node):
            return None
        node = node.get(name)
        if node is None:
            return None
    return node


def present(scope: Any, path: str, root: Any = None) -> bool:
    return bool(read(scope, path, root))


def get_ci(mapping: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present, matching member names case-insensitively.

    Launch template references are spelt ``LaunchTemplateId`` (EC2, Auto Scaling), ``launchTemplateId``
    (Batch) or ``id`` (EKS); the table lists the spellings and this reads whichever the caller used.
    """
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any], exclusive: tuple[str, ...] = ()) -> dict[str, Any]:
    """``over`` applied on ``base``: mappings merge member by member, anything else (lists too) replaces.

    ``exclusive`` names top-level members that replace one another (an Auto Scaling group has a launch
    configuration, a launch template or a mixed-instances policy): when ``over`` gives any of them,
    the others are dropped from ``base``.
    """
    out = dict(base)
    if exclusive and any(over.get(k) is not None for k in exclusive):
        for k in exclusive:
            out.pop(k, None)
    for key, value in over.items():
        if value is None:
            continue
        prior = out.get(key)
        if isinstance(value, Mapping) and isinstance(prior, Mapping):
            out[key] = deep_merge(prior, value)
        else:
            out[key] = value
    return out
