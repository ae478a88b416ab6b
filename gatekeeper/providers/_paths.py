"""The one reader of paths into provider data: SDK parameters, audit events, resource descriptions.

A path is dot-separated member names::

    LaunchTemplateConfigs[].Overrides[].InstanceType
    $.HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs
    responseElements.instancesSet.items[].instanceType | requestParameters.instanceType

- ``[]`` after a name iterates the list there;
- a leading ``$.`` reads from the root of the data instead of the current scope (a nested slot reading
  a request-wide member);
- ``|`` separates alternatives: the first alternative that yields anything wins.

How members are matched is a :class:`Mode`, chosen by the caller per shape, not per path:

- :data:`EXACT` (SDK parameters): names match exactly, ``[]`` iterates lists only. A value of the
  wrong shape is simply "not there": an SDK validates the caller's parameters after gatekeeper reads
  them, and rejects what does not fit.
- a loose mode (audit events, e.g. ``Mode(ignore_case=True, bare_lists=True, list_wrappers=("items",
  "item"))`` for CloudTrail): names match case-insensitively (an exact match first), ``[]`` over an
  object yields the object (CloudTrail turns an XML list of one element into a bare object), and a
  list wrapper (EC2's ``{"items": [...]}``) is looked through. Two spellings of one member with
  different values are an :class:`AmbiguousPath` error, not a guess.

Reading never raises on a missing member or a value of the wrong shape; every value read comes back
with its concrete location (``LaunchTemplateConfigs[0].Overrides[1].InstanceType``), which goes into
the decision record. Paths are compiled once and cached (the specs are data, read on every call).

Numbers in provider data are untrusted: :func:`number` and :func:`whole` read them without ever
raising an uncaught error (a 5,000-digit string, ``1e308``, NaN, a bool) and say why one is unusable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gatekeeper.errors import InvalidInputError

# Counts beyond this are not a real request (no provider launches a billion machines in one call);
# they are read as malformed rather than carried into arithmetic and records.
MAX_COUNT = 1_000_000_000
_MAX_DIGITS = 32  # longer digit strings are rejected before int() (which refuses > 4300 digits anyway)
_BIG = 10 ** _MAX_DIGITS


class AmbiguousPath(InvalidInputError):
    """Two spellings of one member (``instanceType`` and ``InstanceType``) with different values."""


@dataclass(frozen=True, slots=True)
class Mode:
    """How member names and lists are matched (see the module docstring)."""

    ignore_case: bool = False
    bare_lists: bool = False  # ``[]`` over an object (or a scalar) yields it
    list_wrappers: tuple[str, ...] = ()  # ``{"items": [...]}`` under ``[]`` yields the list's elements


EXACT = Mode()


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    from_root: bool
    segments: tuple[tuple[str, bool], ...]  # (member name, iterate the list there)


@lru_cache(maxsize=8192)
def _compile_one(text: str) -> Path:
    raw = text.strip()
    from_root = raw == "$" or raw.startswith("$.")
    if from_root:
        raw = raw[2:] if raw.startswith("$.") else ""
    segments: list[tuple[str, bool]] = []
    for part in raw.split(".") if raw else ():
        iterate = part.endswith("[]")
        name = part[:-2] if iterate else part
        if not name or "[" in name or "]" in name or "|" in name:
            raise ValueError(f"bad path {text!r}")
        segments.append((name, iterate))
    return Path(text, from_root, tuple(segments))


@lru_cache(maxsize=8192)
def compile_path(text: str) -> tuple[Path, ...]:
    """The alternatives of ``text``; an empty path (or ``$``) is the scope (root) itself.

    Raises ValueError for a malformed path (a spec error, found when the spec is loaded in tests).
    """
    return tuple(_compile_one(alt) for alt in text.split("|")) if "|" in text else (_compile_one(text),)


def _is_map(node: Any) -> bool:
    # dict first: isinstance against the Mapping ABC costs several times more, on the hot path.
    return isinstance(node, (dict, Mapping))


def child(node: Any, name: str, mode: Mode = EXACT) -> Any:
    """The member ``name`` of ``node`` (None when absent or ``node`` is not an object)."""
    if not _is_map(node):
        return None
    value = node.get(name)
    if value is not None or not mode.ignore_case:
        return value
    low = name.lower()
    found: Any = None
    seen = ""
    for key, v in node.items():
        if isinstance(key, str) and key.lower() == low and v is not None:
            if seen and v != found:
                raise AmbiguousPath(f"both {seen!r} and {key!r} are given, with different values", field=name)
            found, seen = v, key
    return found


def _elements(value: Any, mode: Mode) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if not mode.bare_lists:
        return []
    if mode.list_wrappers and _is_map(value) and len(value) == 1:
        (key, inner), = value.items()
        if isinstance(key, str) and key.lower() in mode.list_wrappers:
            return list(inner) if isinstance(inner, (list, tuple)) else [inner]
    return [value]


def _read_one(p: Path, scope: Any, root: Any, where: str, mode: Mode) -> list[tuple[str, Any]]:
    start = root if p.from_root and root is not None else scope
    if start is None:
        return []
    nodes: list[tuple[str, Any]] = [("" if p.from_root else where, start)]
    for name, iterate in p.segments:
        nxt: list[tuple[str, Any]] = []
        for loc, node in nodes:
            value = child(node, name, mode)
            if value is None:
                continue
            here = f"{loc}.{name}" if loc else name
            if iterate:
                nxt.extend((f"{here}[{i}]", v) for i, v in enumerate(_elements(value, mode)) if v is not None)
            else:
                nxt.append((here, value))
        nodes = nxt
        if not nodes:
            break
    return nodes


def read(scope: Any, path: str, root: Any = None, where: str = "", mode: Mode = EXACT) -> list[tuple[str, Any]]:
    """Every value at ``path`` under ``scope`` (``root`` for ``$.`` paths), each with its location.

    ``None`` values count as absent (SDKs treat an explicit None as not given too). With alternatives,
    the first that yields anything wins.
    """
    for p in compile_path(path):
        found = _read_one(p, scope, root, where, mode)
        if found:
            return found
    return []


def values(scope: Any, path: str, root: Any = None, mode: Mode = EXACT) -> list[Any]:
    """Every value at ``path`` (no locations)."""
    return [v for _, v in read(scope, path, root, mode=mode)]


def first(scope: Any, path: str, root: Any = None, mode: Mode = EXACT) -> Any:
    """The first value at ``path`` or None (the cheap read for counts and flags)."""
    alternatives = compile_path(path)
    if len(alternatives) == 1 and not mode.bare_lists:
        p = alternatives[0]
        node = root if p.from_root and root is not None else scope
        for name, iterate in p.segments:
            if iterate:
                found = _read_one(p, scope, root, "", mode)
                return found[0][1] if found else None
            # The hot path (SDK parameters are plain dicts, read exactly): no call per member.
            node = node.get(name) if node.__class__ is dict and mode is EXACT else child(node, name, mode)
            if node is None:
                return None
        return node
    found = read(scope, path, root, mode=mode)
    return found[0][1] if found else None


def present(scope: Any, path: str, root: Any = None, mode: Mode = EXACT) -> bool:
    return bool(read(scope, path, root, mode=mode))


def text(scope: Any, path: str, root: Any = None, mode: Mode = EXACT) -> str:
    """The first value at ``path`` as a stripped string ("" when absent or not a scalar)."""
    v = first(scope, path, root, mode)
    if isinstance(v, str):
        return v.strip()
    if v is None or isinstance(v, (bool, dict, list, tuple, Mapping)):
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return str(v)


def strings(scope: Any, path: str, root: Any = None, mode: Mode = EXACT) -> list[str]:
    """Every string at ``path`` (a list of strings is flattened), stripped, empties dropped."""
    out: list[str] = []
    for v in values(scope, path, root, mode):
        for s in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(s, str) and s.strip():
                out.append(s.strip())
    return out


def get_ci(mapping: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present, member names matched case-insensitively.

    One reference is spelt differently by sibling services (EC2 ``LaunchTemplateId``, Batch
    ``launchTemplateId``, EKS ``id``); a spec lists the spellings and this reads whichever was used.
    """
    lowered = {k.lower(): v for k, v in mapping.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


# -- numbers ---------------------------------------------------------------------------------------
def number(value: Any) -> float | None:
    """A finite number from an int, a float or a numeric string; None when it is none of these.

    Never raises: bools, NaN, infinities, over-long digit strings and overflowing values are None.
    """
    if value.__class__ is int:  # the usual count: no other check needed
        return float(value) if -_BIG <= value <= _BIG else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= _BIG else None
    if isinstance(value, str):
        s = value.strip()
        if not s or len(s) > _MAX_DIGITS + 8:
            return None
        value = s
    try:
        n = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if math.isfinite(n) else None


def whole(value: Any, field: str, limit: int = MAX_COUNT) -> int:
    """A count: a whole number in [0, ``limit``]; anything else raises InvalidInputError naming ``field``.

    For audit events, where a malformed count is an input error to record, not a number to guess.
    """
    n = number(value)
    if n is None or not n.is_integer():
        raise InvalidInputError(f"not a whole number: {shown(value)}", field=field)
    if n < 0 or n > limit:
        raise InvalidInputError(f"{shown(value)} is out of range (0 to {limit})", field=field)
    return int(n)


def shown(value: Any, limit: int = 40) -> str:
    """``value`` for a message, cut short (never the 5,000 digits, and never raising on them)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _BIG:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value)
    except ValueError:  # int -> str conversion limits inside a container
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- applying changes over a description ----------------------------------------------------------
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
