"""An ARM request (method, resource path, JSON body) -> one ProvisioningRequest, or None.

None means the call provisions nothing (a GET, a tags-only PATCH, a resource we do not decide).

What the body leaves out is taken from the resource as it is now, through ``fetch`` (a GET of the
same resource through the caller's own pipeline), because ARM merges a PATCH onto the current
resource: a scale-set PATCH of ``sku.capacity`` alone scales out the size the scale set already has.
The GET happens only when the answer could change the decision: a size is missing, or an
accelerated size has no count or location. A plain resize never pays for it.

# INVARIANT: anything that cannot be translated (a body that is not JSON, a malformed count, a
# missing size the current resource cannot supply, a GET that fails) yields a request with
# ``unresolved`` set, which the engine denies fail-closed; it never yields None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gatekeeper.adapters.azure._operations import (
    AmbiguousBodyError,
    Recognised,
    Shape,
    get_path,
    has_path,
    merge,
)
from gatekeeper.model import ComputeItem, ProvisioningRequest

# path of a resource -> its current body, or None when it does not exist (404); raises FetchError.
Fetch = Callable[[str], Mapping[str, Any] | None]
# size name -> True when the catalog says it carries (or may carry) an accelerator.
Accelerated = Callable[[str], bool]


class TranslationError(ValueError):
    """The request cannot be turned into what it provisions; decided fail-closed."""


class FetchError(TranslationError):
    """Reading the current resource failed."""


@dataclass(frozen=True, slots=True)
class _Reading:
    sizes: tuple[tuple[str, str, str], ...]  # (size, path, choice group)
    count: int | None
    location: str | None
    placeholder_only: bool = False


def _count(value: Any, path: str) -> int:
    # JSON numbers only (and digit strings, which ARM coerces); a bool is not a count.
    if isinstance(value, bool):
        raise TranslationError(f"{path} is not a count: {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise TranslationError(f"{path} is not a count: {value!r}")
    if n < 0:
        raise TranslationError(f"{path} is negative: {n}")
    return n


def _size(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TranslationError(f"{path} is not a size name: {value!r}")
    return value.strip()


def _read(shape: Shape, body: Mapping[str, Any], prefix: str = "") -> _Reading:
    sizes: list[tuple[str, str, str]] = []
    placeholder_only = False
    for path in shape.size:
        value = get_path(body, path)
        if value is not None:
            size = _size(value, prefix + path)
            if size.lower() in shape.placeholders:
                placeholder_only = True
            else:
                sizes.append((size, prefix + path, ""))
            break
    if shape.alternatives:
        alts = get_path(body, shape.alternatives)
        if alts is not None:
            if not isinstance(alts, list):
                raise TranslationError(f"{prefix}{shape.alternatives} is not a list")
            group = prefix + shape.alternatives
            for n, alt in enumerate(alts):
                name = get_path(alt, "name") if isinstance(alt, Mapping) else None
                sizes.append((_size(name, f"{group}[{n}].name"), f"{group}[{n}]", group))
            if sizes and placeholder_only:
                placeholder_only = False
    counts = [_count(v, prefix + p) for p in shape.counts if (v := get_path(body, p)) is not None]
    location = get_path(body, shape.location)
    if location is not None and not isinstance(location, str):
        raise TranslationError(f"{prefix}{shape.location} is not a region: {location!r}")
    return _Reading(tuple(sizes), max(counts) if counts else None, location or None, placeholder_only)


def _region(location: str | None) -> str:
    # ARM accepts display names ("East US") for locations; the canonical name has no spaces.
    return "".join((location or "").split()).lower()


class _Single:
    """A resource that is one shape: a VM, a scale set, a scale-set VM, an AKS agent pool."""

    def __init__(self, rec: Recognised, fetch: Fetch, accelerated: Accelerated) -> None:
        self.rec, self.fetch, self.accelerated = rec, fetch, accelerated
        self.shape = rec.operation.shape

    def _needs_more(self, r: _Reading) -> list[str]:
        shape = self.shape
        missing = []
        if not r.sizes:
            missing.append("the size")
        elif any(self.accelerated(s) for s, _, _ in r.sizes):
            if shape.counts and r.count is None and shape.default_count is None:
                missing.append("the count")
            if r.location is None and self.rec.operation.location_from == "self":
                missing.append("the location")
        return missing

    def items(self, body: Mapping[str, Any]) -> tuple[tuple[ComputeItem, ...], str | None]:
        shape = self.shape
        r = _read(shape, body)
        missing = self._needs_more(r)
        if missing:
            current = self.fetch(self.rec.path)
            if current is None:
                raise TranslationError(f"{' and '.join(missing)} of {self.rec.path} is not in the request "
                                       "and the resource does not exist yet")
            r = _read(shape, merge(current, body))
            missing = self._needs_more(r)
            if missing:
                raise TranslationError(f"{' and '.join(missing)} of {self.rec.path} is neither in the request "
                                       "nor on the current resource")
        accelerated = any(self.accelerated(s) for s, _, _ in r.sizes)
        count = r.count if r.count is not None else (shape.default_count if shape.counts else 1)
        location = r.location
        if location is None and accelerated and self.rec.operation.location_from == "parent":
            parent = self.rec.path.rsplit("/", 2)[0]
            current = self.fetch(parent)
            if current is None:
                raise TranslationError(f"{parent} does not exist, so its location is unknown")
            loc = get_path(current, "location")
            location = loc if isinstance(loc, str) and loc else None
            if location is None:
                raise TranslationError(f"{parent} has no location")
        items = tuple(ComputeItem(instance_type=s, count=count if count is not None else 1, choice=choice,
                                  path=path) for s, path, choice in r.sizes)
        return items, location


class _Pools:
    """A resource that carries a list of shapes: a managed cluster's ``agentPoolProfiles``."""

    def __init__(self, rec: Recognised, fetch: Fetch, accelerated: Accelerated) -> None:
        self.rec, self.fetch, self.accelerated = rec, fetch, accelerated
        self.shape = rec.operation.shape
        self.pools_path = rec.operation.pools

    def _pools(self, body: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
        pools = get_path(body, self.pools_path)
        if pools is None:
            return None
        if not isinstance(pools, list) or not all(isinstance(p, Mapping) for p in pools):
            raise TranslationError(f"{self.pools_path} is not a list of objects")
        return pools

    def items(self, body: Mapping[str, Any]) -> tuple[tuple[ComputeItem, ...], str | None] | None:
        pools = self._pools(body)
        if pools is None:
            return None  # the PUT changes no pool
        current: Mapping[str, Any] | None = None
        fetched = False
        location = get_path(body, "location")
        out: list[ComputeItem] = []
        for n, pool in enumerate(pools):
            name = get_path(pool, "name")
            label = f"{self.pools_path}[{name if isinstance(name, str) and name else n}]"
            r = _read(self.shape, pool, label + ".")
            if not r.sizes:
                # An existing pool named without a size keeps its size; a new one must name it.
                if not fetched:
                    current, fetched = self.fetch(self.rec.path), True
                now = self._pools(current) if current is not None else None
                same = [p for p in now or () if isinstance(name, str)
                        and str(get_path(p, "name") or "").lower() == name.lower()]
                if not same:
                    raise TranslationError(f"{label} names no vmSize and is not an existing pool")
                r = _read(self.shape, merge(same[0], pool), label + ".")
                if not r.sizes:
                    raise TranslationError(f"{label} has no vmSize")
            count = r.count if r.count is not None else (self.shape.default_count or 1)
            out.extend(ComputeItem(instance_type=s, count=count, choice=c, path=p) for s, p, c in r.sizes)
        if not location and any(self.accelerated(i.instance_type) for i in out):
            if not fetched:
                current, fetched = self.fetch(self.rec.path), True
            loc = get_path(current, "location") if current is not None else None
            if not isinstance(loc, str) or not loc:
                raise TranslationError(f"the location of {self.rec.path} is neither in the request nor known")
            location = loc
        if location is not None and not isinstance(location, str):
            raise TranslationError(f"location is not a region: {location!r}")
        return tuple(out), location


def translate(
    rec: Recognised,
    body: Any,
    *,
    fetch: Fetch,
    accelerated: Accelerated,
    subject: str | None = None,
    principal: str = "",
) -> ProvisioningRequest | None:
    """The ProvisioningRequest for a recognised ARM call; None when it changes no compute."""
    op = rec.operation
    account = (subject or rec.params.get("subscription", "")).strip().lower()

    def request(items: tuple[ComputeItem, ...], region: str = "", unresolved: tuple[str, ...] = ()) -> (
            ProvisioningRequest):
        return ProvisioningRequest(provider="azure", account_id=account, items=items, region=region,
                                   service=op.service, operation=op.methods[rec.method], principal=principal,
                                   resource_ids=(rec.path,), unresolved=unresolved)

    try:
        if not isinstance(body, Mapping):
            raise TranslationError("the request body is not a JSON object")
        if rec.method == "PATCH" and not op.pools and not any(
                has_path(body, p) for p in op.shape.provisioning_paths()):
            return None  # tags, extensions, anything but size and count: not a provisioning change
        if op.pools:
            found = _Pools(rec, fetch, accelerated).items(body)
            if found is None:
                return None
            items, location = found
        else:
            items, location = _Single(rec, fetch, accelerated).items(body)
    except (TranslationError, AmbiguousBodyError) as exc:
        return request((), unresolved=(f"{op.methods[rec.method]} {rec.path}: {exc}",))
    return request(items, _region(location))
