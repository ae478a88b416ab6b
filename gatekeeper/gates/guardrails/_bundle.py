"""An export: the guards compiled for one cloud and the artifacts that carry them, written and diffed.

``export`` writes ``DIR/<cloud>/manifest.json`` (everything, the input of ``guardrails diff``) and one
file per artifact (``DIR/<cloud>/<name>.json``), the exact documents ``--apply`` puts in place, for a
reviewer or for the organisation's own pipeline (Terraform's ``aws_organizations_policy``,
``azurerm_policy_definition``, ``google_org_policy_custom_constraint`` take them as they are).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.errors import InvalidInputError
from gatekeeper.gates.guardrails._compile import Guard

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass
class Artifact:
    name: str
    kind: str  # scp, azure-policy-definition, azure-policy-assignment, gcp-custom-constraint, gcp-policy
    content: dict[str, Any]
    targets: list[str]  # account ids, subscription ids, projects
    size: int = 0  # characters, where the cloud limits it


@dataclass
class Bundle:
    cloud: str
    on: str  # the day the packs were evaluated for (ISO)
    catalog_as_of: str
    guards: list[Guard] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)  # operations no guardrail can bound by type
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # limits the guardrail cannot meet

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "cloud": self.cloud, "on": self.on, "catalog_as_of": self.catalog_as_of,
            "guards": [_guard_dict(g) for g in self.guards],
            "artifacts": [asdict(a) for a in self.artifacts],
            "uncovered": self.uncovered, "notes": self.notes, "problems": self.problems,
        }


def _guard_dict(g: Guard) -> dict[str, Any]:
    return {"provider": g.provider, "account_id": g.account_id, "customer": g.customer, "denied": list(g.denied),
            "denied_accelerators": list(g.denied_accelerators), "rules": list(g.rules),
            "exceptions": [{"licence": e.licence, "types": list(e.types), "accelerators": list(e.accelerators),
                            "since": e.since.isoformat(), "until": e.until.isoformat(), "regions": list(e.regions)}
                           for e in g.exceptions],
            "regional": [{"regions": list(r.regions), "types": list(r.types), "unknown": r.unknown}
                         for r in g.regional]}


def write(bundle: Bundle, out: Path) -> Path:
    """Write the bundle under ``out/<cloud>/`` (replacing an earlier export's files); returns that folder."""
    folder = out / bundle.cloud
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for a in bundle.artifacts:
        (folder / f"{a.name.replace('/', '_')}.json").write_text(json.dumps(a.content, indent=2) + "\n",
                                                                 encoding="utf-8")
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(bundle.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)  # the manifest last: a half-written export has none
    return folder


def read_manifest(out: Path, cloud: str) -> dict[str, Any] | None:
    """The last export's manifest for ``cloud`` under ``out``, or None when there is none."""
    path = out / cloud / MANIFEST
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a guardrails manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("cloud") != cloud:
        raise InvalidInputError(f"{path}: not a gatekeeper guardrails manifest for {cloud}")
    return doc


def _denied(guard: dict[str, Any] | None) -> set[str]:
    """Everything a guard denies, a regional type as ``TYPE in REGION`` (``outside known regions``)."""
    if guard is None:
        return set()
    out = set(guard["denied"] + guard["denied_accelerators"])
    for r in guard.get("regional", []):
        where = ["outside known regions"] if r["unknown"] else r["regions"]
        out |= {f"{t} in {w}" for t in r["types"] for w in where}
    return out


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """What changes from ``old`` (a manifest, None: nothing exported yet) to ``new``.

    Per customer: types newly denied or no longer denied, licence exceptions granted or gone; per
    artifact: added, removed, changed (content or targets).
    """
    before = {g["account_id"]: g for g in (old or {}).get("guards", [])}
    after = {g["account_id"]: g for g in new["guards"]}
    customers = []
    for acct in sorted(set(before) | set(after)):
        b, a = before.get(acct), after.get(acct)
        bd = _denied(b)
        ad = _denied(a)
        bl = {e["licence"]: e for e in b["exceptions"]} if b else {}
        al = {e["licence"]: e for e in a["exceptions"]} if a else {}
        change = {
            "account_id": acct, "customer": (a or b or {}).get("customer", ""),
            "newly_denied": sorted(ad - bd), "no_longer_denied": sorted(bd - ad),
            "licences_added": sorted(set(al) - set(bl)), "licences_removed": sorted(set(bl) - set(al)),
            "licences_changed": sorted(k for k in set(al) & set(bl) if al[k] != bl[k]),
        }
        if any(v for k, v in change.items() if k not in ("account_id", "customer")):
            customers.append(change)
    ob = {a["name"]: a for a in (old or {}).get("artifacts", [])}
    nb = {a["name"]: a for a in new["artifacts"]}
    artifacts = {
        "added": sorted(set(nb) - set(ob)),
        "removed": sorted(set(ob) - set(nb)),
        "changed": sorted(n for n in set(nb) & set(ob) if nb[n]["content"] != ob[n]["content"]
                          or sorted(nb[n]["targets"]) != sorted(ob[n]["targets"])),
    }
    return {"cloud": new["cloud"], "previous_export": (old or {}).get("on"), "customers": customers,
            "artifacts": artifacts, "changed": bool(customers or any(artifacts.values()))}
