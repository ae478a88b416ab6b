"""The operation table against botocore's own service models (service-2.json in the installed botocore).

Every operation exists; every parameter path the table reads exists in the operation's input shape
(or, for the slots that read an existing resource's description, in that description's shape) with
the type the reader expects; the event service ids are botocore's; the InstanceRequirements
vocabulary is botocore's enum values. A renamed member in a botocore update fails here, not silently.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from gatekeeper.adapters.aws import _resolver, _table
from gatekeeper.adapters.aws._paths import compile_path

SESSION = botocore.session.get_session()

# Where, in the answer of each resolver read, the description the table's slots read sits.
DESCRIPTIONS: dict[str, str] = {
    "launch_template": "LaunchTemplateVersions[].LaunchTemplateData",
    "launch_configuration": "LaunchConfigurations[]",
    "instance": "Reservations[].Instances[]",
    "asg": "AutoScalingGroups[]",
    "nodegroup": "nodegroup",
    "compute_environment": "computeEnvironments[]",
    "ec2_fleet": "Fleets[]",
    "spot_fleet": "SpotFleetRequestConfigs[].SpotFleetRequestConfig",
}
NUMBERS = ("integer", "long", "double", "float", "string")


def resolve(shape: Shape | None, path: str) -> Shape | None:
    for name, iterate in compile_path(path).segments:
        if shape is None or shape.type_name != "structure" or name not in shape.members:
            return None
        shape = shape.members[name]
        if iterate:
            if shape.type_name != "list":
                return None
            shape = shape.member
    return shape


def _ci_member(shape: Shape, names: tuple[str, ...]) -> bool:
    lowered = {m.lower() for m in shape.members}
    return any(n.lower() in lowered for n in names)


class Checker:
    def __init__(self, root: Shape, where: str) -> None:
        self.root = root
        self.where = where
        self.errors: list[str] = []

    def at(self, shape: Shape | None, path: str) -> Shape | None:
        return resolve(self.root, path) if compile_path(path).from_root else resolve(shape, path)

    def expect(self, shape: Shape | None, path: str, kinds: tuple[str, ...], what: str) -> None:
        found = self.at(shape, path)
        ok = found is not None and (found.type_name in kinds or (
            found.type_name == "list" and found.member.type_name in kinds and "list" in kinds))
        if not ok:
            self.errors.append(f"{self.where}: {what} {path!r} is "
                               f"{'missing' if found is None else found.type_name}, expected {kinds}")

    def source(self, src: _table.Source, scope: Shape) -> None:
        elem = self.at(scope, src.at) if src.at else scope
        if elem is None or elem.type_name != "structure":
            self.errors.append(f"{self.where}: source at {src.at!r} is not a structure")
            return
        for p in src.type:
            self.expect(elem, p, ("string", "list"), "instance type")
        if src.requirements:
            req = self.at(elem, src.requirements)
            if req is None or req.type_name != "structure" or not _ci_member(req, ("AcceleratorNames",
                                                                                  "AllowedInstanceTypes")):
                self.errors.append(f"{self.where}: requirements {src.requirements!r} is not InstanceRequirements")
        if src.data:
            self.expect(elem, src.data, ("structure",), "launch template data")
        if src.template is not None:
            ref = self.at(elem, src.template.at) if src.template.at else elem
            if ref is None or ref.type_name != "structure":
                self.errors.append(f"{self.where}: template reference {src.template.at!r} missing")
            else:
                for field in ("id", "name", "version"):
                    if not _ci_member(ref, getattr(src.template, field)):
                        self.errors.append(f"{self.where}: template reference {src.template.at!r} has no {field} "
                                           f"({getattr(src.template, field)})")
        for p in (src.launch_configuration, src.instance):
            if p:
                self.expect(elem, p, ("string",), "reference")
        if src.weight:
            self.expect(elem, src.weight, NUMBERS, "weight")
        for p in src.count:
            self.expect(elem, p, NUMBERS, "count")
        for a in src.attached:
            entry = self.at(elem, a.at) if a.at else elem
            if entry is None:
                self.errors.append(f"{self.where}: attached accelerators {a.at!r} missing")
                continue
            if a.type:
                self.expect(entry, a.type, ("string",), "attached type")
            elif entry.type_name != "string":
                self.errors.append(f"{self.where}: attached accelerators {a.at!r} are not strings")
            if a.count:
                self.expect(entry, a.count, NUMBERS, "attached count")
        if src.when:
            self.expect(elem, src.when[0], ("string", "structure"), "condition")
        if src.inner is not None:
            self.source(src.inner, elem)

    def slot(self, slot: _table.Slot, scope: Shape) -> None:
        here = self.at(scope, slot.at) if slot.at else scope
        if here is None or here.type_name != "structure":
            self.errors.append(f"{self.where}: slot at {slot.at!r} is not a structure")
            return
        for src in slot.sources:
            self.source(src, here)
        for path in slot.count:
            for part in path.split("+"):
                self.expect(here, part, NUMBERS, "count")
        for path in slot.multiplier:
            self.expect(here, path, NUMBERS, "multiplier")
        if slot.unit:
            self.expect(here, slot.unit, ("string",), "unit")


def model(service: str) -> Any:
    return SESSION.get_service_model(service)


def description_shape(kind: str) -> Shape:
    fetch = _resolver.FETCHES[kind]
    m = model(fetch.service)
    op = next(o for o in m.operation_names if SESSION.get_service_model(fetch.service) and
              botocore.xform_name(o) == fetch.operation)
    shape = resolve(m.operation_model(op).output_shape, DESCRIPTIONS[kind])
    assert shape is not None, kind
    return shape


@pytest.mark.parametrize("op", _table.OPERATIONS, ids=[f"{o.service}.{o.name}" for o in _table.OPERATIONS])
def test_operation_paths_exist_in_botocore_models(op: _table.Operation) -> None:
    m = model(op.service)
    assert op.name in m.operation_names
    root = m.operation_model(op.name).input_shape
    errors: list[str] = []
    for slot in op.slots:
        c = Checker(root, f"{op.name}")
        c.slot(slot, root)
        errors += c.errors
    for res in (*((op.base,) if op.base else ()), *op.extra):
        for _, path in res.keys:
            assert resolve(root, path) is not None, f"{op.name}: resource key {path!r}"
        for path in res.when:
            assert resolve(root, path) is not None, f"{op.name}: {path!r}"
        described = description_shape(res.kind)
        for slot in res.slots:
            # The slots read the description with the request applied over it: each path must exist
            # in the description (what a Describe answers), or in the request part applied over it.
            on_desc = Checker(described, f"{op.name} (description of {res.kind})")
            on_desc.slot(slot, described)
            if res.overlay is not None and on_desc.errors:
                overlay = resolve(root, res.overlay) if res.overlay else root
                assert overlay is not None
                on_req = Checker(root, f"{op.name} (description of {res.kind})")
                on_req.slot(slot, overlay)
                errors += sorted(set(on_desc.errors) & set(on_req.errors))  # in neither shape
            else:
                errors += on_desc.errors
    for path in op.ids:
        assert resolve(root, path) is not None, f"{op.name}: id {path!r}"
    assert not errors, "\n".join(errors)


def test_service_ids_are_botocores() -> None:
    for service, sid in _table.SERVICE_IDS.items():
        assert model(service).service_id.hyphenize() == sid
    assert {op.service for op in _table.OPERATIONS} == set(_table.SERVICE_IDS)


def test_template_data_paths_exist_in_create_and_describe() -> None:
    data_in = resolve(model("ec2").operation_model("CreateLaunchTemplate").input_shape, "LaunchTemplateData")
    assert data_in is not None
    for shape in (data_in, description_shape("launch_template")):
        c = Checker(shape, "LaunchTemplateData")
        c.source(_table.TEMPLATE_DATA, shape)
        assert not c.errors, c.errors


def test_requirements_vocabulary_is_botocores() -> None:
    ec2 = model("ec2")
    assert set(_table.MANUFACTURERS.values()) <= set(ec2.shape_for("AcceleratorManufacturer").enum)
    kinds = set().union(*_table.KINDS.values())
    assert kinds <= set(ec2.shape_for("AcceleratorType").enum)


def test_every_resolver_kind_reads_a_real_operation() -> None:
    for kind, fetch in _resolver.FETCHES.items():
        m = model(fetch.service)
        names = {botocore.xform_name(o) for o in m.operation_names}
        assert fetch.operation in names, kind
        assert fetch.action.split(":")[1] in m.operation_names, kind
        description_shape(kind)
