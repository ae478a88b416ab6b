"""Remediation planning: a pure function from (decision, resources, settings) to the actions to take.

The detective hooks see provisioning that bypassed the SDK adapters (the console, another SDK,
Terraform) after it happened; what they can still do is put it right. What "right" is depends on the
decision and on configuration (``[hooks]``: ``on_flag``, ``on_pending``, ``on_deny``, ``on_error``):

    none       nothing
    tag        tag the resource with the decision (``gatekeeper:decision``, ``gatekeeper:decision-id``,
               ``gatekeeper:case-id``)
    stop       tag, then stop what runs: stop an instance, stop a job, scale a group or node group to zero,
               deallocate a VM, cancel a spot request
    terminate  tag, then remove it: terminate an instance, delete a group or node group or VM

What ``stop`` and ``terminate`` mean for each kind of resource is data (``KINDS``); a kind for which a
verb means nothing (a launch template cannot be stopped) falls back to the strongest verb below it.
Shadow mode (``mode = "shadow"``: decide and audit, never block) only ever tags.

Planning does no I/O, so that ``gatekeeper hooks test EVENT.json`` shows exactly what the hook would
do; executing the plan is the provider modules' job (``_aws_actions``, ``azure_function``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gatekeeper.model import Decision, Outcome

if TYPE_CHECKING:  # annotations only: importing the hook module does not import pydantic
    from gatekeeper.config import HooksConfig

TAG_DECISION = "gatekeeper:decision"
TAG_DECISION_ID = "gatekeeper:decision-id"
TAG_CASE_ID = "gatekeeper:case-id"

VERBS = ("none", "tag", "stop", "terminate")
_RANK = {v: i for i, v in enumerate(VERBS)}


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource the event created or changed.

    ``kind`` names the provider type (``ec2:instance``, ``azure:virtual-machine``); ``id`` is what
    the provider's API takes (an instance id, a group name, an ARM resource id); ``parent`` is the
    containing resource when the API needs it (an EKS cluster, a launch template of a version).
    """

    kind: str
    id: str
    region: str = ""
    arn: str = ""
    parent: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "id": self.id}
        for k in ("region", "arn", "parent"):
            v = getattr(self, k)
            if v:
                out[k] = v
        return out

    def describe(self) -> str:
        inside = f" in {self.parent}" if self.parent else ""
        return f"{self.kind} {self.id}{inside}"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What ``stop`` and ``terminate`` do to one kind of resource ("" when nothing applies)."""

    stop: str = ""
    terminate: str = ""
    taggable: bool = True
    note: str = ""


# Provider resource kinds -> the concrete action of each verb. Action names are also the audit kinds
# (``remediation.<action>``) and the keys of the executors' tables.
KINDS: Mapping[str, KindSpec] = {
    # AWS
    "ec2:instance": KindSpec(stop="stop", terminate="terminate"),
    "ec2:fleet": KindSpec(stop="delete_keep_instances", terminate="delete",
                          note="its instances are remediated as instances"),
    "ec2:spot-request": KindSpec(stop="cancel", terminate="cancel",
                                 note="instances it launches later arrive as state-change events"),
    "ec2:spot-fleet-request": KindSpec(stop="cancel", terminate="cancel_and_terminate"),
    "ec2:launch-template": KindSpec(terminate="delete", note="a template runs nothing; stop tags it only"),
    "ec2:launch-template-version": KindSpec(terminate="delete", taggable=False,
                                            note="tags go on its template"),
    "ec2:capacity-reservation": KindSpec(stop="cancel", terminate="cancel"),
    "ec2:capacity-reservation-fleet": KindSpec(stop="cancel", terminate="cancel"),
    "ec2:capacity-block": KindSpec(note="a Capacity Block cannot be cancelled; launches into it are decided as "
                                        "launches"),
    "ec2:host": KindSpec(stop="release", terminate="release",
                         note="a host with instances on it is released once they are stopped"),
    "autoscaling:launch-configuration": KindSpec(terminate="delete", taggable=False,
                                                 note="a configuration runs nothing and takes no tags; groups "
                                                      "using it are decided as groups"),
    "autoscaling:group": KindSpec(stop="scale_to_zero", terminate="delete"),
    "sagemaker:training-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:processing-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:transform-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:notebook-instance": KindSpec(stop="stop", terminate="stop",
                                            note="a notebook can only be deleted once stopped"),
    "sagemaker:endpoint-config": KindSpec(terminate="delete", note="a configuration runs nothing"),
    "sagemaker:endpoint": KindSpec(stop="delete", terminate="delete", note="an endpoint has no stop"),
    "sagemaker:tuning-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:optimization-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:inference-recommendations-job": KindSpec(stop="stop", terminate="stop"),
    "sagemaker:monitoring-schedule": KindSpec(stop="stop", terminate="delete"),
    "sagemaker:cluster": KindSpec(terminate="delete", note="a HyperPod cluster has no stop: tagged, or deleted"),
    "sagemaker:training-plan": KindSpec(note="a training plan cannot be cancelled; jobs using it are decided"),
    "sagemaker:job-definition": KindSpec(note="a definition runs nothing; its schedules are decided"),
    "sagemaker:domain": KindSpec(note="defaults run nothing; apps created from them are decided"),
    "sagemaker:space": KindSpec(note="defaults run nothing; apps created from them are decided"),
    "sagemaker:app": KindSpec(note="deleting an app needs its type and owner, which the record may not name"),
    "ecs:capacity-provider": KindSpec(note="its Auto Scaling group and instances are decided as such"),
    "emr:instance-group": KindSpec(stop="resize_to_zero", terminate="resize_to_zero", taggable=False,
                                   note="EMR tags clusters, not groups; a core group keeps its minimum"),
    "eks:nodegroup": KindSpec(stop="scale_to_zero", terminate="delete"),
    "batch:compute-environment": KindSpec(stop="disable", terminate="delete"),
    # EMR has no stop: a cluster can only be terminated (documented in docs/hooks.md).
    "emr:cluster": KindSpec(stop="terminate", terminate="terminate"),
    # CloudFormation: what a stack launches is also decided resource by resource as it launches.
    "cloudformation:stack": KindSpec(stop="delete", terminate="delete", taggable=False,
                                     note="a new stack is deleted with its resources"),
    "cloudformation:stack-update": KindSpec(stop="cancel_update", terminate="cancel_update", taggable=False,
                                            note="an update in progress is cancelled and rolled back"),
    "cloudformation:change-set": KindSpec(stop="delete", terminate="delete", taggable=False,
                                          note="the change set is deleted before anyone executes it"),
    "cloudformation:stack-set": KindSpec(taggable=False, note="stack instances are decided as their stacks"),
    # Azure
    "azure:virtual-machine": KindSpec(stop="deallocate", terminate="delete"),
    "azure:scale-set": KindSpec(stop="scale_to_zero", terminate="delete"),
    "azure:agent-pool": KindSpec(stop="scale_to_zero", terminate="delete"),
    # Scale-set VMs take their tags from the scale set; Batch pools have none in ARM.
    "azure:scale-set-vm": KindSpec(stop="deallocate", terminate="delete", taggable=False),
    "azure:batch-pool": KindSpec(stop="scale_to_zero", terminate="delete", taggable=False),
    # An AmlCompute cluster is scaled to zero nodes; a ComputeInstance is stopped (the executor tells them apart).
    "azure:ml-compute": KindSpec(stop="scale_to_zero", terminate="delete"),
    "azure:capacity-reservation": KindSpec(stop="scale_to_zero", terminate="delete"),
    # Google Cloud (labels where the resource has them: instances; the others are acted on only)
    "gcp:instance": KindSpec(stop="stop", terminate="delete"),
    "gcp:instance-template": KindSpec(terminate="delete", taggable=False,
                                      note="a template runs nothing; groups using it are decided as groups"),
    "gcp:bulk-insert": KindSpec(taggable=False, note="the entry names no instance; the instances it creates are "
                                                     "found by its name pattern and remediated as instances"),
    "gcp:instance-group": KindSpec(stop="scale_to_zero", terminate="delete", taggable=False),
    "gcp:reservation": KindSpec(stop="delete", terminate="delete", taggable=False,
                                note="a reservation holds capacity while it exists"),
    "gcp:future-reservation": KindSpec(stop="delete", terminate="delete", taggable=False),
    "gcp:node-pool": KindSpec(stop="scale_to_zero", terminate="delete", taggable=False),
    "gcp:tpu-node": KindSpec(stop="stop", terminate="delete", taggable=False),
    "gcp:queued-resource": KindSpec(stop="delete", terminate="delete", taggable=False),
    "gcp:custom-job": KindSpec(stop="cancel", terminate="cancel", taggable=False),
    "gcp:tuning-job": KindSpec(stop="cancel", terminate="cancel", taggable=False),
    "gcp:persistent-resource": KindSpec(stop="delete", terminate="delete", taggable=False),
    "gcp:deployed-model": KindSpec(stop="undeploy", terminate="undeploy", taggable=False,
                                   note="a deployment still in progress is cancelled (best effort, as every "
                                        "long-running operation's cancel); a finished one is undeployed"),
    "azure:dedicated-host": KindSpec(terminate="delete", note="a host cannot be stopped: stop tags it; its VMs "
                                                              "are remediated as VMs"),
}


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a remediation plan: ``action`` (``tag``, ``stop``, ...) on ``resource``."""

    action: str
    verb: str
    resource: Resource
    tags: tuple[tuple[str, str], ...] = ()
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "verb": self.verb, "resource": self.resource.as_dict()}
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.note:
            out["note"] = self.note
        return out

    def describe(self) -> str:
        what = self.action.replace("_", " ")
        tags = f" ({', '.join(f'{k}={v}' for k, v in self.tags)})" if self.tags else ""
        return f"{what} {self.resource.describe()}{tags}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The verb chosen for the decision and the actions that carry it out."""

    verb: str
    reason: str
    actions: tuple[Action, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"verb": self.verb, "reason": self.reason, "actions": [a.as_dict() for a in self.actions]}


def choose_verb(decision: Decision, hooks: HooksConfig) -> tuple[str, str]:
    """The configured verb for this decision, and why."""
    outcome = decision.outcome
    if outcome == Outcome.ALLOW:
        return "none", "allowed"
    if decision.error or _only_unresolved(decision):
        # A decision gatekeeper could not make (an error, or compute it could not determine) is denied
        # fail-closed; the hook still fails closed, but with the (reversible) action configured for
        # errors rather than the one for real denials.
        what = decision.error or "; ".join(decision.request.unresolved)
        verb, why = hooks.on_error, f"gatekeeper could not decide ({what}); on_error = {hooks.on_error}"
    elif outcome == Outcome.FLAG:
        verb, why = hooks.on_flag, f"flagged; on_flag = {hooks.on_flag}"
    elif outcome == Outcome.PENDING:
        verb, why = hooks.on_pending, f"pending a licence; on_pending = {hooks.on_pending}"
    else:
        verb, why = hooks.on_deny, f"denied; on_deny = {hooks.on_deny}"
    if decision.mode == "shadow" and _RANK[verb] > _RANK["tag"]:
        return "tag", f"{why}; shadow mode only tags"
    return verb, why


def _only_unresolved(decision: Decision) -> bool:
    """True when the outcome comes from the fail-closed rule for unresolved compute, not from a policy."""
    from gatekeeper.engine import UNRESOLVED_RULE

    if not decision.request.unresolved:
        return False
    policy = max((m.outcome for m in decision.matches if m.rule_id != UNRESOLVED_RULE), default=Outcome.ALLOW)
    return policy < decision.outcome


def decision_tags(decision: Decision) -> tuple[tuple[str, str], ...]:
    tags = [(TAG_DECISION, decision.outcome.label), (TAG_DECISION_ID, decision.decision_id)]
    if decision.case_id:
        tags.append((TAG_CASE_ID, decision.case_id))
    return tuple(tags)


def plan_remediation(decision: Decision, resources: tuple[Resource, ...], hooks: HooksConfig) -> Plan:
    """The actions the hook takes for ``decision`` on ``resources``: pure, deterministic, no I/O.

    Tags come first (they survive a stop and tell the owner why), then the stop or terminate action.
    A verb that means nothing for a kind falls back to the next weaker one (a launch template that
    should be stopped is tagged).
    """
    verb, reason = choose_verb(decision, hooks)
    if verb == "none":
        return Plan(verb, reason)
    tags = decision_tags(decision)
    actions: list[Action] = []
    tagged_parents: set[str] = set()
    for res in resources:
        spec = KINDS.get(res.kind)
        if spec is None:
            actions.append(Action("unsupported", verb, res, note=f"no remediation known for {res.kind}"))
            continue
        if spec.taggable:
            actions.append(Action("tag", verb, res, tags))
        elif res.parent and res.parent not in tagged_parents and res.kind == "ec2:launch-template-version":
            tagged_parents.add(res.parent)
            actions.append(Action("tag", verb, Resource("ec2:launch-template", res.parent, res.region), tags,
                                  note=spec.note))
        strong = spec.terminate if verb == "terminate" else spec.stop if verb == "stop" else ""
        if verb == "terminate" and not strong:
            strong = spec.stop
        if strong:
            actions.append(Action(strong, verb, res, note=spec.note))
    return Plan(verb, reason, tuple(actions))
