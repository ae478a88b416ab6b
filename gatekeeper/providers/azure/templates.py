"""Static evaluation of ARM templates: which compute resources a deployment would write, with what sizes.

A deployment (``PUT .../Microsoft.Resources/deployments/NAME``, its ``validate`` and ``whatIf``
actions, a deployment stack) carries a template inline (``properties.template``) or by link
(``templateLink.uri`` / ``templateLink.id`` of a template spec, ``relativePath`` against the parent
link), and ``parameters`` (or ``parametersLink``). Bicep, the portal's "deploy a custom template" and
much provider tooling reach compute this way. :func:`evaluate` walks the template as ARM would,
without deploying anything:

- ``parameters`` (given values, else ``defaultValue``), ``variables``, ``condition``;
- ``copy`` loops (the count; ``copyIndex()`` evaluated per copy) on resources, nested deployments
  (``Microsoft.Resources/deployments`` with an inline or linked template, ``inner`` or ``outer``
  expression scope) and child resources (``resources`` inside a resource);
- the ARM expression language's pure functions (``concat``, ``format``, ``if``, ``toLower`` ...), and
  ``resourceGroup().location`` read from the resource group itself (through ``Links.resource_group``).

Every resource whose type is a row of :data:`gatekeeper.providers.azure.operations.OPERATIONS` is read
with that row's shape, by the same reader as a direct call. A value gatekeeper cannot know before the
deployment runs (``reference()``, ``list*()``, a Key Vault parameter, a link it cannot read, an
unknown function) is not guessed: where it decides the size or the count of a compute resource, the
deployment is decided as an unknown accelerator, with the reason (:attr:`Evaluation.unresolved`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gatekeeper.providers.azure.operations import BY_TYPE, AzureOperation, get_path

MAX_DEPTH = 8  # nested deployments (ARM allows more; a template this deep is not decided blind)
MAX_COPIES = 800  # ARM's own limit on a copy loop's count
_PER_COPY = 64  # copies evaluated one by one; beyond that a copy-dependent size is unresolved
MAX_EVALUATIONS = 5000  # resource bodies evaluated per deployment: a template is input, not a work order


class Unresolvable(ValueError):
    """A value that cannot be known before the deployment runs."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value gatekeeper cannot know statically, with why."""

    reason: str


class Links(Protocol):
    """Read-only look-ups an evaluation may need (the adapter's pipeline, the hook's client)."""

    def template(self, link: Mapping[str, Any], base_uri: str) -> Mapping[str, Any]:
        """The JSON at a ``templateLink`` / ``parametersLink``; raises Unresolvable when unreadable."""
        ...

    def resource_group(self, subscription: str, group: str) -> Mapping[str, Any] | None:
        ...


@dataclass(frozen=True, slots=True)
class Found:
    """One compute resource the deployment writes: its row, its body (expressions evaluated), copies."""

    operation: AzureOperation
    body: Mapping[str, Any]
    copies: int
    where: str


@dataclass(slots=True)
class Evaluation:
    found: list[Found] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Scope:
    parameters: dict[str, Any]
    variables: Mapping[str, Any]
    subscription: str
    group: str
    links: Links | None
    copy_index: dict[str, int] = field(default_factory=dict)
    _rg: Mapping[str, Any] | None = None
    _variables: dict[str, Any] = field(default_factory=dict)

    def resource_group(self) -> dict[str, Any]:
        if self._rg is None:
            rg: Mapping[str, Any] | None = None
            if self.links is not None and self.subscription and self.group:
                try:
                    rg = self.links.resource_group(self.subscription, self.group)
                except Unresolvable:
                    rg = None
            self._rg = rg or {}
        loc = self._rg.get("location")
        return {"name": self.group, "location": loc if isinstance(loc, str) and loc else
                Unknown("resourceGroup().location: the resource group could not be read"),
                "id": f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"}


# -- the expression language ----------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+)|(?P<str>'(?:[^']|'')*')|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[().,\[\]]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise Unresolvable(f"cannot parse the expression [{text}]")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, scope: _Scope) -> None:
        self.text, self.scope = text, scope
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Unresolvable(f"cannot parse the expression [{self.text}]")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.expr()
        if self.i != len(self.toks):
            raise Unresolvable(f"cannot parse the expression [{self.text}]")
        return value

    def expr(self) -> Any:
        kind, tok = self.take()
        if kind == "num":
            value: Any = int(tok)
        elif kind == "str":
            value = tok[1:-1].replace("''", "'")
        elif kind == "name":
            low = tok.lower()
            if low in ("true", "false", "null") and self.peek()[1] != "(":
                value = {"true": True, "false": False, "null": None}[low]
            else:
                self.take("(")
                args: list[Any] = []
                if self.peek()[1] != ")":
                    args.append(self.expr())
                    while self.peek()[1] == ",":
                        self.take(",")
                        args.append(self.expr())
                self.take(")")
                value = _call(low, args, self.scope)
        else:
            raise Unresolvable(f"cannot parse the expression [{self.text}]")
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                value = _member(value, self.take()[1])
            else:
                key = self.expr()
                self.take("]")
                value = _member(value, key)
        return value


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, Mapping) and isinstance(key, str):
        found = next((v for k, v in value.items() if k.lower() == key.lower()), None)
        if found is None:
            raise Unresolvable(f"no member {key!r}")
        return found
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    raise Unresolvable(f"cannot index {type(value).__name__} with {key!r}")


def _num(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Unresolvable(f"{v!r} is not an integer")
    return v


def _call(name: str, args: list[Any], scope: _Scope) -> Any:
    unknown = next((a for a in args if isinstance(a, Unknown)), None)
    if name == "parameters":
        key = str(args[0]) if args else ""
        found = next((v for k, v in scope.parameters.items() if k.lower() == key.lower()), _MISSING)
        if found is _MISSING:
            raise Unresolvable(f"parameters({key!r}) has no value and no default")
        return found
    if name == "variables":
        key = str(args[0]) if args else ""
        return _variable(scope, key)
    if name == "copyindex":
        loop = next((a for a in args if isinstance(a, str)), None)
        offset = next((a for a in args if isinstance(a, int) and not isinstance(a, bool)), 0)
        index = scope.copy_index.get((loop or "").lower(), scope.copy_index.get("", None))
        if index is None:
            raise Unresolvable("copyIndex() outside a copy loop")
        return index + offset
    if name == "resourcegroup":
        return scope.resource_group()
    if name == "subscription":
        return {"subscriptionId": scope.subscription, "id": f"/subscriptions/{scope.subscription}"}
    if name == "if":
        if isinstance(args[0], Unknown):
            return args[0]
        return args[1] if args[0] else args[2]
    if unknown is not None:
        return unknown
    pure = _PURE.get(name)
    if pure is None:
        return Unknown(f"{name}() is only known when the deployment runs")
    try:
        return pure(*args)
    except Unresolvable:
        raise
    except Exception as exc:  # a bad argument: not a value gatekeeper can know
        raise Unresolvable(f"{name}() with {args!r}: {exc}") from exc


_MISSING = object()


def _format(fmt: str, *args: Any) -> str:
    return re.sub(r"\{(\d+)(?::[^}]*)?\}", lambda m: str(args[int(m.group(1))]), fmt)


def _concat(*args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return "".join(str(a).lower() if isinstance(a, bool) else str(a) for a in args)


_PURE: Mapping[str, Callable[..., Any]] = {
    "concat": _concat,
    "format": _format,
    "tolower": lambda s: str(s).lower(),
    "toupper": lambda s: str(s).upper(),
    "string": lambda v: str(v),
    "int": lambda v: int(v),
    "equals": lambda a, b: a == b,
    "not": lambda a: not a,
    "and": lambda *a: all(a),
    "or": lambda *a: any(a),
    "add": lambda a, b: _num(a) + _num(b),
    "sub": lambda a, b: _num(a) - _num(b),
    "mul": lambda a, b: _num(a) * _num(b),
    "div": lambda a, b: _num(a) // _num(b),
    "mod": lambda a, b: _num(a) % _num(b),
    "min": lambda *a: min(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
    "max": lambda *a: max(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
    "greater": lambda a, b: a > b,
    "less": lambda a, b: a < b,
    "greaterorequals": lambda a, b: a >= b,
    "lessorequals": lambda a, b: a <= b,
    "length": lambda v: len(v),
    "empty": lambda v: not v,
    "contains": lambda c, v: v in c,
    "first": lambda v: v[0],
    "last": lambda v: v[-1],
    "split": lambda s, sep: str(s).split(sep) if isinstance(sep, str) else re.split("|".join(map(re.escape, sep)),
                                                                                     str(s)),
    "replace": lambda s, a, b: str(s).replace(a, b),
    "trim": lambda s: str(s).strip(),
    "coalesce": lambda *a: next((x for x in a if x is not None), None),
    "createarray": lambda *a: list(a),
    "array": lambda v: v if isinstance(v, list) else [v],
    "createobject": lambda *a: {a[i]: a[i + 1] for i in range(0, len(a), 2)},
    "union": lambda *a: ({k: v for d in a for k, v in d.items()} if all(isinstance(d, Mapping) for d in a)
                         else list(dict.fromkeys(x for d in a for x in d))),
    "json": lambda s: __import__("json").loads(s),
    "bool": lambda v: v if isinstance(v, bool) else str(v).lower() == "true",
    "substring": lambda s, i, n=None: str(s)[i:] if n is None else str(s)[i:i + n],
    "uniquestring": lambda *a: "u" + format(abs(hash(a)) % 10 ** 12, "012d"),
    "resourceid": lambda *a: "/".join(str(x) for x in a),
}


def _variable(scope: _Scope, key: str) -> Any:
    low = key.lower()
    if low in scope._variables:
        return scope._variables[low]
    raw = next((v for k, v in scope.variables.items() if k.lower() == low), _MISSING)
    if raw is _MISSING:
        raise Unresolvable(f"variables({key!r}) is not defined")
    scope._variables[low] = value = resolve(raw, scope)
    return value


def resolve(value: Any, scope: _Scope) -> Any:
    """``value`` with every ARM expression evaluated; what cannot be known becomes :class:`Unknown`."""
    if isinstance(value, str):
        if value.startswith("[[") or not (value.startswith("[") and value.endswith("]")):
            return value[1:] if value.startswith("[[") else value
        try:
            return _Parser(value[1:-1], scope).parse()
        except Unresolvable as exc:
            return Unknown(f"{value}: {exc}")
        except RecursionError:
            return Unknown(f"{value[:60]}: nested too deeply")
    if isinstance(value, Mapping):
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    return value


# -- walking a template ----------------------------------------------------------------------------
def _parameter_values(given: Any, definitions: Any, where: str) -> dict[str, Any]:
    """The template's parameters: given values (``{"value": ...}``), else defaults; Key Vault references
    are unknown."""
    values: dict[str, Any] = {}
    for name, entry in (given if isinstance(given, Mapping) else {}).items():
        if isinstance(entry, Mapping) and "value" in entry:
            values[name] = entry["value"]
        elif isinstance(entry, Mapping) and "reference" in entry:
            values[name] = Unknown(f"{where}: parameter {name!r} is a Key Vault reference")
        else:
            values[name] = entry
    given_names = {k.lower() for k in values}
    for name, d in (definitions if isinstance(definitions, Mapping) else {}).items():
        if isinstance(d, Mapping) and "defaultValue" in d and name.lower() not in given_names:
            values[name] = d["defaultValue"]
    return values


def evaluate(properties: Any, *, subscription: str, group: str, links: Links | None,
             where: str = "properties") -> Evaluation:
    """Every compute resource a deployment's ``properties`` would write (see the module docstring)."""
    out = Evaluation()
    _Walker(out, links).deployment(properties, subscription, group, where, None, 1, 0, "")
    return out


class _Walker:
    def __init__(self, out: Evaluation, links: Links | None) -> None:
        self.out, self.links = out, links
        self.evaluations = 0

    def budget(self, where: str) -> bool:
        """False (once reported) when the template needs more evaluation than gatekeeper gives one call."""
        self.evaluations += 1
        if self.evaluations == MAX_EVALUATIONS + 1:
            self.fail(where, f"the template needs more than {MAX_EVALUATIONS} resource evaluations")
        return self.evaluations <= MAX_EVALUATIONS

    def fail(self, where: str, why: str) -> None:
        self.out.unresolved.append(f"{where}: {why}")

    def _load(self, props: Mapping[str, Any], member: str, link: str, base_uri: str, where: str,
              outer: _Scope | None = None) -> tuple[Any, str] | None:
        inline = get_path(props, member)
        if inline is not None:
            return inline, base_uri
        ref = get_path(props, link)
        if outer is not None and ref is not None:
            ref = resolve(ref, outer)  # a nested deployment's link is an expression of its parent
        if ref is None:
            return None
        if not isinstance(ref, Mapping):
            self.fail(where, f"{link} is not an object")
            return None
        if self.links is None:
            self.fail(where, f"{link} cannot be read here")
            return None
        try:
            doc = self.links.template(ref, base_uri)
        except Unresolvable as exc:
            self.fail(where, f"{link}: {exc}")
            return None
        uri = ref.get("uri") if isinstance(ref.get("uri"), str) else base_uri
        return doc, uri or base_uri

    def deployment(self, props: Any, subscription: str, group: str, where: str, outer: _Scope | None,
                   copies: int, depth: int, base_uri: str) -> None:
        if not isinstance(props, Mapping):
            self.fail(where, "the deployment's properties are not an object")
            return
        if depth > MAX_DEPTH:
            self.fail(where, f"nested deployments deeper than {MAX_DEPTH}")
            return
        loaded = self._load(props, "template", "templateLink", base_uri, where, outer)
        if loaded is None:
            if get_path(props, "template") is None and get_path(props, "templateLink") is None:
                self.fail(where, "the deployment names no template")
            return
        template, uri = loaded
        if not isinstance(template, Mapping):
            self.fail(where, "the template is not an object")
            return
        inner = str(get_path(props, "expressionEvaluationOptions.scope") or "").lower() == "inner"
        if outer is not None and not inner:
            scope = outer  # ``outer`` scope: the nested template's expressions are the parent's
        else:
            given = get_path(props, "parameters")
            if given is None and get_path(props, "parametersLink") is not None:
                got = self._load(props, "parameters", "parametersLink", uri, where)
                given = got[0].get("parameters") if got is not None and isinstance(got[0], Mapping) else None
            if outer is not None and isinstance(given, Mapping):
                given = {k: resolve(v, outer) for k, v in given.items()}
            values = _parameter_values(given, template.get("parameters"), where)
            variables = template.get("variables")
            scope = _Scope(values, variables if isinstance(variables, Mapping) else {}, subscription, group,
                           self.links)
            if any(isinstance(v, str) and v.startswith("[") for v in values.values()):
                scope.parameters = {k: resolve(v, scope) for k, v in values.items()}
        resources = template.get("resources")
        if isinstance(resources, Mapping):  # languageVersion 2.0: symbolic names
            listed = [(f"{where}.template.resources.{k}", v) for k, v in resources.items()]
        elif isinstance(resources, list):
            listed = [(f"{where}.template.resources[{n}]", v) for n, v in enumerate(resources)]
        else:
            listed = []
        for at, res in listed:
            self.resource(res, "", scope, at, copies, depth, uri)

    def resource(self, res: Any, parent_type: str, scope: _Scope, where: str, copies: int, depth: int,
                 base_uri: str) -> None:
        if not isinstance(res, Mapping) or res.get("existing") is True:
            return
        raw_type = res.get("type")
        if not isinstance(raw_type, str):
            self.fail(where, "a resource has no type")
            return
        rtype = raw_type if "/" in raw_type and raw_type.count("/") >= 1 and "." in raw_type.split("/")[0] \
            else f"{parent_type}/{raw_type}"
        n, index_name = self._copies(res, scope, where)
        if n is None:
            return
        for body, multiplier in self._expanded(res, scope, index_name, n, where):
            cond = body.get("condition", True)
            if cond is False:
                continue  # an Unknown condition is deployed, for the decision
            total = copies * multiplier
            if rtype.lower() == "microsoft.resources/deployments":
                sub_id, rg = body.get("subscriptionId"), body.get("resourceGroup")
                sub = sub_id if isinstance(sub_id, str) else scope.subscription
                grp = rg if isinstance(rg, str) else scope.group
                self.deployment(res.get("properties"), sub, grp, f"{where}.properties", scope, total, depth + 1,
                                base_uri)
                continue
            op = BY_TYPE.get(rtype.lower())
            if op is not None:
                self.out.found.append(Found(op, body, total, where))
            children = res.get("resources")
            if isinstance(children, list):
                for i, child in enumerate(children):
                    self.resource(child, rtype, scope, f"{where}.resources[{i}]", total, depth, base_uri)

    def _copies(self, res: Mapping[str, Any], scope: _Scope, where: str) -> tuple[int | None, str]:
        copy = res.get("copy")
        if copy is None:
            return 1, ""
        if not isinstance(copy, Mapping):
            self.fail(where, "copy is not an object")
            return None, ""
        count = resolve(copy.get("count"), scope)
        if isinstance(count, Unknown):
            self.fail(where + ".copy.count", count.reason)
            return None, ""
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COPIES:
            self.fail(where + ".copy.count", f"{count!r} is not a copy count (0 to {MAX_COPIES})")
            return None, ""
        name = copy.get("name")
        return count, name.lower() if isinstance(name, str) else ""

    def _expanded(self, res: Mapping[str, Any], scope: _Scope, loop: str, n: int, where: str
                  ) -> list[tuple[dict[str, Any], int]]:
        """The resource's body per copy, evaluated; identical copies are folded into one with a count."""
        raw = {k: v for k, v in res.items() if k not in ("copy", "resources", "dependsOn")}
        if not self.budget(where):
            return []
        if not res.get("copy"):
            return [(resolve(raw, scope), 1)]
        if n == 0:
            return []
        bodies: dict[str, tuple[dict[str, Any], int]] = {}
        for i in range(min(n, _PER_COPY)):
            if i and not self.budget(where):
                return []
            scope.copy_index[loop] = scope.copy_index[""] = i
            body = resolve(raw, scope)
            key = repr({k: v for k, v in body.items() if k != "name"})  # copies differ by name only
            prior = bodies.get(key)
            bodies[key] = (body, (prior[1] if prior else 0) + 1)
        scope.copy_index.pop(loop, None)
        scope.copy_index.pop("", None)
        if n > _PER_COPY:
            if len(bodies) > 1:
                self.fail(where, f"the resource differs from copy to copy over {n} copies")
                return []
            (body, _), = bodies.values()
            return [(body, n)]
        return list(bodies.values())
