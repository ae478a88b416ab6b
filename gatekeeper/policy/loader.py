"""Reading pack files: YAML -> validated ``Pack``, with errors that name file, line, rule and field.

Each pack is parsed once, into a node tree (which carries line marks), and the data is constructed
from that tree; a pydantic error location (``rules.2.when.customer``) is walked back through the
tree to the line it came from. The parser is libyaml's when PyYAML was built with it (5-20x faster
than the pure-Python one: the packs are parsed on every cold start, a Lambda's included), else
PyYAML's own; both resolve scalars through the same Python resolver, so both give the same data.

Before any data is built, the node tree is checked (``_check_tree``), because YAML accepts things a
pack must not: a duplicate key (the last one silently wins: a ``deny`` became a ``flag``), a key that
is not a plain scalar, tags other than the core ones (``!!binary``, ``!!set``, ``!!python/...``,
local ``!tags``), merge keys, anchors and aliases (shared nodes: exponential "billion laughs" data).
A scalar that cannot be built (``2025-13-45`` resolves to an impossible timestamp, ``!!int abc``) and
text that is not UTF-8 are errors too. Whatever the failure, the one error is PolicyError with file,
line, rule and field as precisely as they are known: never a Python traceback.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gatekeeper.errors import PolicyError
from gatekeeper.policy.files import PACK_SUFFIXES as PACK_SUFFIXES  # re-exported: where callers found them
from gatekeeper.policy.files import pack_files as pack_files

if TYPE_CHECKING:  # the models (pydantic) are imported by parse_pack: pack_files needs none of them
    from gatekeeper.policy.schema import Pack



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


_CORE = "tag:yaml.org,2002:"
# Tags a pack may carry (implicitly resolved or written out): the core schema's scalars and collections.
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq"))
Path_ = tuple[int | str, ...]


class TreeError(Exception):
    """A problem at one node of the tree (turned into a PolicyError by parse_pack, which knows the file)."""

    def __init__(self, message: str, node: yaml.Node, path: Path_) -> None:
        super().__init__(message)
        self.message, self.node, self.path = message, node, path


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (with line marks) and the data constructed from it: one parse, no second pass."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        scalars = _check_tree(root)
        try:
            return root, loader.construct_document(root)
        except RecursionError:
            raise
        except Exception as exc:  # PyYAML's scalar constructors raise ValueError, KeyError, AttributeError...
            raise _bad_scalar(root, scalars, exc) from exc
    finally:
        loader.dispose()


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _check_tree(root: yaml.Node) -> list[tuple[yaml.ScalarNode, Path_]]:
    """Refuse what YAML allows and a pack must not (see the module docstring); the scalars with their paths."""
    scalars: list[tuple[yaml.ScalarNode, Path_]] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            raise TreeError("anchors and aliases (&name, *name) are not allowed in a pack; write the value out",
                            node, path)
        seen.add(id(node))
        if node.tag not in ALLOWED_TAGS:
            raise TreeError(f"the YAML tag {_tag_name(node.tag)} is not allowed in a pack (only plain values, "
                            "lists and mappings)", node, path)
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, yaml.Node] = {}
            children: list[tuple[yaml.Node, Path_]] = []
            for key, value in node.value:
                if key.tag == _CORE + "merge":
                    raise TreeError("merge keys (<<) are not allowed in a pack; write the keys out", key, path)
                if not isinstance(key, yaml.ScalarNode) or key.tag not in ALLOWED_TAGS:
                    raise TreeError("a key must be a plain name", key, path)
                if key.value in keys:
                    first = keys[key.value].start_mark.line + 1
                    raise TreeError(f"duplicate key {key.value!r} (first on line {first}); a key may appear once",
                                    key, (*path, key.value))
                keys[key.value] = key
                scalars.append((key, (*path, key.value)))
                children.append((value, (*path, key.value)))
            stack.extend(reversed(children))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed([(v, (*path, i)) for i, v in enumerate(node.value)]))
        else:
            scalars.append((node, path))  # type: ignore[arg-type]  # not a collection: a scalar
    return scalars


def _bad_scalar(root: yaml.Node, scalars: list[tuple[yaml.ScalarNode, Path_]], exc: Exception) -> TreeError:
    """The first scalar (key or value) that cannot be built (only on the error path: each is tried alone)."""
    for node, path in scalars:
        probe = _Loader("")
        try:
            probe.construct_object(node, deep=True)
        except Exception as err:  # whatever the constructor raises for this one scalar
            kind = _tag_name(node.tag)[2:]
            detail = ("impossible date" if kind == "timestamp" else f"not a valid {kind}")
            why = getattr(err, "problem", None) or (str(err) if isinstance(err, ValueError) else "")
            return TreeError(f"{detail}: {node.value!r}" + (f" ({why})" if why else ""), node, path)
        finally:
            probe.dispose()
    return TreeError(f"cannot be read: {type(exc).__name__}: {exc}", root, ())  # not one scalar's fault


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


RULE_ID_LINE = re.compile(r"^\s*(?:-\s+)?id:\s*['\"]?([^'\"#\s]+)")


def rule_near(text: str, line: int | None) -> str | None:
    """The id of the rule a line of a pack's text falls in (for errors found before there is any data)."""
    if line is None:
        return None
    found: str | None = None
    in_rules = False
    for raw in text.splitlines()[:line]:
        if raw[:1].isalpha():  # a top-level key: the rules list starts here, or ends
            in_rules, found = raw.startswith("rules:"), None
        elif in_rules and (m := RULE_ID_LINE.match(raw)):
            found = m.group(1)
    return found


def _field(path: Path_) -> str | None:
    return ".".join(str(p) for p in path) or None


def _rule_of_path(root: yaml.Node | None, path: Path_) -> str | None:
    """The rule id along a node path (``rules.N...``), read from the tree: the data may not exist yet."""
    if len(path) < 2 or path[0] not in ("rules", "tests") or not isinstance(path[1], int):
        return None
    seq = _node_at(root, path[:1])
    if not isinstance(seq, yaml.SequenceNode) or path[1] >= len(seq.value):
        return None
    item = seq.value[path[1]]
    key = "id" if path[0] == "rules" else "name"
    value = next((v.value for k, v in getattr(item, "value", ()) if isinstance(item, yaml.MappingNode)
                  and getattr(k, "value", None) == key and isinstance(v, yaml.ScalarNode)), None)
    if path[0] == "tests":
        return f"test {value or path[1] + 1!r}"
    return str(value) if value else f"#{path[1] + 1}"


def parse_pack(text: str, file: str) -> Pack:
    """Validate one pack's text; raise PolicyError naming file, line, rule and field."""
    try:
        root, data = _parse(text)
    except TreeError as exc:
        tree = exc.node
        root = None
        with contextlib.suppress(yaml.YAMLError):  # an alias loop, say: the line and the path are enough
            root = yaml.compose(text, Loader=PackLoader)
        raise PolicyError(exc.message, file=file, line=tree.start_mark.line + 1,
                          rule=_rule_of_path(root, exc.path) or rule_near(text, tree.start_mark.line + 1),
                          field=_field(exc.path)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PolicyError(f"not valid YAML: {exc.problem or exc.context or exc}", file=file, line=line,
                          rule=rule_near(text, line)) from None
    except yaml.YAMLError as exc:  # the reader: a character YAML does not allow (a control character, say)
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise PolicyError(f"not valid YAML: {exc}", file=file, line=line, rule=rule_near(text, line)) from None
    except RecursionError:
        raise PolicyError("not valid YAML: nested too deeply", file=file) from None
    if not isinstance(data, dict):
        raise PolicyError("a pack must be a mapping with id, version, title, citation, rules", file=file, line=1)
    from pydantic import ValidationError

    from gatekeeper.policy.schema import Pack

    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        node = _node_at(root, loc)
        line = node.start_mark.line + 1 if node is not None else None
        raise PolicyError(err["msg"], file=file, line=line, rule=_rule_id(data, loc), field=_field(loc)) from exc


def decode_pack(raw: bytes, file: str) -> str:
    """A pack file's bytes as text: UTF-8 (with or without a BOM), else PolicyError naming the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        text = raw.decode("utf-8", errors="replace")
        raise PolicyError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} (save the file "
                          "as UTF-8)", file=file, line=line, rule=rule_near(text, line),
                          field=_key_on(text, line)) from None


def _key_on(text: str, line: int) -> str | None:
    lines = text.splitlines()
    if line > len(lines):
        return None
    key, sep, _ = lines[line - 1].strip().lstrip("- ").partition(":")
    return key.strip() or None if sep else None


def read_packs(paths: Iterable[str | Path]) -> list[tuple[Pack, str]]:
    """Every pack under ``paths`` with its file name; all are read before any is used."""
    packs: list[tuple[Pack, str]] = []
    ids: dict[str, str] = {}
    for f in pack_files(paths):
        try:
            raw = f.read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read: {exc.strerror or exc}", file=str(f)) from exc
        pack = parse_pack(decode_pack(raw, str(f)), str(f))
        if pack.id in ids:
            raise PolicyError(f"pack id {pack.id!r} is also defined in {ids[pack.id]}", file=str(f), field="id")
        ids[pack.id] = str(f)
        packs.append((pack, str(f)))
    if not packs:
        raise PolicyError("no policy packs found in " + ", ".join(str(p) for p in paths))
    return packs
