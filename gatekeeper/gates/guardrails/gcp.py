"""Google Cloud: organization policy custom constraints (CEL) denying controlled machine and accelerator
types, enforced per customer project.

A custom constraint lives on the organization and enforces nothing until a policy names it, so each
distinct set of controlled types becomes constraints (one per resource type, split when a condition
passes :data:`MAX_CONDITION_CHARS`) named by their content, and each customer project gets a policy
enforcing them (a folder holding such projects can take the same policies instead):

    compute.googleapis.com/Instance   resource.machineType, resource.guestAccelerators[].acceleratorType
    container.googleapis.com/NodePool resource.config.machineType, resource.config.accelerators[].acceleratorType

Org policy is evaluated for every caller, service agents included, so a managed instance group or a
GKE autoscaler creating instances is stopped as well. CEL has no clock here: a licence on file is an
exception for its scope (its types are left out) and its expiry takes effect at the next export,
which ``guardrails diff`` shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gatekeeper.catalog import Catalog
from gatekeeper.gates.guardrails._bundle import Artifact, Bundle
from gatekeeper.gates.guardrails._compile import Guard

MAX_CONDITION_CHARS = 1000
MAX_ID_CHARS = 70  # of the constraint id (custom.xxx)
# resource type -> (id tag, machine type field, accelerator list, accelerator type field)
RESOURCES: dict[str, tuple[str, str, str, str]] = {
    "compute.googleapis.com/Instance": ("Vm", "resource.machineType", "resource.guestAccelerators", "acceleratorType"),
    "container.googleapis.com/NodePool": ("Pool", "resource.config.machineType", "resource.config.accelerators",
                                          "acceleratorType"),
}


def patterns(catalog: Catalog, types: tuple[str, ...]) -> list[str]:
    """Regex alternatives: ``a2-.*`` for a family whose every known type is listed, else the escaped name."""
    chosen = set(types)
    families: dict[str, set[str]] = {}
    for t in catalog.types("gcp"):
        families.setdefault(t.name.split("-", 1)[0], set()).add(t.name)
    out = set()
    for name in chosen:
        fam = name.split("-", 1)[0]
        members = families.get(fam, set())
        out.add(f"{re.escape(fam)}-.*" if members and members <= chosen and "-" in name else re.escape(name))
    return sorted(out)


def _alternation(values: list[str]) -> str:
    return "'(^|/)(" + "|".join(values) + ")$'"


def condition(resource: str, machines: list[str], accelerators: list[str]) -> str:
    _, machine_field, acc_list, acc_field = RESOURCES[resource]
    parts = []
    if machines:
        parts.append(f"{machine_field}.matches({_alternation(machines)})")
    if accelerators:
        parts.append(f"{acc_list}.exists(a, a.{acc_field}.matches({_alternation(accelerators)}))")
    return " || ".join(parts)


def _chunks(machines: list[str], accelerators: list[str], resource: str) -> list[tuple[list[str], list[str]]]:
    """Split the lists so that each condition fits in MAX_CONDITION_CHARS (ValueError when one type cannot)."""
    if len(condition(resource, machines, accelerators)) <= MAX_CONDITION_CHARS:
        return [(machines, accelerators)]
    if machines and accelerators:
        return _chunks(machines, [], resource) + _chunks([], accelerators, resource)
    values = machines or accelerators
    if len(values) <= 1:
        raise ValueError(f"{values[0] if values else 'nothing'}: a single type does not fit in a "
                         f"{MAX_CONDITION_CHARS}-character condition")
    half = len(values) // 2
    if machines:
        return _chunks(values[:half], [], resource) + _chunks(values[half:], [], resource)
    return _chunks([], values[:half], resource) + _chunks([], values[half:], resource)


def constraints(guard: Guard, catalog: Catalog, organization: str) -> list[dict[str, Any]]:
    machines = patterns(catalog, guard.denied)
    accelerators = sorted(re.escape(a) for a in guard.denied_accelerators)
    digest = hashlib.sha256(("|".join(machines) + "#" + "|".join(accelerators)).encode()).hexdigest()[:10]
    out = []
    for resource, (tag, *_rest) in RESOURCES.items():
        for n, (m, a) in enumerate(_chunks(machines, accelerators, resource), 1):
            cid = f"custom.gatekeeperDeny{tag}{digest}{n}"
            out.append({
                "name": f"organizations/{organization}/customConstraints/{cid}",
                "resourceTypes": [resource],
                "methodTypes": ["CREATE", "UPDATE"],
                "condition": condition(resource, m, a),
                "actionType": "DENY",
                "displayName": "Gatekeeper: export-controlled AI compute",
                "description": "Compiled by `gatekeeper guardrails export` from the policy packs and the customers "
                               "on file; re-export rather than edit.",
            })
    return out


def policy(parent: str, constraint_name: str) -> dict[str, Any]:
    """The policy enforcing a constraint on ``parent`` (``projects/P`` or ``folders/N``; a bare id is a project)."""
    cid = constraint_name.rsplit("/", 1)[-1]
    where = parent if "/" in parent else f"projects/{parent}"
    return {"name": f"{where}/policies/{cid}", "spec": {"rules": [{"enforce": True}]}}


def _to_folder(bundle: Bundle, folder: str, projects: set[str]) -> None:
    """Enforce on ``folder`` instead of on ``projects`` when they all enforce the same constraints."""
    enforced = {p: {a.content["name"].rsplit("/", 1)[-1] for a in bundle.artifacts
                    if a.kind == "gcp-policy" and a.targets == [p]} for p in projects}
    sets = {frozenset(v) for v in enforced.values()}
    if len(sets) != 1 or not next(iter(sets)):
        bundle.notes.append(f"gcp {folder}: its projects do not all take the same constraints; enforced per project")
        return
    bundle.artifacts[:] = [a for a in bundle.artifacts if not (a.kind == "gcp-policy" and a.targets[0] in projects)]
    for cid in sorted(next(iter(sets))):
        p = policy(folder, cid)
        bundle.artifacts.append(Artifact(p["name"], "gcp-policy", p, [folder]))
    bundle.notes.append(f"gcp {folder}: constraints enforced on the folder instead of {len(projects)} projects")


def build(guards: list[Guard], catalog: Catalog, bundle: Bundle, organization: str,
          folders: Mapping[str, Sequence[str]] | None = None) -> None:
    """Write the constraints and policies of ``guards``; ``folders`` (``folders/N`` -> its projects)
    enforces on a folder when every project in it takes the same constraints."""
    shared: dict[str, Artifact] = {}
    for g in guards:
        if g.exceptions:
            bundle.notes.append(f"gcp {g.account_id}: licence(s) {', '.join(e.licence for e in g.exceptions)} "
                                "left out of the constraints; their expiry takes effect at the next export")
        if not (g.denied or g.denied_accelerators):
            continue
        try:
            made = constraints(g, catalog, organization)
        except ValueError as exc:
            bundle.problems.append(f"gcp {g.account_id} ({g.customer}): {exc}")
            continue
        for c in made:
            art = shared.get(c["name"])
            if art is None:
                art = shared[c["name"]] = Artifact(c["name"].rsplit("/", 1)[-1], "gcp-custom-constraint", c, [],
                                                   len(c["condition"]))
                bundle.artifacts.append(art)
            art.targets.append(g.account_id)
            p = policy(g.account_id, c["name"])
            bundle.artifacts.append(Artifact(p["name"], "gcp-policy", p, [g.account_id]))
    for folder, projects in sorted((folders or {}).items()):
        _to_folder(bundle, folder, set(projects))
