"""``guardrails export --apply``: put a bundle in place through each cloud's own SDK (opt-in).

Order matters for a guardrail: everything new is created and attached before anything old is
detached or deleted, so there is no moment without one. What the previous export (its manifest)
had and this one has not is removed; resources not named by gatekeeper are never touched.

- AWS: AWS Organizations (``create_policy`` / ``attach_policy`` / ``detach_policy`` /
  ``delete_policy``), with the management account's credentials.
- Azure: ``azure-mgmt-resource-policy``'s ``PolicyClient`` per customer subscription
  (definition, then assignments).
- Google Cloud: ``google-cloud-org-policy``'s ``OrgPolicyClient`` (custom constraints on the
  organization, then the projects' policies).

Each returns the list of changes it made, for the report and the audit log; a change that failed
(an account on file that is not in the organization) is a line starting with :data:`ERROR`, the
others still go ahead, and the command exits with an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatekeeper.gates.guardrails._bundle import Bundle

POLICY_TYPE = "SERVICE_CONTROL_POLICY"
ERROR = "error: "  # a line of the change list that failed (the others still went ahead)


def _old(previous: dict[str, Any] | None, kind: str) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in (previous or {}).get("artifacts", []) if a["kind"] == kind}


def apply_aws(bundle: Bundle, client: Any, previous: dict[str, Any] | None = None) -> list[str]:
    """``client``: a boto3 ``organizations`` client of the management account."""
    from botocore.exceptions import ClientError

    from gatekeeper.gates.guardrails.aws import POLICY_PREFIX, compact

    done: list[str] = []
    existing: dict[str, str] = {}
    for page in client.get_paginator("list_policies").paginate(Filter=POLICY_TYPE):
        for p in page["Policies"]:
            if p["Name"].startswith(POLICY_PREFIX):
                existing[p["Name"]] = p["Id"]
    wanted = [a for a in bundle.artifacts if a.kind == "scp"]
    for art in wanted:
        pid = existing.get(art.name)
        if pid is None:  # names carry the content's digest: an existing one is identical
            pid = client.create_policy(Content=compact(art.content), Name=art.name, Type=POLICY_TYPE,
                                       Description="gatekeeper: export-controlled AI compute")["Policy"][
                "PolicySummary"]["Id"]
            done.append(f"created SCP {art.name} ({pid})")
        attached = {t["TargetId"] for t in client.list_targets_for_policy(PolicyId=pid)["Targets"]}
        for target in sorted(set(art.targets) - attached):
            try:
                client.attach_policy(PolicyId=pid, TargetId=target)
            except ClientError as exc:  # an account on file that is not in this organization
                done.append(f"{ERROR}{art.name} not attached to {target}: {exc.response['Error'].get('Code')}")
                continue
            done.append(f"attached {art.name} to {target}")
        for target in sorted(attached - set(art.targets)):
            client.detach_policy(PolicyId=pid, TargetId=target)
            done.append(f"detached {art.name} from {target}")
    names = {a.name for a in wanted}
    stale = set(_old(previous, "scp")) | set(existing)
    for name in sorted(stale - names):
        pid = existing.get(name)
        if pid is None:
            continue
        for t in client.list_targets_for_policy(PolicyId=pid)["Targets"]:
            client.detach_policy(PolicyId=pid, TargetId=t["TargetId"])
        client.delete_policy(PolicyId=pid)
        done.append(f"deleted SCP {name}")
    return done


def apply_azure(bundle: Bundle, client_for: Callable[[str], Any], previous: dict[str, Any] | None = None) -> list[str]:
    """``client_for(subscription)``: an ``azure.mgmt.resource.policy.PolicyClient`` for that subscription."""
    from azure.mgmt.resource.policy.models import PolicyAssignment, PolicyDefinition

    done: list[str] = []
    definitions = [a for a in bundle.artifacts if a.kind == "azure-policy-definition"]
    assignments = [a for a in bundle.artifacts if a.kind == "azure-policy-assignment"]
    for d in definitions:
        for sub in d.targets:
            client_for(sub).policy_definitions.create_or_update(d.name, PolicyDefinition(d.content))
            done.append(f"definition {d.name} in subscription {sub}")
    for a in assignments:
        sub = a.targets[0]
        name = a.content["name"]
        client_for(sub).policy_assignments.create(f"/subscriptions/{sub}", name,
                                                  PolicyAssignment(a.content))
        done.append(f"assignment {name} in subscription {sub}")
    current = {a.name for a in assignments}
    for name, old in sorted(_old(previous, "azure-policy-assignment").items()):
        if name not in current:
            sub = old["targets"][0]
            client_for(sub).policy_assignments.delete(f"/subscriptions/{sub}", old["content"]["name"])
            done.append(f"removed assignment {old['content']['name']} from subscription {sub}")
    return done


def apply_gcp(bundle: Bundle, client: Any, previous: dict[str, Any] | None = None) -> list[str]:
    """``client``: a ``google.cloud.orgpolicy_v2.OrgPolicyClient`` with rights on the organization."""
    from google.api_core.exceptions import Conflict, NotFound
    from google.cloud.orgpolicy_v2 import types

    done: list[str] = []
    for a in (x for x in bundle.artifacts if x.kind == "gcp-custom-constraint"):
        c = a.content
        constraint = types.CustomConstraint(
            name=c["name"], resource_types=c["resourceTypes"], method_types=c["methodTypes"],
            condition=c["condition"], action_type=c["actionType"], display_name=c["displayName"],
            description=c["description"])
        parent = c["name"].split("/customConstraints/")[0]
        try:
            client.create_custom_constraint(parent=parent, custom_constraint=constraint)
            done.append(f"created constraint {a.name}")
        except Conflict:  # ALREADY_EXISTS (409; gRPC raises AlreadyExists, a Conflict)
            client.update_custom_constraint(custom_constraint=constraint)
            done.append(f"updated constraint {a.name}")
    for a in (x for x in bundle.artifacts if x.kind == "gcp-policy"):
        policy = types.Policy(name=a.content["name"], spec=types.PolicySpec(
            rules=[types.PolicySpec.PolicyRule(enforce=True)]))
        parent = a.content["name"].split("/policies/")[0]
        try:
            client.create_policy(parent=parent, policy=policy)
            done.append(f"enforced {a.name}")
        except Conflict:  # ALREADY_EXISTS (409; gRPC raises AlreadyExists, a Conflict)
            client.update_policy(policy=policy)
            done.append(f"re-enforced {a.name}")
    current = {a.name for a in bundle.artifacts}
    deleters = (("gcp-policy", client.delete_policy), ("gcp-custom-constraint", client.delete_custom_constraint))
    for kind, delete in deleters:
        for name, old in sorted(_old(previous, kind).items()):
            if name not in current:
                try:
                    delete(name=old["content"]["name"])
                    done.append(f"removed {old['content']['name']}")
                except NotFound:
                    pass
    return done
