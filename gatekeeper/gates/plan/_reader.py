"""Reading the JSON of ``terraform show -json PLAN`` (and OpenTofu's ``tofu show -json``): data, no decisions.

The format (Terraform's "JSON Output Format", ``format_version`` 0.x and 1.x; OpenTofu writes the same):

- ``resource_changes[]``: ``address``, ``mode``, ``type``, ``provider_name``, ``change.actions``,
  ``change.after`` (the planned values, unknown ones omitted) and ``change.after_unknown`` (the same
  tree with ``true`` where a value is known only after apply);
- ``planned_values.root_module`` (``resources[]``, ``child_modules[]``): the planned values of every
  resource, read where ``resource_changes`` is absent (older writers);
- ``prior_state.values.root_module``: resources that already exist (a reference may point at one);
- ``configuration.provider_config``: each provider block's ``expressions`` (``constant_value`` for a
  literal) keyed ``aws``, ``aws.china``, ``module.x:aws``; ``configuration.root_module.resources[]``
  carry the ``provider_config_key`` and ``expressions`` whose ``references`` name other resources,
  ``module_calls.NAME.module`` the same for modules.

A major ``format_version`` above 1 is refused, as the format's own rules ask. Everything here returns
plain frozen records; :mod:`gatekeeper.gates.plan._extract` reads compute out of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.errors import InvalidInputError

# Changes that put something in place; "delete", "no-op", "read" and "forget" provision nothing.
PROVISIONING_ACTIONS = frozenset({"create", "update"})
_INDEX = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One ``provider`` block: its key (``aws``, ``aws.china``, ``module.net:aws``), name, literal values."""

    key: str
    name: str
    values: Mapping[str, Any]  # attribute -> constant value (nested blocks: list of mappings)


@dataclass(frozen=True, slots=True)
class PlanResource:
    """One resource instance the plan changes (or, for references, one that exists)."""

    address: str  # module.gpu.aws_instance.trainer[0]
    type: str
    name: str
    provider_name: str  # registry.terraform.io/hashicorp/aws
    provider_key: str  # the configuration's provider_config_key ("" when the plan has no configuration)
    actions: tuple[str, ...]
    values: Mapping[str, Any]
    unknown: Any  # the after_unknown tree (True, or a mapping/list mirroring ``values``)
    references: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # attribute path -> addresses

    @property
    def provider(self) -> str:
        """The provider's short name (``aws``, ``azurerm``, ``google``), from its source address."""
        return self.provider_name.rsplit("/", 1)[-1] if self.provider_name else self.type.split("_", 1)[0]

    @property
    def provisions(self) -> bool:
        return bool(PROVISIONING_ACTIONS.intersection(self.actions))

    @property
    def config_address(self) -> str:
        """The address without instance keys (``module.gpu.aws_instance.trainer``)."""
        return _INDEX.sub("", self.address)


@dataclass(frozen=True, slots=True)
class Plan:
    source: str
    format_version: str
    terraform_version: str
    resources: tuple[PlanResource, ...]  # managed resources with a change (or planned values)
    existing: tuple[PlanResource, ...]  # the prior state's managed resources
    providers: Mapping[str, ProviderConfig]

    def by_config_address(self, address: str) -> list[PlanResource]:
        """Planned resources, then existing ones, whose configuration address is ``address``."""
        found = [r for r in self.resources if r.config_address == address]
        return found or [r for r in self.existing if r.config_address == address]


def load_plan(path: str | Path) -> Plan:
    """Read a plan JSON file; a file that is not a plan is an InvalidInputError naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{p}: cannot read the plan ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{p}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                                "give the output of `terraform show -json PLAN`") from None
    return parse_plan(doc, source=str(p))


def parse_plan(doc: Any, *, source: str = "plan") -> Plan:
    if not isinstance(doc, Mapping):
        raise InvalidInputError(f"{source}: a plan is a JSON object, not {type(doc).__name__}")
    version = doc.get("format_version")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        raise InvalidInputError(f"{source}: no format_version: not the output of `terraform show -json`",
                                field="format_version")
    if int(version.split(".", 1)[0]) > 1:
        raise InvalidInputError(f"{source}: plan format_version {version} is not supported (1.x and 0.x are)",
                                field="format_version")
    if "resource_changes" not in doc and "planned_values" not in doc:
        raise InvalidInputError(f"{source}: neither resource_changes nor planned_values: a state file, not a "
                                "plan? Run `terraform plan -out PLAN` then `terraform show -json PLAN`")
    config = _mapping(doc.get("configuration"), source, "configuration")
    keys, references = _configuration(config, source)
    providers = _providers(_mapping(config.get("provider_config"), source, "configuration.provider_config"))
    planned = {r["address"]: r for r in _module_resources(
        _mapping(_mapping(doc.get("planned_values"), source, "planned_values").get("root_module"),
                 source, "planned_values.root_module"), source, "planned_values")}
    resources: list[PlanResource] = []
    seen: set[str] = set()
    for i, rc in enumerate(_list(doc.get("resource_changes"), source, "resource_changes")):
        where = f"resource_changes[{i}]"
        rc = _mapping(rc, source, where)
        if rc.get("mode", "managed") != "managed":
            continue
        address = _text(rc, "address", source, where)
        change = _mapping(rc.get("change"), source, f"{where}.change")
        actions = tuple(str(a) for a in _list(change.get("actions"), source, f"{where}.change.actions"))
        after = change.get("after")
        values = after if isinstance(after, Mapping) else planned.get(address, {}).get("values") or {}
        resources.append(_resource(rc, address, actions, values, change.get("after_unknown") or {}, keys,
                                   references, source, where))
        seen.add(address)
    for address, pv in planned.items():  # writers that give planned values only
        if address not in seen and pv.get("mode", "managed") == "managed":
            resources.append(_resource(pv, address, ("create",), pv.get("values") or {}, {}, keys, references,
                                       source, f"planned_values {address}"))
    prior = _mapping(_mapping(doc.get("prior_state"), source, "prior_state").get("values"), source,
                     "prior_state.values")
    existing = tuple(
        _resource(r, r["address"], (), r.get("values") or {}, {}, keys, references, source,
                  f"prior_state {r['address']}")
        for r in _module_resources(_mapping(prior.get("root_module"), source, "prior_state.values.root_module"),
                                   source, "prior_state")
        if r.get("mode", "managed") == "managed")
    return Plan(source, version, str(doc.get("terraform_version") or ""), tuple(resources), existing, providers)


# -- pieces -----------------------------------------------------------------------------------------
def _resource(raw: Mapping[str, Any], address: str, actions: tuple[str, ...], values: Any, unknown: Any,
              keys: Mapping[str, str], references: Mapping[str, Mapping[str, tuple[str, ...]]], source: str,
              where: str) -> PlanResource:
    rtype = _text(raw, "type", source, where)
    if not isinstance(values, Mapping):
        raise InvalidInputError(f"{source}: {where}: values must be an object", field="values")
    config_address = _INDEX.sub("", address)
    return PlanResource(address, rtype, str(raw.get("name") or ""), str(raw.get("provider_name") or ""),
                        keys.get(config_address, ""), actions, values, unknown,
                        references.get(config_address, {}))


def _module_resources(module: Mapping[str, Any], source: str, where: str) -> Iterator[Mapping[str, Any]]:
    for i, r in enumerate(_list(module.get("resources"), source, f"{where}.resources")):
        r = _mapping(r, source, f"{where}.resources[{i}]")
        _text(r, "address", source, f"{where}.resources[{i}]")
        yield r
    for i, child in enumerate(_list(module.get("child_modules"), source, f"{where}.child_modules")):
        yield from _module_resources(_mapping(child, source, f"{where}.child_modules[{i}]"), source,
                                     f"{where}.child_modules[{i}]")


def _configuration(config: Mapping[str, Any], source: str) -> tuple[dict[str, str],
                                                                      dict[str, dict[str, tuple[str, ...]]]]:
    """Per configuration address: the provider config key, and each attribute's references.

    References are made absolute (``module.gpu.aws_launch_template.x``) and kept only when they lead to
    a resource: ``aws_launch_template.x.id`` names one; a module's output (``module.tpl.lt_id``) and a
    module's input variable (``var.lt_id`` inside it) are followed through the configuration to the
    resources their expressions reference. Locals, data sources and literals lead to none.
    """
    keys: dict[str, str] = {}
    raw: dict[str, dict[str, tuple[str, ...]]] = {}
    links: dict[str, tuple[str, ...]] = {}  # "module.tpl.@lt_id" / "module.tpl.$lt_id" -> what they reference

    def walk(module: Mapping[str, Any], prefix: str, where: str) -> None:
        for i, r in enumerate(_list(module.get("resources"), source, f"{where}.resources")):
            r = _mapping(r, source, f"{where}.resources[{i}]")
            if r.get("mode", "managed") != "managed":
                continue
            address = prefix + _text(r, "address", source, f"{where}.resources[{i}]")
            keys[address] = str(r.get("provider_config_key") or "")
            found: dict[str, tuple[str, ...]] = {}
            _expression_refs(r.get("expressions"), "", prefix, found)
            raw[address] = found
        for name, out in _mapping(module.get("outputs"), source, f"{where}.outputs").items():
            found = {}
            _expression_refs(out.get("expression") if isinstance(out, Mapping) else None, "", prefix, found)
            links[f"{prefix}@{name}"] = tuple(t for ts in found.values() for t in ts)
        calls = _mapping(module.get("module_calls"), source, f"{where}.module_calls")
        for name, call in calls.items():
            call = _mapping(call, source, f"{where}.module_calls.{name}")
            inner = f"{prefix}module.{name}."
            for var, expr in _mapping(call.get("expressions"), source, f"{where}.module_calls.{name}").items():
                found = {}
                _expression_refs(expr, "", prefix, found)
                links[f"{inner}${var}"] = tuple(t for ts in found.values() for t in ts)
            walk(_mapping(call.get("module"), source, f"{where}.module_calls.{name}.module"), inner,
                 f"{where}.module_calls.{name}.module")

    walk(_mapping(config.get("root_module"), source, "configuration.root_module"), "", "configuration.root_module")

    def resolve(target: str, depth: int) -> list[str]:
        if "@" not in target and "$" not in target:
            return [target]
        if depth > 8:  # outputs feeding variables feeding outputs: deeper is a loop
            return []
        return [r for t in links.get(target, ()) for r in resolve(t, depth + 1)]

    refs = {address: {path: tuple(dict.fromkeys(r for t in targets for r in resolve(t, 0)))
                      for path, targets in found.items()} for address, found in raw.items()}
    return keys, refs


def _expression_refs(expr: Any, path: str, prefix: str, out: dict[str, tuple[str, ...]]) -> None:
    """Collect ``references`` under an expressions object; nested blocks are lists of expression objects."""
    if isinstance(expr, list):
        for block in expr:
            _expression_refs(block, f"{path}[]" if path else "[]", prefix, out)
        return
    if not isinstance(expr, Mapping):
        return
    if "references" in expr and isinstance(expr["references"], list):
        targets = [t for t in (_resource_of(str(ref), prefix) for ref in expr["references"]) if t]
        if targets:
            out[path] = tuple(dict.fromkeys(targets))
        return
    for key, sub in expr.items():
        if key in ("constant_value",):
            continue
        _expression_refs(sub, f"{path}.{key}" if path else str(key), prefix, out)


def _resource_of(ref: str, prefix: str) -> str:
    """What a reference leads to: ``aws_launch_template.gpu.id`` -> ``aws_launch_template.gpu``;
    ``module.tpl.lt_id`` -> the output ``module.tpl.@lt_id``; ``var.lt_id`` -> the input ``$lt_id`` of
    the module it is in; locals, data sources and the rest -> ""."""
    parts = _INDEX.sub("", ref).split(".")
    if parts[0] == "module":
        return f"{prefix}module.{parts[1]}.@{parts[2]}" if len(parts) >= 3 else ""
    if parts[0] == "var":
        return f"{prefix}${parts[1]}" if len(parts) >= 2 and prefix else ""
    if len(parts) < 2 or parts[0] in ("local", "data", "path", "terraform", "each", "count", "self"):
        return ""
    return f"{prefix}{parts[0]}.{parts[1]}"


def _providers(raw: Mapping[str, Any]) -> dict[str, ProviderConfig]:
    out: dict[str, ProviderConfig] = {}
    for key, block in raw.items():
        if not isinstance(block, Mapping):
            continue
        out[str(key)] = ProviderConfig(str(key), str(block.get("name") or str(key).split(".", 1)[0]),
                                       _constants(block.get("expressions")))
    return out


def _constants(expr: Any) -> Any:
    """The literal values of an expressions object (``constant_value``); references and unknowns dropped."""
    if isinstance(expr, list):
        return [_constants(b) for b in expr]
    if not isinstance(expr, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, sub in expr.items():
        if isinstance(sub, Mapping) and "constant_value" in sub:
            out[str(key)] = sub["constant_value"]
        elif isinstance(sub, list):
            out[str(key)] = [_constants(b) for b in sub]
    return out


def _mapping(value: Any, source: str, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{source}: {where} must be an object, not {type(value).__name__}", field=where)
    return value


def _list(value: Any, source: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInputError(f"{source}: {where} must be a list, not {type(value).__name__}", field=where)
    return value


def _text(raw: Mapping[str, Any], key: str, source: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{source}: {where}: {key!r} is missing", field=key)
    return value
