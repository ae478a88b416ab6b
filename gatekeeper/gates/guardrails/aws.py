"""AWS: service control policies denying controlled instance types, per customer account.

The actions are every operation of the AWS provider spec, as IAM actions (``ec2:RunInstances``,
``autoscaling:CreateAutoScalingGroup``, ``sagemaker:CreateTrainingJob`` ...). A deny names instance
types through the condition key its service authorises them with:

    ec2          ec2:InstanceType             (single-valued: StringLike)
    autoscaling  autoscaling:InstanceTypes    (multi-valued: ForAnyValue:StringLike)
    sagemaker    sagemaker:InstanceTypes      (multi-valued, ``ml.`` names)

AWS evaluates a key only where the request carries it (an action of the list that names no type is
not bounded; SCPs do not reach service-linked roles, so a group's later launches are stopped at the
group's creation). Services with no such key (EKS, Batch, EMR, CloudFormation, ECS) cannot be
bounded by type in an SCP; their operations are listed as ``uncovered`` in the export (the wrapper and the hooks decide
them), rather than denied wholesale. Resource control policies do not fit: they govern access to
resources of S3, STS, SQS, KMS and Secrets Manager, not the creation of compute.

Sizes: an SCP is at most :data:`MAX_SCP_CHARS` characters (whitespace included, so the JSON is
written compact), and an account or OU takes at most :data:`MAX_SCPS_PER_TARGET` SCPs, one of which is
usually ``FullAWSAccess``. Families whose every known size is controlled are written ``p4d.*`` (which
also covers a size the catalog does not list yet); when the statements still do not fit, they are
split over several policies and the split is reported; past the per-target limit it is a problem.

A licence on file is an exception for its scope: its types are denied only before it is valid,
after it expires (``aws:CurrentTime``) and outside its regions (``aws:RequestedRegion``). Types
controlled only in some regions (a controlled destination, a region gatekeeper does not know) are
denied there (``aws:RequestedRegion`` equal to those, or outside every known region).
Identical policies are shared: a policy is named by its content and lists every account it targets,
so an organisation can attach it to an OU holding those accounts instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from gatekeeper.catalog import Catalog
from gatekeeper.gates.guardrails._bundle import Artifact, Bundle
from gatekeeper.gates.guardrails._compile import Guard

MAX_SCP_CHARS = 5120
MAX_SCPS_PER_TARGET = 5
OURS_PER_TARGET = MAX_SCPS_PER_TARGET - 1  # FullAWSAccess (or the organisation's allow list) stays
POLICY_PREFIX = "gatekeeper-export-control-"
# Service name (botocore) -> IAM action prefix where they differ.
IAM_PREFIXES = {"emr": "elasticmapreduce"}
# IAM prefix -> (condition key, multi-valued, how the service spells an EC2 type).
CONDITION_KEYS: dict[str, tuple[str, bool, str]] = {
    "ec2": ("ec2:InstanceType", False, ""),
    "autoscaling": ("autoscaling:InstanceTypes", True, ""),
    "sagemaker": ("sagemaker:InstanceTypes", True, "ml."),
}


def iam_action(service: str, operation: str) -> str:
    return f"{IAM_PREFIXES.get(service, service)}:{operation}"


def actions_by_key(operations: Iterable[tuple[str, str]]) -> tuple[dict[str, list[str]], list[str]]:
    """The spec's operations as IAM actions grouped by IAM prefix with a key, and those without one."""
    covered: dict[str, list[str]] = {}
    uncovered: list[str] = []
    for service, op in operations:
        prefix = IAM_PREFIXES.get(service, service)
        (covered.setdefault(prefix, []) if prefix in CONDITION_KEYS else uncovered).append(iam_action(service, op))
    return ({p: sorted(set(a)) for p, a in sorted(covered.items())}, sorted(set(uncovered)))


def patterns(catalog: Catalog, types: Iterable[str]) -> list[str]:
    """Instance types, with ``family.*`` for a family whose every known size is in ``types``."""
    chosen = set(types)
    by_family: dict[str, set[str]] = {}
    for t in catalog.types("aws"):
        by_family.setdefault(t.name.split(".", 1)[0], set()).add(t.name)
    out: set[str] = set()
    for name in chosen:
        family = name.split(".", 1)[0]
        members = by_family.get(family, set())
        out.add(f"{family}.*" if members and members <= chosen else name)
    return sorted(out)


def _statement(sid: str, actions: list[str], key: str, multi: bool, values: list[str],
               extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    condition: dict[str, dict[str, Any]] = {("ForAnyValue:StringLike" if multi else "StringLike"): {key: values}}
    condition.update(extra or {})
    return {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": "*", "Condition": condition}


def statements(guard: Guard, catalog: Catalog, covered: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The deny statements of one customer's guard (before splitting into policies)."""
    out: list[dict[str, Any]] = []
    groups: list[tuple[str, list[str], dict[str, dict[str, Any]]]] = []
    if guard.denied:
        groups.append(("Controlled", patterns(catalog, guard.denied), {}))
    for n, e in enumerate(guard.exceptions):
        if not e.types:
            continue
        names = sorted(e.types)  # exact names: a licence names what it covers, nothing more
        tag = f"Licence{n}"
        groups.append((f"{tag}Expired", names, {"DateGreaterThan": {
            "aws:CurrentTime": f"{(e.until + timedelta(days=1)).isoformat()}T00:00:00Z"}}))
        groups.append((f"{tag}NotYetValid", names, {"DateLessThan": {
            "aws:CurrentTime": f"{e.since.isoformat()}T00:00:00Z"}}))
        if e.regions:
            groups.append((f"{tag}OutsideRegions", names,
                           {"StringNotEquals": {"aws:RequestedRegion": list(e.regions)}}))
    for n, rg in enumerate(guard.regional):
        op = "StringNotEquals" if rg.unknown else "StringEquals"  # unknown: outside every known region
        groups.append((f"{'UnknownRegion' if rg.unknown else 'Region'}{n}", patterns(catalog, rg.types),
                       {op: {"aws:RequestedRegion": list(rg.regions)}}))
    for prefix, actions in covered.items():
        key, multi, spelling = CONDITION_KEYS[prefix]
        for tag, names, extra in groups:
            out.append(_statement(f"Gk{prefix.capitalize()}{tag}", actions, key, multi,
                                  [spelling + v for v in names], extra))
    return out


def size(policy: dict[str, Any]) -> int:
    return len(compact(policy))


def compact(policy: dict[str, Any]) -> str:
    return json.dumps(policy, separators=(",", ":"), sort_keys=False)


def _document(stmts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": stmts}


def _fit(stmt: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """``stmt`` as one or more statements each small enough for a policy of its own."""
    if size(_document([stmt])) <= limit:
        return [stmt]
    cond = next(iter(stmt["Condition"].values()))
    key = next(iter(cond))
    values = cond[key]
    if len(values) <= 1:
        raise ValueError(f"statement {stmt['Sid']} cannot fit in {limit} characters")
    half = len(values) // 2
    parts = []
    for i, chunk in enumerate((values[:half], values[half:])):
        s = json.loads(json.dumps(stmt))
        next(iter(s["Condition"].values()))[key] = chunk
        s["Sid"] = f"{stmt['Sid']}{i}"
        parts += _fit(s, limit)
    return parts


def pack(stmts: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Statements packed, in order, into as few policies as fit in ``limit`` characters each."""
    docs: list[list[dict[str, Any]]] = []
    for whole in stmts:
        for s in _fit(whole, limit):
            if docs and size(_document([*docs[-1], s])) <= limit:
                docs[-1].append(s)
            else:
                docs.append([s])
    return [_document(d) for d in docs]


def build(guards: list[Guard], catalog: Catalog, operations: Iterable[tuple[str, str]], bundle: Bundle,
          limit: int | None = None, ous: Mapping[str, Sequence[str]] | None = None) -> None:
    """Write the SCPs of ``guards`` into ``bundle``; ``ous`` (OU id -> its member accounts) attaches a
    policy to an OU instead of its accounts when every member is a customer that takes that policy."""
    limit = limit or MAX_SCP_CHARS
    covered, uncovered = actions_by_key(operations)
    bundle.uncovered = uncovered
    shared: dict[str, Artifact] = {}
    for g in guards:
        try:
            docs = pack(statements(g, catalog, covered), limit)
        except ValueError as exc:
            bundle.problems.append(f"aws {g.account_id} ({g.customer}): {exc}")
            continue
        if len(docs) > 1:
            bundle.notes.append(f"aws {g.account_id} ({g.customer}): split into {len(docs)} SCPs "
                                f"(each at most {limit} characters)")
        if len(docs) > OURS_PER_TARGET:
            bundle.problems.append(f"aws {g.account_id} ({g.customer}): needs {len(docs)} SCPs, more than the "
                                   f"{OURS_PER_TARGET} an account takes besides FullAWSAccess")
        digest = hashlib.sha256("".join(compact(d) for d in docs).encode()).hexdigest()[:12]
        for n, doc in enumerate(docs, 1):
            name = f"{POLICY_PREFIX}{digest}-{n}"
            art = shared.get(name)
            if art is None:
                art = shared[name] = Artifact(name, "scp", doc, [], size(doc))
                bundle.artifacts.append(art)
            art.targets.append(g.account_id)
    for ou, members in sorted((ous or {}).items()):
        _to_ou(bundle, ou, set(members))


def _to_ou(bundle: Bundle, ou: str, members: set[str]) -> None:
    """Replace ``members`` by ``ou`` in the targets of the policies every member takes."""
    if not members:
        return
    mine = [a for a in bundle.artifacts if a.kind == "scp" and members <= set(a.targets)]
    taken_by_all = {a.name for a in mine}
    partial = [a for a in bundle.artifacts if a.kind == "scp" and a.name not in taken_by_all
               and members & set(a.targets)]
    if not mine or partial:  # the members do not share one set of policies: attach per account
        bundle.notes.append(f"aws OU {ou}: its accounts do not all take the same SCPs; attached per account")
        return
    for a in mine:
        a.targets[:] = [t for t in a.targets if t not in members] + [ou]
    bundle.notes.append(f"aws OU {ou}: {len(mine)} SCP(s) attached to the OU instead of {len(members)} accounts")
