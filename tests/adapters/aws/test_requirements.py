"""InstanceRequirements -> catalog types, Batch families and keywords, capacity -> instance counts."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.catalog import default_catalog
from gatekeeper.model import CLASS_A, ComputeItem
from gatekeeper.providers.aws._requirements import Candidate, expand_requirements, expand_type, instances_for, vcpus

CATALOG = default_catalog()


def types_of(candidates: list[Candidate]) -> set[str]:
    return {c.instance_type for c in candidates if c.instance_type}


def classes(candidates: list[Candidate]) -> set[str]:
    return {CATALOG.classify_item("aws", ComputeItem(c.instance_type, 1, c.attached)).export_class
            for c in candidates}


@pytest.mark.parametrize(("name", "expected"), [
    ("t3.micro", 1), ("c7g.medium", 1), ("m5.large", 2), ("g4dn.xlarge", 4), ("p4d.24xlarge", 96),
    ("p5.48xlarge", 192), ("trn2.3xlarge", 12), (" ML.P5.4XLARGE ", 16), ("g4dn.metal", None), ("p4d", None),
])
def test_vcpus_by_size_name(name: str, expected: int | None) -> None:
    assert vcpus(name) == expected


@pytest.mark.parametrize(("capacity", "unit", "weight", "itype", "expected"), [
    (10, "units", 1.0, "p4d.24xlarge", 10),
    (10, "units", 4.0, "p4d.24xlarge", 3),  # ceil: the last unit still needs an instance
    (10, "units", 0.5, "p4d.24xlarge", 20),
    (10, "units", 0.0, "p4d.24xlarge", 10),  # a zero weight is no weight
    (192, "vcpu", 1.0, "p4d.24xlarge", 2),
    (100, "VCPU", 1.0, "g4dn.metal", 100),  # size unknown: every instance has at least one vCPU
    (1024, "memory-mib", 1.0, "p4d.24xlarge", 2),
    (0, "units", 1.0, "p4d.24xlarge", 0),
])
def test_instances_for_is_the_worst_case(capacity: float, unit: str, weight: float, itype: str,
                                         expected: int) -> None:
    assert instances_for(capacity, unit, weight, itype) == expected


def test_batch_family_expands_to_known_sizes() -> None:
    assert expand_type(CATALOG, "p4d") == ["p4d.24xlarge"]
    assert set(expand_type(CATALOG, " P5 ")) == {"p5.4xlarge", "p5.48xlarge"}
    assert expand_type(CATALOG, "p4d.24xlarge") == ["p4d.24xlarge"]


def test_batch_unknown_family_is_kept_and_classified_by_pattern() -> None:
    assert expand_type(CATALOG, "p9") == ["p9"]
    item = CATALOG.classify_item("aws", ComputeItem("p9", 1))
    assert item.accelerated and item.export_class == "unknown"
    assert expand_type(CATALOG, "m7g") == ["m7g"]
    assert not CATALOG.classify_item("aws", ComputeItem("m7g", 1)).accelerated


def test_batch_optimal_is_every_accelerated_type() -> None:
    optimal = expand_type(CATALOG, "optimal")
    accelerated = {t.name for t in CATALOG.types("aws") if t.chip}
    assert set(optimal) == accelerated and "p5.48xlarge" in optimal


def test_batch_default_bundles_are_their_cpu_families() -> None:
    x86 = expand_type(CATALOG, "default_x86_64")
    assert x86 and all(not CATALOG.classify_item("aws", ComputeItem(t, 1)).accelerated for t in x86)
    assert {t.split(".")[0] for t in x86} == {"m6i", "c6i", "r6i", "c7i"}
    arm = expand_type(CATALOG, "default_arm64")
    assert arm == ["m6g", "c6g", "r6g", "c7g"]  # not in the catalog: kept as families, classified plain
    assert not any(CATALOG.classify_item("aws", ComputeItem(t, 1)).accelerated for t in arm)


def ir(**kw: Any) -> dict[str, Any]:
    return {"VCpuCount": {"Min": 1}, "MemoryMiB": {"Min": 1}, **kw}


def test_accelerator_name_selects_the_chip() -> None:
    found = expand_requirements(CATALOG, ir(AcceleratorNames=["a100"]))
    assert types_of(found) == {"p4d.24xlarge", "p4de.24xlarge"}
    assert classes(found) == {CLASS_A}


def test_no_accelerator_filter_admits_every_accelerated_type() -> None:
    found = expand_requirements(CATALOG, ir())
    assert types_of(found) == {t.name for t in CATALOG.types("aws") if t.chip}


def test_count_max_zero_admits_only_types_reported_with_zero_accelerators() -> None:
    found = types_of(expand_requirements(CATALOG, ir(AcceleratorCount={"Max": 0})))
    assert found and all(t.startswith(("g6f.", "gr6f.")) for t in found)
    excluded = expand_requirements(CATALOG, ir(AcceleratorCount={"Max": 0},
                                               ExcludedInstanceTypes=["g6f.*", "gr6f.*"]))
    assert excluded == []


def test_count_range_and_vcpus_narrow_the_set() -> None:
    found = types_of(expand_requirements(CATALOG, ir(AcceleratorCount={"Min": 8, "Max": 8},
                                                    AcceleratorManufacturers=["nvidia"])))
    assert "p4d.24xlarge" in found and "g5.xlarge" not in found
    small = types_of(expand_requirements(CATALOG, {"VCpuCount": {"Min": 2, "Max": 4}, "MemoryMiB": {"Min": 1}}))
    assert "p4d.24xlarge" not in small and "g4dn.xlarge" in small


def test_manufacturer_and_kind_filters() -> None:
    aws_chips = types_of(expand_requirements(CATALOG, ir(AcceleratorManufacturers=["amazon-web-services"])))
    # dl2q (Qualcomm, a vendor EC2's filter vocabulary has no value for) is admitted by every filter.
    assert aws_chips - {"dl2q.24xlarge"} and all(t.startswith(("trn", "inf", "dl2q")) for t in aws_chips)
    gpus = types_of(expand_requirements(CATALOG, ir(AcceleratorTypes=["gpu"], AcceleratorManufacturers=["nvidia"])))
    assert "p5.48xlarge" in gpus and not any(t.startswith("inf") for t in gpus)


def test_accelerators_without_a_catalog_type_become_placeholders() -> None:
    # FPGAs (Xilinx) and K80s are admitted but the catalog has no type for them: decided as unknown.
    found = expand_requirements(CATALOG, ir(AcceleratorManufacturers=["xilinx"]))
    assert types_of(found) == {"dl2q.24xlarge"}  # a vendor outside EC2's vocabulary is never excluded
    assert [a.type for c in found for a in c.attached] == ["xilinx accelerator"]
    assert classes(found) == {"unknown"}
    k80 = expand_requirements(CATALOG, ir(AcceleratorNames=["k80"]))
    assert [a.type for c in k80 for a in c.attached] == ["k80"] and classes(k80) == {"unknown"}
    fpga = expand_requirements(CATALOG, ir(AcceleratorTypes=["fpga"]))
    assert classes([c for c in fpga if not c.instance_type]) == {"unknown"}


def test_allowed_instance_types_patterns() -> None:
    assert types_of(expand_requirements(CATALOG, ir(AllowedInstanceTypes=["p4d.*"]))) == {"p4d.24xlarge"}
    both = {"p4d.24xlarge", "p4de.24xlarge"}
    assert types_of(expand_requirements(CATALOG, ir(AllowedInstanceTypes=["p4d*"]))) == both
    assert expand_requirements(CATALOG, ir(AllowedInstanceTypes=["m5.*", "c5*"])) == []
    # A pattern matching no known type is decided as a type name: p9* is an accelerated family.
    new = expand_requirements(CATALOG, ir(AllowedInstanceTypes=["P9*"]))
    assert types_of(new) == {"P9*"} and classes(new) == {"unknown"}


def test_camel_case_keys_of_ecs_and_batch() -> None:
    found = expand_requirements(CATALOG, {"vCpuCount": {"min": 1}, "acceleratorNames": ["h100"],
                                          "acceleratorCount": {"min": 1}})
    assert types_of(found) == {"p5.4xlarge", "p5.48xlarge"}


def test_malformed_requirements_admit_rather_than_exclude() -> None:
    # Values of the wrong type are ignored (botocore rejects them later); nothing is narrowed by them.
    found = expand_requirements(CATALOG, {"AcceleratorCount": {"Max": "lots"}, "AcceleratorNames": "a100"})
    assert "p4d.24xlarge" in types_of(found)
    assert expand_requirements(CATALOG, "not a structure") == expand_requirements(CATALOG, {})
