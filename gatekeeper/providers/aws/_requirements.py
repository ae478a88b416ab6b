"""From what a caller wrote to catalog instance types: InstanceRequirements, bare families, counts.

- ``expand_requirements``: an EC2-style InstanceRequirements (attribute-based instance type selection)
  -> every accelerated type in the catalog it admits, plus placeholders for accelerators it admits
  that the catalog has no type for (an ``AcceleratorNames`` entry, an ``AllowedInstanceTypes`` pattern
  matching nothing known, a manufacturer or kind no catalog chip has). Each is an alternative; the
  decision is the most restrictive of them. Filters gatekeeper cannot evaluate (memory, price,
  network) admit everything, so they never narrow the set.
- ``expand_type``: an AWS Batch entry (``p4d.24xlarge``, a bare family ``p4d``, a keyword ``optimal``)
  -> instance types.
- ``instances_for``: a capacity in units, vCPUs or MiB -> the most instances it can become.

No I/O; reads the catalog only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gatekeeper.catalog import Catalog, InstanceType, normalize
from gatekeeper.model import AttachedAccelerator
from gatekeeper.providers.aws import vocabulary as _table

_SIZE = re.compile(r"^(\d*)xlarge$")


def vcpus(instance_type: str) -> int | None:
    """vCPUs of an EC2 size by AWS's naming (large 2, xlarge 4, Nxlarge 4N); None when unknown (metal)."""
    key = normalize("aws", instance_type)
    if "." not in key:
        return None
    size = key.rsplit(".", 1)[1]
    if size in ("nano", "micro", "small", "medium"):
        return 1  # the fewest any family has at that size (t3: 2, Graviton medium: 1): an upper bound on count
    if size == "large":
        return 2
    m = _SIZE.match(size)
    if m:
        return 4 * (int(m.group(1)) if m.group(1) else 1)
    return None


def instances_for(capacity: float, unit: str, weight: float, instance_type: str) -> int:
    """The most instances ``capacity`` can become for one alternative.

    ``units``: capacity / weight (an instance counts for ``weight`` units; default 1). ``vcpu``: capacity
    / the type's vCPUs, or the capacity itself when the size is unknown (every instance has at least one
    vCPU). ``memory-mib``: capacity / 512 (no EC2 type has less than 512 MiB), a loose but safe bound.
    """
    if capacity <= 0:
        return 0
    u = (unit or "units").strip().lower()
    if u in ("vcpu", "vcpus"):
        per = vcpus(instance_type) or 1
        return math.ceil(capacity / per)
    if u in ("memory-mib", "memorymib"):
        return math.ceil(capacity / 512)
    w = weight if weight > 0 else 1.0
    return math.ceil(capacity / w)


# ---------------------------------------------------------------------------------------- families
def expand_type(catalog: Catalog, name: str) -> list[str]:
    """Instance types an AWS Batch ``instanceTypes`` entry can launch.

    A size (``p4d.24xlarge``) is itself; a family (``p4d``) is every size the catalog knows, or the
    family name itself when it knows none (then classified by the family patterns: an unknown or
    accelerated family is decided as unknown accelerated compute); ``optimal`` is every accelerated
    type in the catalog (see ``_table.BATCH_ANY_ACCELERATED``); ``default_*`` are their CPU families.
    """
    key = normalize("aws", name)
    if not key or "." in key:
        return [name]
    if key == _table.BATCH_ANY_ACCELERATED:
        return [t.name for t in catalog.types("aws") if t.chip]
    families = _table.BATCH_KEYWORDS.get(key, (key,))
    out: list[str] = []
    for fam in families:
        sizes = [t.name for t in catalog.family_types("aws", fam)]
        out.extend(sizes or [fam])
    return out


# ----------------------------------------------------------------------------------- requirements
@dataclass(frozen=True, slots=True)
class Candidate:
    """One alternative InstanceRequirements admit: a type, or an accelerator only (no known type)."""

    instance_type: str
    attached: tuple[AttachedAccelerator, ...] = ()
    why: str = ""


def _lower_keys(value: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _range(value: Any) -> tuple[float | None, float | None]:
    r = _lower_keys(value)

    def num(v: Any) -> float | None:
        if isinstance(v, bool) or v is None:
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    return num(r.get("min")), num(r.get("max"))


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    """An AllowedInstanceTypes / ExcludedInstanceTypes pattern: ``*`` is the only wildcard."""
    key = normalize("aws", text)
    return re.compile("^" + ".*".join(re.escape(p) for p in key.split("*")) + "$")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    key = normalize("aws", name)
    return any(_pattern(p).match(key) for p in patterns)


def _within(value: float, bounds: tuple[float | None, float | None]) -> bool:
    lo, hi = bounds
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def expand_requirements(catalog: Catalog, requirements: Any) -> list[Candidate]:
    """The accelerated alternatives ``requirements`` admit; empty when they admit only plain types.

    Keys are matched case-insensitively (EC2 and Auto Scaling spell them ``AcceleratorNames``, ECS and
    Batch ``acceleratorNames``).
    """
    ir = _lower_keys(requirements)
    count = _range(ir.get("acceleratorcount"))
    memory = _range(ir.get("acceleratortotalmemorymib"))
    # "Max 0" excludes accelerated types; types EC2 reports with 0 accelerators (fractional GPUs) stay.
    none_allowed = count[1] == 0 or memory[1] == 0
    kinds = {k.lower() for k in _strings(ir.get("acceleratortypes"))}
    makers = {m.lower() for m in _strings(ir.get("acceleratormanufacturers"))}
    names = {n.strip().lower() for n in _strings(ir.get("acceleratornames"))}
    allowed = _strings(ir.get("allowedinstancetypes"))
    excluded = _strings(ir.get("excludedinstancetypes"))
    vcpu = _range(ir.get("vcpucount"))

    name_chips: dict[str, str | None] = {n: _chip_of(catalog, n) for n in names}
    out: list[Candidate] = []
    seen_chips: set[str] = set()
    for t in catalog.types("aws"):
        if not t.chip or not _admits(catalog, t, count, none_allowed, kinds, makers, name_chips, allowed,
                                     excluded, vcpu):
            continue
        out.append(Candidate(t.name, why="matches the requirements"))
        seen_chips.add(t.chip)
    if none_allowed:
        return out
    # Accelerators the requirements admit that no catalog type stands for: decided as the accelerator.
    for n, chip in sorted(name_chips.items()):
        if chip is None or chip not in seen_chips:
            out.append(Candidate("", (AttachedAccelerator(n),), f"AcceleratorNames {n!r} (no catalog type)"))
    known_makers = {_table.MANUFACTURERS.get(catalog.chips[t.chip].vendor) for t in catalog.types("aws") if t.chip}
    for m in sorted(makers - {x for x in known_makers if x}):
        if not names:
            out.append(Candidate("", (AttachedAccelerator(f"{m} accelerator"),),
                                 f"AcceleratorManufacturers {m!r} (no catalog type)"))
    known_kinds = set().union(*_table.KINDS.values())
    for k in sorted(kinds - known_kinds):
        if not names:
            out.append(Candidate("", (AttachedAccelerator(f"{k} accelerator"),),
                                 f"AcceleratorTypes {k!r} (no catalog type)"))
    known = [t.name for t in catalog.types("aws")]
    for p in allowed:
        if not any(_pattern(p).match(normalize("aws", k)) for k in known) and not _matches(p, excluded):
            # A pattern matching no known type (a new family): the pattern is decided as a type name,
            # which the catalog's family patterns classify (``p9*`` is unknown accelerated, ``m7g*`` plain).
            out.append(Candidate(p, why=f"AllowedInstanceTypes {p!r} (no catalog type)"))
    return out


def _chip_of(catalog: Catalog, name: str) -> str | None:
    chip = catalog.accelerator_chip("aws", name)
    if chip is not None:
        return chip
    try:
        return catalog.chip(name).model
    except KeyError:
        return None


def _admits(catalog: Catalog, t: InstanceType, count: tuple[float | None, float | None], none_allowed: bool,
            kinds: set[str], makers: set[str], name_chips: Mapping[str, str | None], allowed: list[str],
            excluded: list[str], vcpu: tuple[float | None, float | None]) -> bool:
    assert t.chip is not None
    reported = 0.0 if t.fractional else t.count  # EC2 reports fractional GPUs as 0 accelerators
    if none_allowed and reported > 0:
        return False
    if not _within(reported, count):
        return False
    vendor = catalog.chips[t.chip].vendor if t.chip in catalog.chips else ""
    if kinds and vendor in _table.KINDS and not (_table.KINDS[vendor] & kinds):
        return False
    if makers and vendor in _table.MANUFACTURERS and _table.MANUFACTURERS[vendor] not in makers:
        return False
    if name_chips and t.chip not in {c for c in name_chips.values() if c}:
        return False
    if allowed and not _matches(t.name, allowed):
        return False
    if excluded and _matches(t.name, excluded):
        return False
    v = vcpus(t.name)
    return v is None or _within(v, vcpu)
