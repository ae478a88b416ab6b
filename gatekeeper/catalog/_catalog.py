"""The catalog: chips and instance types per provider, loaded from data files, queried on the hot path.

``Catalog.classify_item`` turns a ComputeItem into a ClassifiedItem. A known plain type answers from
one dict lookup (cached); an unknown type is judged by its family patterns (data too): an accelerated
family gives ``unknown``, a plain family ``none``, and a type matching neither is ``unknown`` as well,
since a new family is more likely to be a new accelerator than to be harmless.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from gatekeeper._construct import fast_new
from gatekeeper._prebuilt import MISSING
from gatekeeper._prebuilt import document as prebuilt_document
from gatekeeper.catalog.classify import (
    Classification,
    Figure,
    Tf32Effect,
    classify,
    most_restrictive,
    tf32_effect,
    total_processing_performance,
)
from gatekeeper.errors import CatalogError
from gatekeeper.model import (
    CLASS_NONE,
    CLASS_UNKNOWN,
    PROVIDERS,
    AcceleratorInfo,
    AttachedAccelerator,
    ClassifiedItem,
    ComputeItem,
)

DATA_DIR = Path(__file__).parent / "data"

_Template = tuple[str, bool, bool, str, tuple[AcceleratorInfo, ...]]
# Bounds of the look-up caches: type names and counts come from callers, so the caches must not grow
# without limit; past the bound a name is classified afresh each time (correct, only slower).
_CACHE_MAX = 100_000




_new_classified = fast_new(ClassifiedItem)
_new_accelerator = fast_new(AcceleratorInfo)


@dataclass(frozen=True, slots=True)
class Chip:
    model: str
    vendor: str
    datacenter: bool
    figures: tuple[Figure, ...]
    die_mm2: float | None
    die_confirmed: bool
    figures_confirmed: bool
    named_by: tuple[str, ...]
    source: str
    notes: str
    classification: Classification
    memory_bandwidth: float | None = None  # GB/s, total DRAM/HBM bandwidth of the chip
    bandwidth_source: str = ""
    bounded_by: str = ""  # a chip whose published figures bound this one's from above
    tf32: Tf32Effect | None = None  # set when the TF32 bit length changes the chip's TPP

    @property
    def export_class(self) -> str:
        return self.classification.export_class


@dataclass(frozen=True, slots=True)
class InstanceType:
    provider: str
    name: str
    family: str
    chip: str | None
    count: float
    fractional: bool
    source: str


def normalize(provider: str, name: str) -> str:
    """The lookup key of a type name: no whitespace, lower case, provider prefixes and paths removed."""
    key = "".join(name.split()).lower()
    if provider == "aws":
        if key.startswith("ml."):  # SageMaker sells EC2 hardware under ml.<type>
            key = key[3:]
    elif provider == "gcp":
        key = key.rsplit("/", 1)[-1]  # machineTypes may arrive as zone URLs
    return key


def _family(provider: str, key: str) -> str:
    if provider == "aws":
        return key.split(".", 1)[0]
    if provider == "gcp":
        return key.split("-", 1)[0]
    return key


def _count(value: Any, where: str) -> float:
    try:
        n = float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        raise CatalogError(f"{where}: bad accelerator count {value!r}") from None
    if n < 0:
        raise CatalogError(f"{where}: negative accelerator count {value!r}")
    return n


class Catalog:
    """Chips and instance types; immutable after loading, safe to share between threads."""

    def __init__(
        self,
        chips: dict[str, Chip],
        types: dict[str, dict[str, InstanceType]],
        accelerator_types: dict[str, dict[str, str]],
        accelerated_patterns: dict[str, tuple[re.Pattern[str], ...]],
        plain_patterns: dict[str, tuple[re.Pattern[str], ...]],
        *,
        tf32_bits: int,
        as_of: str,
    ) -> None:
        self.chips = chips
        self._types = types
        self._accelerator_types = accelerator_types
        self._accelerated = accelerated_patterns
        self._plain = plain_patterns
        self.tf32_bits = tf32_bits
        self.as_of = as_of
        self._chip_alias = {k.lower(): k for k in chips}
        # (provider, key) -> template ClassifiedItem fields; filled lazily, bounded by the type space.
        self._cache: dict[tuple[str, str], _Template] = {}
        # provider -> the name as the caller spelt it -> template: the hot path skips normalize().
        self._by_raw: dict[str, dict[str, _Template]] = {p: {} for p in PROVIDERS}
        # (provider, name, count) -> the template's accelerators scaled to count instances.
        self._scaled: dict[tuple[str, str, int], tuple[AcceleratorInfo, ...]] = {}

    # -- lookups -----------------------------------------------------------------------------
    def chip(self, model: str) -> Chip:
        key = self._chip_alias.get(model.strip().lower())
        if key is None:
            raise KeyError(model)
        return self.chips[key]

    def lookup(self, provider: str, name: str) -> InstanceType | None:
        return self._types.get(provider, {}).get(normalize(provider, name))

    def find(self, name: str) -> list[InstanceType]:
        """Every provider's type of that name (for ``catalog show`` without --provider)."""
        return [t for p in PROVIDERS if (t := self.lookup(p, name)) is not None]

    def types(self, provider: str | None = None) -> Iterator[InstanceType]:
        for p in PROVIDERS if provider is None else (provider,):
            yield from self._types.get(p, {}).values()

    def accelerator_chip(self, provider: str, accelerator_type: str) -> str | None:
        """The chip model behind a separately attached accelerator type (GCP ``nvidia-tesla-a100``)."""
        key = "".join(accelerator_type.split()).lower().rsplit("/", 1)[-1]
        return self._accelerator_types.get(provider, {}).get(key)

    def accelerator_types(self, provider: str) -> dict[str, str]:
        """Every separately attached accelerator type of a provider -> its chip model (for guardrails)."""
        return dict(self._accelerator_types.get(provider, {}))

    def family_types(self, provider: str, family: str) -> list[InstanceType]:
        """Every known size of a family (AWS Batch accepts bare families such as ``p4d``)."""
        fam = normalize(provider, family)
        # Family names in the data keep their display form ("NDm A100 v4"): compare normalised.
        return [t for t in self.types(provider) if normalize(provider, t.family) == fam]

    def family_kind(self, provider: str, name: str) -> str:
        """``accelerated``, ``plain`` or ``unknown`` for a type by its name's family patterns."""
        key = normalize(provider, name)
        if any(p.search(key) for p in self._accelerated.get(provider, ())):
            return "accelerated"
        if any(p.search(key) for p in self._plain.get(provider, ())):
            return "plain"
        return "unknown"

    # -- classification ----------------------------------------------------------------------
    def accelerator_info(self, model: str, per_instance: float, instances: int) -> AcceleratorInfo:
        chip = self.chips.get(model)
        if chip is None:
            return AcceleratorInfo(model, per_instance, per_instance * instances, None, None,
                                   CLASS_UNKNOWN, False)
        c = chip.classification
        return AcceleratorInfo(chip.model, per_instance, per_instance * instances, c.tpp, c.pd,
                               c.export_class, c.confirmed, chip.named_by, chip.memory_bandwidth)

    def _classify_type(
        self, provider: str, name: str
    ) -> tuple[str, bool, bool, str, tuple[AcceleratorInfo, ...]]:
        key = normalize(provider, name)
        cached = self._cache.get((provider, key))
        if cached is not None:
            return cached
        t = self._types.get(provider, {}).get(key)
        if t is not None:
            accs = (self.accelerator_info(t.chip, t.count, 1),) if t.chip else ()
            result = (t.name, True, bool(accs), accs[0].export_class if accs else CLASS_NONE, accs)
        elif not key:
            result = ("", True, False, CLASS_NONE, ())
        else:
            kind = self.family_kind(provider, key)
            if kind == "plain":
                result = (key, False, False, CLASS_NONE, ())
            else:
                result = (key, False, True, CLASS_UNKNOWN,
                          (AcceleratorInfo(f"unknown ({kind} family {_family(provider, key)!r})", 0, 0,
                                           None, None, CLASS_UNKNOWN, False),))
        if len(self._cache) < _CACHE_MAX:  # bounded: unknown names come from callers
            self._cache[(provider, key)] = result
        return result

    def classify_item(self, provider: str, item: ComputeItem) -> ClassifiedItem:
        # Hot path: one dict look-up by the caller's spelling; normalize() only on a miss.
        raw = item.instance_type
        by_raw = self._by_raw.get(provider)
        template = by_raw.get(raw) if by_raw is not None else None
        if template is None:
            template = self._classify_type(provider, raw)
            if by_raw is not None and len(by_raw) < _CACHE_MAX:
                by_raw[raw] = template
        name, known, accelerated, export_class, accs = template
        count = item.count
        if accs and count != 1:
            accs = self._scale(provider, raw, accs, max(count, 0))
        if item.attached:
            count = max(count, 0)
            extra = tuple(self._attached_info(provider, a, count) for a in item.attached)
            accs = accs + extra
            accelerated = True
            export_class = most_restrictive([a.export_class for a in accs])
        return _new_classified(item, name, known, accelerated, export_class, accs)

    def _scale(self, provider: str, raw: str, accs: tuple[AcceleratorInfo, ...],
               count: int) -> tuple[AcceleratorInfo, ...]:
        """The template's accelerators for ``count`` instances (cached: fleets repeat their counts)."""
        key = (provider, raw, count)
        hit = self._scaled.get(key)
        if hit is None:
            hit = tuple(_new_accelerator(a.model, a.per_instance, a.per_instance * count, a.tpp, a.pd,
                                         a.export_class, a.confirmed, a.named_by, a.memory_bandwidth)
                        for a in accs)
            if len(self._scaled) < _CACHE_MAX:
                self._scaled[key] = hit
        return hit

    def _attached_info(self, provider: str, att: AttachedAccelerator, instances: int) -> AcceleratorInfo:
        model = self.accelerator_chip(provider, att.type) or self._chip_alias.get(att.type.strip().lower())
        per = max(att.count, 0)  # a negative count from a caller must not cancel other accelerators out
        if model is None:
            return AcceleratorInfo(f"unknown accelerator type {att.type!r}", per, per * instances,
                                   None, None, CLASS_UNKNOWN, False)
        return self.accelerator_info(model, per, instances)


# -- loading -------------------------------------------------------------------------------
def _read_yaml(path: Path) -> Any:
    # A function host takes the document parsed when its package was built, for these very bytes
    # (gatekeeper/_prebuilt.py): its cold start neither imports nor runs the YAML parser.
    found = prebuilt_document(path)
    if found is not MISSING:
        return found
    import yaml

    # libyaml's parser when PyYAML was built with it: the same safe loading, 5-20x faster, and the
    # catalog is read on every cold start (a Lambda container's first event waits for it).
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=loader)  # a safe loader, C or Python
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc


# A chip row's keys: anything else (a typo, or a hand-written class) is an error, since the class
# is computed and a misspelt key would silently drop a figure.
_CHIP_KEYS = frozenset({"model", "vendor", "datacenter", "figures", "die_mm2", "die_confirmed",
                        "figures_confirmed", "named_by", "source", "notes", "memory_bandwidth",
                        "bandwidth_source", "bounded_by"})


def _mapping(doc: Any, path: Path, *required: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise CatalogError(f"{path.name}: expected a mapping at the top level")
    for key in required:
        if key not in doc:
            raise CatalogError(f"{path.name}: missing {key!r}")
    return doc


def _load_chips(path: Path) -> tuple[dict[str, Chip], int, str]:
    doc = _mapping(_read_yaml(path), path, "chips")
    tf32_bits = doc.get("tf32_bits", 32)
    if tf32_bits not in (19, 32) or isinstance(tf32_bits, bool):  # the two readings of TF32
        raise CatalogError(f"{path.name}: tf32_bits must be 19 or 32, not {tf32_bits!r}")
    if not isinstance(doc["chips"], list):
        raise CatalogError(f"{path.name}: 'chips' must be a list")
    chips: dict[str, Chip] = {}
    for row in doc["chips"]:
        if not isinstance(row, dict):
            raise CatalogError(f"{path.name}: chip row {row!r} is not a mapping")
        where = f"{path.name}: chip {row.get('model')!r}"
        extra = set(row) - _CHIP_KEYS
        if extra:
            raise CatalogError(f"{where}: unknown keys {sorted(extra)} (a class is computed, never written)")
        try:
            figures = tuple(Figure(str(f["precision"]).upper(), float(f["tops"]))
                            for f in row.get("figures") or ())
            die = row.get("die_mm2")
            if any(not f.tops > 0 for f in figures) or (die is not None and not float(die) > 0):
                raise ValueError("figures and die area must be positive numbers")
            tpp = total_processing_performance(figures, tf32_bits)
            figures_confirmed = bool(row.get("figures_confirmed", True)) and bool(figures)
            die_confirmed = bool(row.get("die_confirmed", die is not None))
            datacenter = bool(row.get("datacenter", True))
            c = classify(tpp, float(die) if die else None, datacenter=datacenter,
                         figures_confirmed=figures_confirmed, die_confirmed=die_confirmed)
            bandwidth = row.get("memory_bandwidth")
            if bandwidth is not None and (isinstance(bandwidth, bool) or not float(bandwidth) > 0):
                raise ValueError("memory_bandwidth must be a positive number of GB/s")
            if bandwidth is not None and not str(row.get("bandwidth_source") or "").strip():
                raise ValueError("memory_bandwidth needs its bandwidth_source")
            chip = Chip(
                model=str(row["model"]), vendor=str(row.get("vendor", "")),
                datacenter=datacenter, figures=figures,
                die_mm2=float(die) if die else None, die_confirmed=die_confirmed,
                figures_confirmed=figures_confirmed,
                named_by=tuple(str(n) for n in row.get("named_by") or ()),
                source=str(row["source"]), notes=str(row.get("notes", "")), classification=c,
                memory_bandwidth=float(bandwidth) if bandwidth is not None else None,
                bandwidth_source=str(row.get("bandwidth_source") or ""),
                bounded_by=str(row.get("bounded_by") or ""),
                tf32=tf32_effect(figures, float(die) if die else None, datacenter=datacenter),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{where}: {exc}") from exc
        if chip.model in chips:
            raise CatalogError(f"{where}: duplicate chip")
        chips[chip.model] = chip
    for model, chip in list(chips.items()):
        if chip.bounded_by:
            chips[model] = _bounded(chip, chips, f"{path.name}: chip {model!r}")
    return chips, tf32_bits, str(doc.get("as_of", ""))


def _bounded(chip: Chip, chips: dict[str, Chip], where: str) -> Chip:
    """A chip whose figures are unpublished but bounded above by another chip's on the same die.

    With the same die area, a lower TPP gives a lower PD, and neither 3A090 paragraph can be reached
    by lowering both: when the bounding chip's confirmed class is ``none``, so is this one's, and the
    class is confirmed (A10G by the A10). Otherwise the chip keeps its own (unconfirmed) class.
    """
    bound = chips.get(chip.bounded_by)
    if bound is None:
        raise CatalogError(f"{where}: bounded_by names unknown chip {chip.bounded_by!r}")
    if bound.die_mm2 is None or bound.die_mm2 != chip.die_mm2:
        raise CatalogError(f"{where}: bounded_by {bound.model!r} needs the same confirmed die area")
    b = bound.classification
    if b.export_class != CLASS_NONE or not b.confirmed:
        return chip
    c = Classification(None, None, CLASS_NONE, True,
                       f"bounded by the {bound.model}: TPP <= {b.tpp:,.0f} and PD <= {b.pd} on the same "
                       f"{bound.die_mm2:g} mm^2 die, below 3A090")
    return dataclasses.replace(chip, classification=c)


def _load_provider(path: Path, chips: dict[str, Chip]) -> tuple[
    str, dict[str, InstanceType], dict[str, str], tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]
]:
    doc = _mapping(_read_yaml(path), path, "provider")
    provider = str(doc["provider"])
    if provider != path.stem:
        raise CatalogError(f"{path.name}: provider {provider!r} does not match the file name")
    types: dict[str, InstanceType] = {}
    for fam in doc.get("families") or ():
        if not isinstance(fam, dict) or not isinstance(fam.get("types") or {}, dict):
            raise CatalogError(f"{path.name}: family {fam!r} must be a mapping with a 'types' mapping")
        chip = fam.get("chip")
        if chip is not None and chip not in chips:
            raise CatalogError(f"{path.name}: family {fam.get('family')!r} names unknown chip {chip!r}")
        for name, count in (fam.get("types") or {}).items():
            key = normalize(provider, str(name))
            if key in types:
                raise CatalogError(f"{path.name}: duplicate type {name!r}")
            n = _count(count, f"{path.name}: {name}")
            types[key] = InstanceType(
                provider=provider, name=str(name), family=str(fam.get("family") or _family(provider, key)),
                chip=chip, count=n, fractional=bool(fam.get("fractional", False)) or (0 < n < 1),
                source=str(fam.get("source") or doc.get("source", "")),
            )
    acc_types: dict[str, str] = {}
    for key in ("accelerated_families", "plain_families"):
        if not isinstance(doc.get(key) or [], list):
            raise CatalogError(f"{path.name}: {key!r} must be a list of patterns")
    if not isinstance(doc.get("accelerator_types") or {}, dict):
        raise CatalogError(f"{path.name}: 'accelerator_types' must be a mapping")
    for name, chip in (doc.get("accelerator_types") or {}).items():
        if chip not in chips:
            raise CatalogError(f"{path.name}: accelerator type {name!r} names unknown chip {chip!r}")
        acc_types[str(name).lower()] = str(chip)
    try:
        accel = tuple(re.compile(p) for p in doc.get("accelerated_families") or ())
        plain = tuple(re.compile(p) for p in doc.get("plain_families") or ())
    except re.error as exc:
        raise CatalogError(f"{path.name}: bad family pattern: {exc}") from exc
    return provider, types, acc_types, accel, plain


def load_catalog(data_dir: Path | None = None, providers: Iterable[str] = PROVIDERS) -> Catalog:
    """Load chips.yaml and <provider>.yaml from ``data_dir`` (default: the shipped data)."""
    d = data_dir or DATA_DIR
    chips, tf32_bits, as_of = _load_chips(d / "chips.yaml")
    types: dict[str, dict[str, InstanceType]] = {}
    acc: dict[str, dict[str, str]] = {}
    accel: dict[str, tuple[re.Pattern[str], ...]] = {}
    plain: dict[str, tuple[re.Pattern[str], ...]] = {}
    for p in providers:
        provider, t, a, ap, pp = _load_provider(d / f"{p}.yaml", chips)
        types[provider], acc[provider], accel[provider], plain[provider] = t, a, ap, pp
    return Catalog(chips, types, acc, accel, plain, tf32_bits=tf32_bits, as_of=as_of)


_default: Catalog | None = None


def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    global _default
    if _default is None:
        _default = load_catalog()
    return _default
