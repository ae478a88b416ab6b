"""CloudFormation: a stack's template, decided resource by resource with the AWS spec's own rows.

CDK, SAM and much provider tooling provision through stacks, so ``CreateStack``, ``UpdateStack``,
``CreateChangeSet`` and ``Create``/``UpdateStackSet`` are decided on the compute in the template:

- the template is the request's ``TemplateBody`` (JSON or YAML, short tags such as ``!Ref``
  included), else its ``TemplateURL`` read through the caller's credentials, else (``UsePrevious
  Template``) the deployed one, read with GetTemplate;
- each resource of a compute type (:data:`RESOURCES`: instances, launch templates, fleets, groups,
  SageMaker, EKS, Batch, EMR, reservations, hosts) is read with the slots of the API call that
  creates it, its ``Properties`` in place of the call's parameters (member names matched
  case-insensitively: the resource types spell some members otherwise than the API);
- ``Ref`` to a parameter (the value given, else its default), ``Fn::FindInMap``, ``Fn::If`` on a
  condition that can be evaluated before deployment, ``Fn::Join``/``Fn::Select``/``Fn::Sub`` of such
  values are resolved; a reference to another resource of the template (a launch template, an
  endpoint configuration) is followed inside the template; a condition that cannot be evaluated
  gives both branches, as alternatives;
- a value that cannot be known before deployment (``Fn::ImportValue``, a parameter with neither
  value nor default, a previous value) in an instance type is decided as an unknown accelerator
  (``unresolved: <why>``, which the catalog classifies as unknown), with the reason in the path;
  a template that cannot be read or parsed is unresolved, decided fail-closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gatekeeper.errors import ResolutionError
from gatekeeper.model import ComputeItem
from gatekeeper.providers._paths import EXACT, Mode
from gatekeeper.providers._paths import first as _first
from gatekeeper.providers._spec import Existing, Operation, Slot, Source
from gatekeeper.providers.aws import operations as ops

LOOSE = Mode(ignore_case=True)
UNRESOLVED = "unresolved: "  # prefix of an instance type that cannot be known before deployment
MAX_TEMPLATE = 1_048_576  # CloudFormation's own limit for a template in S3 (TemplateBody: 51,200 bytes)


def _emr_group(at: str) -> Slot:
    return Slot(at=at, sources=(Source(type=("InstanceType",)),), count=("InstanceCount",))


def _emr_fleet(at: str) -> Slot:
    return Slot(at=at, sources=(Source(at="InstanceTypeConfigs[]", type=("InstanceType",), weight="WeightedCapacity"),),
                count=("TargetOnDemandCapacity+TargetSpotCapacity",))


@dataclass(frozen=True, slots=True)
class Row:
    """How one resource type's Properties are read (the slots of the call that creates it)."""

    slots: tuple[Slot, ...] = ()
    base: Existing | None = None


def _row(service: str, name: str) -> Row:
    op = _OPS[(service, name)]
    return Row(op.slots, op.base)


_OPS: dict[tuple[str, str], Operation] = {op.key: op for op in ops.OPERATIONS}

RESOURCES: dict[str, Row] = {
    "AWS::EC2::Instance": _row("ec2", "RunInstances"),
    "AWS::EC2::LaunchTemplate": _row("ec2", "CreateLaunchTemplate"),
    "AWS::EC2::EC2Fleet": _row("ec2", "CreateFleet"),
    "AWS::EC2::SpotFleet": Row((ops._spot_fleet("SpotFleetRequestConfigData"),)),
    "AWS::EC2::CapacityReservation": _row("ec2", "CreateCapacityReservation"),
    "AWS::EC2::CapacityReservationFleet": _row("ec2", "CreateCapacityReservationFleet"),
    "AWS::EC2::Host": Row((Slot(sources=(Source(type=("InstanceType", "InstanceFamily"), families=True),)),)),
    "AWS::AutoScaling::AutoScalingGroup": _row("autoscaling", "CreateAutoScalingGroup"),
    "AWS::AutoScaling::LaunchConfiguration": _row("autoscaling", "CreateLaunchConfiguration"),
    "AWS::SageMaker::EndpointConfig": _row("sagemaker", "CreateEndpointConfig"),
    "AWS::SageMaker::Endpoint": _row("sagemaker", "CreateEndpoint"),
    "AWS::SageMaker::NotebookInstance": _row("sagemaker", "CreateNotebookInstance"),
    "AWS::SageMaker::Cluster": _row("sagemaker", "CreateCluster"),
    "AWS::SageMaker::Domain": _row("sagemaker", "CreateDomain"),
    "AWS::SageMaker::Space": _row("sagemaker", "CreateSpace"),
    "AWS::SageMaker::InferenceComponent": Row(),  # runs on an endpoint, decided with it
    "AWS::EKS::Nodegroup": _row("eks", "CreateNodegroup"),
    "AWS::Batch::ComputeEnvironment": _row("batch", "CreateComputeEnvironment"),
    "AWS::EMR::Cluster": Row((*(_emr_group(f"Instances.{g}") for g in ("MasterInstanceGroup", "CoreInstanceGroup")),
                              _emr_group("Instances.TaskInstanceGroups[]"),
                              *(_emr_fleet(f"Instances.{f}") for f in ("MasterInstanceFleet", "CoreInstanceFleet")),
                              _emr_fleet("Instances.TaskInstanceFleets[]"))),
    "AWS::EMR::InstanceGroupConfig": Row((_emr_group(""),)),
    "AWS::EMR::InstanceFleetConfig": Row((_emr_fleet(""),)),
}
# Resource kinds a template resource can stand in for (a launch template named by !Ref, ...).
_LOCAL_KINDS = {
    "launch_template": ("AWS::EC2::LaunchTemplate", "LaunchTemplateData"),
    "endpoint_config": ("AWS::SageMaker::EndpointConfig", ""),
    "launch_configuration": ("AWS::AutoScaling::LaunchConfiguration", ""),
}
_LOCAL = "cfn:"  # a resolved Ref/GetAtt to a resource of the template: "cfn:<LogicalId>"


class TemplateError(ValueError):
    """The template cannot be parsed."""


# -- parsing ---------------------------------------------------------------------------------------
def parse(text: str) -> dict[str, Any]:
    """A template (JSON or YAML with CloudFormation's short tags) as plain data."""
    if len(text) > MAX_TEMPLATE:
        raise TemplateError(f"the template is {len(text):,} characters, over CloudFormation's {MAX_TEMPLATE:,}")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"not valid JSON: {exc}") from exc
    else:
        doc = _yaml(text)
    if not isinstance(doc, dict):
        raise TemplateError("the template is not an object")
    return doc


def _yaml(text: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        if suffix == "Condition":
            return {"Condition": value}
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tag)
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"not valid YAML: {str(exc).splitlines()[0]}") from exc


# -- intrinsic functions ---------------------------------------------------------------------------
class _Resolver:
    """Static evaluation of the intrinsic functions a template's compute may use."""

    def __init__(self, doc: Mapping[str, Any], given: Mapping[str, str | None], region: str) -> None:
        self.doc = doc
        self.region = region
        params = doc.get("Parameters") if isinstance(doc.get("Parameters"), Mapping) else {}
        self.params: dict[str, Any] = {}
        for name, spec in (params or {}).items():
            if name in given:
                self.params[name] = given[name] if given[name] is not None else _unknown(
                    f"parameter {name} keeps its previous value")
            elif isinstance(spec, Mapping) and "Default" in spec:
                self.params[name] = spec["Default"]
            else:
                self.params[name] = _unknown(f"parameter {name} has no value and no default")
        resources = doc.get("Resources")
        self.resources: Mapping[str, Any] = resources if isinstance(resources, Mapping) else {}
        self._conditions: dict[str, bool | None] = {}

    def value(self, node: Any, depth: int = 0) -> Any:
        if depth > 50:
            return _unknown("intrinsic functions nested too deeply")
        if isinstance(node, list):
            return [v for v in (self.value(x, depth + 1) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                name = arg[0] if isinstance(arg, list) and arg else arg
                return f"{_LOCAL}{name}" if isinstance(name, str) and name in self.resources else \
                    _unknown(f"GetAtt {name!r}")
            if fn == "Fn::FindInMap":
                return self._find_in_map(arg, depth)
            if fn == "Fn::If":
                return self._if(arg, depth)
            if fn == "Fn::Join":
                return self._join(arg, depth)
            if fn == "Fn::Select":
                return self._select(arg, depth)
            if fn == "Fn::Sub":
                return self._sub(arg, depth)
            if fn.startswith("Fn::"):
                return _unknown(f"{fn} is only known at deployment")
        out: dict[str, Any] = {}
        for k, v in node.items():
            resolved = self.value(v, depth + 1)
            if resolved is not _NO_VALUE:
                out[k] = resolved
        return out

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            return _unknown(f"Ref {name!r}")
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name == "AWS::Region":
            return self.region
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            return f"{_LOCAL}{name}"
        return _unknown(f"Ref {name}")

    def _find_in_map(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            return _unknown("FindInMap needs three arguments")
        m, k1, k2 = (self.value(a, depth + 1) for a in arg)
        table = (self.doc.get("Mappings") or {}).get(m) if isinstance(self.doc.get("Mappings"), Mapping) else None
        try:
            return table[k1][k2]  # type: ignore[index]
        except (KeyError, TypeError):
            return _unknown(f"FindInMap {m}/{k1}/{k2}")

    def condition(self, name: Any, depth: int = 0) -> bool | None:
        if not isinstance(name, str):
            return None
        if name not in self._conditions:
            self._conditions[name] = None  # a cycle evaluates to unknown
            conds = self.doc.get("Conditions") if isinstance(self.doc.get("Conditions"), Mapping) else {}
            self._conditions[name] = self._truth((conds or {}).get(name), depth + 1)
        return self._conditions[name]

    def _truth(self, node: Any, depth: int) -> bool | None:
        if depth > 50 or not isinstance(node, Mapping) or len(node) != 1:
            return None
        (fn, arg), = node.items()
        if fn == "Condition":
            return self.condition(arg, depth + 1)
        if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            a, b = (self.value(x, depth + 1) for x in arg)
            return None if _is_unknown(a) or _is_unknown(b) else str(a) == str(b)
        if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            v = self._truth(arg[0], depth + 1)
            return None if v is None else not v
        if fn in ("Fn::And", "Fn::Or") and isinstance(arg, list):
            vals = [self._truth(x, depth + 1) for x in arg]
            if fn == "Fn::And":
                return False if False in vals else (None if None in vals else True)
            return True if True in vals else (None if None in vals else False)
        return None

    def _if(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            return _unknown("If needs three arguments")
        truth = self.condition(arg[0], depth)
        if truth is not None:
            return self.value(arg[1] if truth else arg[2], depth + 1)
        a, b = self.value(arg[1], depth + 1), self.value(arg[2], depth + 1)
        return a if a == b else _Either((a, b))

    def _join(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return _unknown("Join needs two arguments")
        sep, parts = self.value(arg[0], depth + 1), self.value(arg[1], depth + 1)
        if not isinstance(parts, list) or any(not isinstance(p, (str, int, float)) or _is_unknown(p) for p in parts):
            return _unknown("Join of values only known at deployment")
        return str(sep).join(str(p) for p in parts)

    def _select(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return _unknown("Select needs two arguments")
        index, items = self.value(arg[0], depth + 1), self.value(arg[1], depth + 1)
        try:
            return items[int(index)]
        except (ValueError, TypeError, IndexError, KeyError):
            return _unknown("Select of values only known at deployment")

    def _sub(self, arg: Any, depth: int) -> Any:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1]) if isinstance(arg, list) and \
            len(arg) == 2 and isinstance(arg[1], Mapping) else (None, {})
        if not isinstance(text, str):
            return _unknown("Sub of a non-string")
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            v = self.value(extra[name], depth + 1) if name in extra else self._ref(name)
            if _is_unknown(v) or not isinstance(v, (str, int, float)) or str(v).startswith(_LOCAL):
                raise ResolutionError(name)
            return str(v)

        try:
            return re.sub(r"\$\{([^}!][^}]*)\}", one, text)
        except ResolutionError as exc:
            return _unknown(f"Sub of {exc}, only known at deployment")


class _Either(tuple[Any, ...]):
    """Both branches of an ``Fn::If`` whose condition is only known at deployment (alternatives)."""


_NO_VALUE = object()


def _unknown(why: str) -> str:
    return f"{UNRESOLVED}{why}"


def _is_unknown(v: Any) -> bool:
    return isinstance(v, str) and v.startswith(UNRESOLVED)


def _plain(node: Any) -> Any:
    """Resolved properties as the reader takes them: both branches of an unknown If become a list."""
    if isinstance(node, _Either):
        return [_plain(x) for x in node]
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(x) for x in node]
    return node


# -- deciding a template ---------------------------------------------------------------------------
Translate = Callable[..., Any]


class _LocalLookup:
    """Serves references to resources of the template; anything else goes to the real resolver."""

    def __init__(self, resolver: _Resolver, lookup: Any) -> None:
        self.resolver, self.lookup = resolver, lookup

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        ident = next((v for v in key.values() if isinstance(v, str) and v.startswith(_LOCAL)), None)
        if ident is None:
            if self.lookup is None:
                raise ResolutionError(f"{kind.replace('_', ' ')} {dict(key)} cannot be read (no resolver)")
            found: Mapping[str, Any] = self.lookup.describe(kind, key)
            return found
        logical = ident[len(_LOCAL):]
        res = self.resolver.resources.get(logical)
        local = _LOCAL_KINDS.get(kind)
        if not isinstance(res, Mapping) or local is None or res.get("Type") != local[0]:
            raise ResolutionError(f"{kind.replace('_', ' ')} {logical}: not a {local[0] if local else kind} "
                                  f"of the template")
        props = _plain(self.resolver.value(res.get("Properties") or {}))
        if kind == "launch_template":  # described as DescribeLaunchTemplateVersions answers
            return {"LaunchTemplateId": logical, "LaunchTemplateData": _mapping(props.get("LaunchTemplateData"))}
        return _mapping(props)


def _mapping(node: Any) -> Mapping[str, Any]:
    return node if isinstance(node, Mapping) else {}


def template_text(op: Operation, params: Mapping[str, Any], lookup: Any, mode: Mode) -> tuple[Any, str]:
    """The template of the call (parsed or text) and where it came from; raises ResolutionError."""
    t = op.template
    assert t is not None
    body = _first(params, t.body, None, mode) if t.body else None
    if isinstance(body, (str, Mapping)) and body:
        return body, t.body
    url = _first(params, t.url, None, mode) if t.url else None
    if isinstance(url, str) and url.strip():
        if lookup is None:
            raise ResolutionError(f"the template at {url} cannot be read (no resolver)")
        return lookup.describe("template_url", {"url": url.strip()}).get("TemplateBody"), url.strip()
    previous = _first(params, t.previous, None, mode) if t.previous else None
    stack = _first(params, t.stack, None, mode) if t.stack else None
    if (previous is True or str(previous).lower() == "true") and isinstance(stack, str) and stack.strip():
        if lookup is None:
            raise ResolutionError(f"the template of stack {stack} cannot be read (no resolver)")
        return lookup.describe("stack_template", {"name": stack.strip()}).get("TemplateBody"), f"stack {stack}"
    return None, ""


def translate(op: Operation, params: Mapping[str, Any], lookup: Any, catalog: Any, read: Translate,
              mode: Mode = EXACT, region: str = "") -> tuple[tuple[ComputeItem, ...], tuple[str, ...]]:
    """The compute items of the template the call deploys, and what could not be followed."""
    try:
        raw, where = template_text(op, params, lookup, mode)
    except ResolutionError as exc:
        return (), (f"{op.name}: {exc}",)
    except Exception as exc:  # a reader failure: decided fail-closed
        return (), (f"{op.name}: the template could not be read ({type(exc).__name__}: {exc})",)
    if raw is None:
        return (), ()  # no template (an update of parameters or tags only is read as deployed: see docs)
    try:
        doc = dict(raw) if isinstance(raw, Mapping) else parse(str(raw))
    except TemplateError as exc:
        return (), (f"{op.name}: the template ({where}) cannot be parsed: {exc}",)
    given: dict[str, str | None] = {}
    t = op.template
    for entry in (_first(params, t.parameters, None, mode) or []) if t and t.parameters else []:
        if isinstance(entry, Mapping):
            key = _ci(entry, "ParameterKey")
            if isinstance(key, str):
                use_previous = _ci(entry, "UsePreviousValue") is True
                value = _ci(entry, "ParameterValue")
                given[key] = None if use_previous or value is None else str(value)
    resolver = _Resolver(doc, given, region)
    local = _LocalLookup(resolver, lookup)
    items: list[ComputeItem] = []
    unresolved: list[str] = []
    for logical, res in sorted(resolver.resources.items()):
        if not isinstance(res, Mapping):
            continue
        row = RESOURCES.get(str(res.get("Type", "")))
        if row is None or (not row.slots and row.base is None):
            continue
        if "Condition" in res and resolver.condition(res["Condition"]) is False:
            continue  # not created with these parameters
        props = _plain(resolver.value(res.get("Properties") or {}))
        if not isinstance(props, Mapping):
            continue
        fake = Operation("cloudformation", str(logical), row.slots, base=row.base)
        out = read(fake, props, local, catalog, slots=row.slots, base=row.base, extra=(), mode=LOOSE)
        prefix = f"Resources.{logical}.Properties."
        items.extend(ComputeItem(i.instance_type, i.count, i.attached, i.choice and f"{op.name}:{i.choice}",
                                 prefix + i.path if i.path else prefix.rstrip(".")) for i in out.items)
        unresolved.extend(f"{prefix.rstrip('.')}: {u}" for u in out.unresolved)
    return tuple(items), tuple(unresolved)


def _ci(entry: Mapping[str, Any], name: str) -> Any:
    low = name.lower()
    return next((v for k, v in entry.items() if isinstance(k, str) and k.lower() == low), None)
