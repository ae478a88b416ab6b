"""The AWS spec against botocore's own service models (service-2.json in the installed botocore).

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

from gatekeeper.providers import _spec
from gatekeeper.providers._paths import compile_path
from gatekeeper.providers._spec import sdk_paths
from gatekeeper.providers.aws import FETCHES, SPEC, operations, vocabulary

SESSION = botocore.session.get_session()

# Where, in the answer of each resolver read, the description the table's slots read sits.
DESCRIPTIONS: dict[str, str] = {
    "launch_template": "LaunchTemplateVersions[]",
    "launch_configuration": "LaunchConfigurations[]",
    "instance": "Reservations[].Instances[]",
    "asg": "AutoScalingGroups[]",
    "nodegroup": "nodegroup",
    "compute_environment": "computeEnvironments[]",
    "ec2_fleet": "Fleets[]",
    "spot_fleet": "SpotFleetRequestConfigs[].SpotFleetRequestConfig",
    "capacity_reservation": "CapacityReservations[]",
    "capacity_reservation_fleet": "CapacityReservationFleets[]",
    "endpoint_config": "",
    "domain": "",
    "emr_instance_group": "InstanceGroups[]",
    "template_url": "",
    "space": "",
    "user_profile": "",
    "stack_template": "",
}
NUMBERS = ("integer", "long", "double", "float", "string")


def resolve(shape: Shape | None, path: str) -> Shape | None:
    (compiled,) = compile_path(path)
    for name, iterate in compiled.segments:
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
    def __init__(self, root: Shape, where: str, request: Shape | None = None) -> None:
        self.root = request if request is not None else root  # ``$.`` paths read the request
        self.where = where
        self.errors: list[str] = []

    def at(self, shape: Shape | None, path: str) -> Shape | None:
        return resolve(self.root, path) if compile_path(path)[0].from_root else resolve(shape, path)

    def expect(self, shape: Shape | None, path: str, kinds: tuple[str, ...], what: str) -> None:
        found = self.at(shape, path)
        ok = found is not None and (found.type_name in kinds or (
            found.type_name == "list" and found.member.type_name in kinds and "list" in kinds))
        if not ok:
            self.errors.append(f"{self.where}: {what} {path!r} is "
                               f"{'missing' if found is None else found.type_name}, expected {kinds}")

    def source(self, src: _spec.Source, scope: Shape) -> None:
        elem = self.at(scope, src.at) if src.at else scope
        if elem is not None and elem.type_name == "string" and not src.type and all(not r.at for r in src.refs):
            for ref in src.refs:  # an id read back (StartInstances' InstanceIds)
                self.ref_reads(ref)
            return
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
        for ref in src.refs:
            if ref.keys:
                node = self.at(elem, ref.at) if ref.at else elem
                if node is None or node.type_name != "structure":
                    self.errors.append(f"{self.where}: reference {ref.at!r} missing")
                    continue
                for arg, spellings in ref.keys:
                    if arg in (ref.required or (arg,)) and not _ci_member(node, spellings):
                        self.errors.append(f"{self.where}: reference {ref.at!r} has no {arg} ({spellings})")
            else:
                self.expect(elem, ref.at, ("string",), "reference")
            for _, path in ref.context:
                self.expect(elem, path, ("string",), "reference context")
            self.ref_reads(ref)
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

    def ref_reads(self, ref: _spec.Ref) -> None:
        described = description_shape(ref.kind)
        shape = resolve(described, ref.data) if ref.data else described
        assert shape is not None, f"{ref.kind}: {ref.data}"
        c = Checker(shape, f"{self.where} (description of {ref.kind})")
        c.source(ref.reads or _spec.Source(type=("InstanceType",)), shape)
        for p in ref.count:
            c.expect(shape, p, NUMBERS, "count")
        self.errors += c.errors

    def slot(self, slot: _spec.Slot, scope: Shape) -> None:
        here = self.at(scope, slot.at) if slot.at else scope
        if here is not None and here.type_name == "string":
            for src in slot.sources:
                self.source(src, here)
            return
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
    fetch = FETCHES[kind]
    m = model(fetch.service)
    op = next(o for o in m.operation_names if SESSION.get_service_model(fetch.service) and
              botocore.xform_name(o) == fetch.operation)
    output = m.operation_model(op).output_shape
    shape = resolve(output, DESCRIPTIONS[kind]) if DESCRIPTIONS[kind] else output
    assert shape is not None, kind
    return shape


@pytest.mark.parametrize("op", SPEC.operations, ids=[f"{o.service}.{o.name}" for o in SPEC.operations])
def test_operation_paths_exist_in_botocore_models(op: _spec.Operation) -> None:
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
        if res.kind == "launch_template":  # the adapter reads the version's data (_read._DESCRIPTION_MEMBER)
            described = resolve(described, "LaunchTemplateData")
        for slot in res.slots:
            # The slots read the description with the request applied over it: each path must exist
            # in the description (what a Describe answers), or in the request part applied over it.
            on_desc = Checker(described, f"{op.name} (description of {res.kind})", root)
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
    if op.template is not None:
        for path in (p for p in sdk_paths(op) if p not in op.ids):
            assert resolve(root, path) is not None, f"{op.name}: template member {path!r}"
    if op.audit is not None:  # the event side derived from the same members, in CloudTrail's lowerCamel
        for slot in SPEC.event_slots(op):
            for src in slot.sources:
                assert all(not t[:1].isupper() for t in src.type), f"{op.name}: event path {src.type}"
    assert not errors, "\n".join(errors)


def test_service_ids_are_botocores() -> None:
    for service, sid in operations.SERVICE_IDS.items():
        assert model(service).service_id.hyphenize() == sid
    assert {op.service for op in SPEC.operations} == set(operations.SERVICE_IDS)


def test_template_data_paths_exist_in_create_and_describe() -> None:
    data_in = resolve(model("ec2").operation_model("CreateLaunchTemplate").input_shape, "LaunchTemplateData")
    assert data_in is not None
    for shape in (data_in, resolve(description_shape("launch_template"), "LaunchTemplateData")):
        c = Checker(shape, "LaunchTemplateData")
        c.source(operations.TEMPLATE_DATA, shape)
        assert not c.errors, c.errors


def test_requirements_vocabulary_is_botocores() -> None:
    ec2 = model("ec2")
    assert set(vocabulary.MANUFACTURERS.values()) <= set(ec2.shape_for("AcceleratorManufacturer").enum)
    kinds = set().union(*vocabulary.KINDS.values())
    assert kinds <= set(ec2.shape_for("AcceleratorType").enum)


def test_every_resolver_kind_reads_a_real_operation() -> None:
    for kind, fetch in FETCHES.items():
        m = model(fetch.service)
        names = {botocore.xform_name(o) for o in m.operation_names}
        assert fetch.operation in names, kind
        assert fetch.action.split(":")[1] in m.operation_names, kind
        description_shape(kind)
