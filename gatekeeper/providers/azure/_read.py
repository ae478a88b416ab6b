"""The one reader of the Azure spec: an ARM request or resource body -> one ProvisioningRequest, or None.

Read by the SDK adapter (the request body of a PUT/PATCH, completed from the current resource) and by
the Event Grid hook (the resource as it is after the write, read as a PUT of itself).

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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gatekeeper.model import ComputeItem, ProvisioningRequest
from gatekeeper.providers._paths import MAX_COUNT, shown
from gatekeeper.providers.azure.operations import (
    AmbiguousBodyError,
    Recognised,
    Shape,
    get_path,
    has_path,
    merge,
)
from gatekeeper.providers.azure.templates import Found, Links, Unknown, evaluate

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
    if isinstance(value, Unknown):
        raise TranslationError(f"{path}: {value.reason}")
    if isinstance(value, bool):
        raise TranslationError(f"{path} is not a count: {shown(value)}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer() and abs(value) <= MAX_COUNT:
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        n = int(value.strip())
    else:
        raise TranslationError(f"{path} is not a count: {shown(value)}")
    if n < 0:
        raise TranslationError(f"{path} is negative: {n}")
    if n > MAX_COUNT:
        raise TranslationError(f"{path} is out of range (0 to {MAX_COUNT}): {shown(n)}")
    return n


def _size(value: Any, path: str, hosts: bool = False) -> str:
    if isinstance(value, Unknown):
        raise TranslationError(f"{path}: {value.reason}")
    if not isinstance(value, str) or not value.strip():
        raise TranslationError(f"{path} is not a size name: {shown(value)}")
    return host_size(value.strip()) if hosts else value.strip()


def host_size(sku: str) -> str:
    """The VM size family a dedicated-host SKU hosts: ``NDamsrA100v4-Type1`` -> ``Standard_NDamsrA100v4``.

    Hosts are sold per VM family; the family name is decided as a size, so an N-series (GPU) host is an
    accelerated family (decided as its known sizes, or fail-closed as an unknown accelerator) and a
    D- or E-series host a plain one.
    """
    family = re.sub(r"-type\d+$", "", sku, flags=re.IGNORECASE)
    return family if family.lower().startswith("standard_") else f"Standard_{family}"


def _counts(shape: Shape, body: Mapping[str, Any], prefix: str) -> list[int]:
    out = []
    for path in shape.counts:
        parts = [(q, get_path(body, q)) for q in path.split("+")]
        present = [(q, v) for q, v in parts if v is not None]
        if present:
            out.append(sum(_count(v, prefix + q) for q, v in present))
    return out


def applies(shape: Shape, body: Mapping[str, Any]) -> bool | None:
    """Whether a body of this shape carries compute (``Shape.when``); None when the body does not say."""
    if shape.when is None:
        return True
    value = get_path(body, shape.when[0])
    if value is None:
        return None
    return isinstance(value, str) and value.strip().lower() in shape.when[1]


def _opaque(shape: Shape, body: Mapping[str, Any]) -> str:
    return next((why for path, why in shape.opaque if get_path(body, path) is not None), "")


def _read(shape: Shape, body: Mapping[str, Any], prefix: str = "") -> _Reading:
    sizes: list[tuple[str, str, str]] = []
    placeholder_only = False
    for path in shape.size:
        value = get_path(body, path)
        if value is not None:
            size = _size(value, prefix + path, shape.hosts)
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
    counts = _counts(shape, body, prefix)
    location = get_path(body, shape.location)
    if isinstance(location, Unknown):
        raise TranslationError(f"{prefix}{shape.location}: {location.reason}")
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

    def items(self, body: Mapping[str, Any]) -> tuple[tuple[ComputeItem, ...], str | None] | None:
        shape = self.shape
        r = _read(shape, body)
        missing = self._needs_more(r)
        current: Mapping[str, Any] | None = None
        if missing:
            current = self.fetch(self.rec.path)
            if current is None:
                raise TranslationError(f"{' and '.join(missing)} of {self.rec.path} is not in the request "
                                       "and the resource does not exist yet")
            if applies(shape, merge(current, body)) is False:
                return None
            r = _read(shape, merge(current, body))
            missing = self._needs_more(r)
            if missing:
                raise TranslationError(f"{' and '.join(missing)} of {self.rec.path} is neither in the request "
                                       "nor on the current resource")
        accelerated = any(self.accelerated(s) for s, _, _ in r.sizes)
        if accelerated and (why := _opaque(shape, merge(current, body) if current is not None else body)):
            raise TranslationError(f"{self.rec.path}: {why}")
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


def _renest(body: Mapping[str, Any], at: str) -> Mapping[str, Any]:
    """A PATCH body whose ``properties`` apply at ``at`` in the resource, in the resource's shape."""
    inner = get_path(body, "properties")
    out = {k: v for k, v in body.items() if k.lower() != "properties"}
    if inner is None:
        return out
    for key in reversed(at.split(".")):
        inner = {key: inner}
    merged: Mapping[str, Any] = merge(out, inner)
    return merged


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
    opname = op.operation_id(rec.method, rec.params.get("action", ""))
    account = (subject or rec.params.get("subscription", "")).strip().lower()

    def request(items: tuple[ComputeItem, ...], region: str = "", unresolved: tuple[str, ...] = ()) -> (
            ProvisioningRequest):
        return ProvisioningRequest(provider="azure", account_id=account, items=items, region=region,
                                   service=op.service, operation=opname, principal=principal,
                                   resource_ids=(rec.path,), unresolved=unresolved)

    try:
        if rec.method == "POST":
            body = {}  # an action (start) runs the resource as it is: read it whole
        if not isinstance(body, Mapping):
            raise TranslationError("the request body is not a JSON object")
        if rec.method == "PATCH" and op.patch_properties:
            body = _renest(body, op.patch_properties)
        if rec.method == "PATCH" and not op.pools and not any(
                has_path(body, p) for p in op.shape.provisioning_paths()):
            return None  # tags, extensions, anything but size and count: not a provisioning change
        if applies(op.shape, body) is False:
            return None  # e.g. an Azure ML compute that attaches an existing cluster
        found = (_Pools if op.pools else _Single)(rec, fetch, accelerated).items(body)
        if found is None:
            return None
        items, location = found
    except (TranslationError, AmbiguousBodyError) as exc:
        return request((), unresolved=(f"{opname} {rec.path}: {exc}",))
    return request(items, _region(location))


def _found_items(found: Found, accelerated: Accelerated) -> tuple[list[ComputeItem], str]:
    """What one compute resource of a template runs, read with its row's shape (no look-ups: a template
    resource is decided on what the template says)."""
    op, body, where = found.operation, found.body, found.where
    if applies(op.shape, body) is False:
        return [], ""
    bodies: list[tuple[Mapping[str, Any], str]] = [(body, where)]
    if op.pools:
        pools = get_path(body, op.pools)
        if isinstance(pools, Unknown):
            raise TranslationError(f"{where}.{op.pools}: {pools.reason}")
        if pools is None:
            return [], ""
        if not isinstance(pools, list) or not all(isinstance(p, Mapping) for p in pools):
            raise TranslationError(f"{where}.{op.pools} is not a list of objects")
        bodies = [(p, f"{where}.{op.pools}[{n}]") for n, p in enumerate(pools)]
    items: list[ComputeItem] = []
    for one, at in bodies:
        r = _read(op.shape, one, at + ".")
        if not r.sizes:
            raise TranslationError(f"{at} ({op.type}) names no size")
        if any(accelerated(s) for s, _, _ in r.sizes) and (why := _opaque(op.shape, one)):
            raise TranslationError(f"{at}: {why}")
        per = r.count if r.count is not None else (op.shape.default_count if op.shape.counts else 1)
        if per is None:
            raise TranslationError(f"{at} ({op.type}) names no count")
        items += [ComputeItem(instance_type=s, count=per * found.copies, choice=c, path=p) for s, p, c in r.sizes]
    location = get_path(body, "location")
    return items, location if isinstance(location, str) else ""


def translate_template(
    properties: Any,
    *,
    operation: str,
    path: str,
    subscription: str,
    group: str,
    links: Links | None,
    accelerated: Accelerated,
    subject: str | None = None,
    principal: str = "",
) -> tuple[ProvisioningRequest, ...]:
    """The ProvisioningRequests of a deployment's ``properties`` (one per region its compute is in);
    empty when the template writes no compute. What cannot be read is ``unresolved`` (fail closed)."""
    account = (subject or subscription).strip().lower()
    evaluation = evaluate(properties, subscription=subscription, group=group, links=links)
    by_region: dict[str, list[ComputeItem]] = {}
    unresolved = list(evaluation.unresolved)
    for found in evaluation.found:
        try:
            items, location = _found_items(found, accelerated)
        except (TranslationError, AmbiguousBodyError) as exc:
            unresolved.append(str(exc))
            continue
        if items:
            by_region.setdefault(_region(location), []).extend(items)
    if not account and (by_region or unresolved):
        unresolved.append("the deployment names no subscription (management-group or tenant scope): name the "
                          "customer with gatekeeper.acting_for(provider='azure', ...)")

    def request(items: list[ComputeItem], region: str, why: tuple[str, ...]) -> ProvisioningRequest:
        return ProvisioningRequest(provider="azure", account_id=account, items=tuple(items), region=region,
                                   service="Microsoft.Resources", operation=operation, principal=principal,
                                   resource_ids=(path,), unresolved=why)

    out = [request(items, region, ()) for region, items in by_region.items()]
    if unresolved:
        reasons = tuple(f"{operation} {path}: {u}" for u in unresolved)
        out = [request([], "", reasons), *out]
    return tuple(out)
