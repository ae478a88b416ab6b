"""Reading pack files: YAML -> validated ``Pack``, with errors that name file, line, rule and field.

Each pack is parsed once, into a node tree (which carries line marks), and the data is constructed
from that tree; a pydantic error location (``rules.2.when.customer``) is walked back through the
tree to the line it came from. The parser is libyaml's when PyYAML was built with it (5-20x faster
than the pure-Python one: the packs are parsed on every cold start, a Lambda's included), else
PyYAML's own; both resolve scalars through the same Python resolver, so both give the same data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gatekeeper.errors import PolicyError
from gatekeeper.policy.schema import Pack

PACK_SUFFIXES = (".yaml", ".yml")


class PackLoader(yaml.SafeLoader):
    """YAML 1.2 booleans only: ``NO`` (Norway) and ``on:`` stay strings, as a policy author means them."""


PackLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PackLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_CSafeLoader: Any = getattr(yaml, "CSafeLoader", None)
if _CSafeLoader is not None:

    class CPackLoader(_CSafeLoader):  # type: ignore[misc]  # untyped base (yaml's C extension)
        """PackLoader's resolvers on libyaml's parser (the implicit resolvers are the resolver's, in Python)."""

    CPackLoader.yaml_implicit_resolvers = PackLoader.yaml_implicit_resolvers
    _Loader: Any = CPackLoader
else:  # PyYAML built without libyaml
    _Loader = PackLoader


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (with line marks) and the data constructed from it: one parse, no second pass."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _node_at(node: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location."""
    best = node
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if nxt is None:
                # The key itself may be the problem (extra field): point at it.
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key or best
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return best
        best = node
    return best


def _rule_id(data: Any, loc: Sequence[int | str]) -> str | None:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data, dict):
        rules = data.get("rules")
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rid = rules[loc[1]].get("id")
            return str(rid) if rid is not None else f"#{loc[1] + 1}"
    if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int) and isinstance(data, dict):
        tests = data.get("tests")
        if isinstance(tests, list) and loc[1] < len(tests) and isinstance(tests[loc[1]], dict):
            return f"test {tests[loc[1]].get('name', loc[1] + 1)!r}"
    return None


def parse_pack(text: str, file: str) -> Pack:
    """Validate one pack's text; raise PolicyError naming file, line, rule and field."""
    try:
        root, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=file,
                          line=mark.line + 1 if mark else None) from exc
    if not isinstance(data, dict):
        raise PolicyError("a pack must be a mapping with id, version, title, citation, rules", file=file, line=1)
    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        node = _node_at(root, loc)
        line = node.start_mark.line + 1 if node is not None else None
        field = ".".join(str(p) for p in loc) or None
        raise PolicyError(err["msg"], file=file, line=line, rule=_rule_id(data, loc), field=field) from exc


def pack_files(paths: Iterable[str | Path]) -> list[Path]:
    """Pack files named by ``paths`` (files, or folders searched for *.yaml), in a stable order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in PACK_SUFFIXES and f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise PolicyError("no such file or folder", file=str(p))
    return out


def read_packs(paths: Iterable[str | Path]) -> list[tuple[Pack, str]]:
    """Every pack under ``paths`` with its file name; all are read before any is used."""
    packs: list[tuple[Pack, str]] = []
    ids: dict[str, str] = {}
    for f in pack_files(paths):
        try:
            text = f.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read: {exc.strerror or exc}", file=str(f)) from exc
        pack = parse_pack(text, str(f))
        if pack.id in ids:
            raise PolicyError(f"pack id {pack.id!r} is also defined in {ids[pack.id]}", file=str(f), field="id")
        ids[pack.id] = str(f)
        packs.append((pack, str(f)))
    if not packs:
        raise PolicyError("no policy packs found in " + ", ".join(str(p) for p in paths))
    return packs
