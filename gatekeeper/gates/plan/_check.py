"""``plan check``: every compute resource of a plan decided through the one engine, before apply.

Each resource that can carry an accelerator becomes one ProvisioningRequest (its items read by
:mod:`._extract`, its subject by :mod:`._subject`, the operation of the provider spec row that creates
the same thing through an SDK) and is decided by ``Gatekeeper.decide``: audited as source ``plan``, a
pending decision opening or joining a case as any other request does, unless ``dry_run``.

A resource that cannot be decided (no subject, a malformed count) is an error finding: the report's
exit status is then an error, never an allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gatekeeper.errors import GatekeeperError
from gatekeeper.gates.plan._extract import extract
from gatekeeper.gates.plan._reader import Plan, PlanResource
from gatekeeper.gates.plan._subject import SubjectError, subject_for
from gatekeeper.gates.plan._types import RESOURCE_TYPES
from gatekeeper.model import Decision, Outcome, ProvisioningRequest

if TYPE_CHECKING:
    from gatekeeper.service import Gatekeeper

SOURCE = "plan"


@dataclass(frozen=True, slots=True)
class Finding:
    """One planned resource and what was decided about it (``decision``) or why it could not be (``error``)."""

    address: str
    type: str
    provider: str
    account_id: str
    operation: str  # service:operation of the spec row
    decision: Decision | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()  # values unknown until apply, subject source, counts

    @property
    def outcome(self) -> str:
        return self.decision.outcome.label if self.decision is not None else "error"


@dataclass(frozen=True, slots=True)
class PlanReport:
    source: str
    terraform_version: str
    findings: tuple[Finding, ...]
    ignored: int  # resources of types that run no compute
    dry_run: bool = False

    @property
    def worst(self) -> Outcome | None:
        """The most restrictive decision (None when nothing was decided)."""
        decided = [f.decision.outcome for f in self.findings if f.decision is not None]
        return max(decided) if decided else None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.error is not None)

    def counts(self) -> dict[str, int]:
        out = {"allow": 0, "flag": 0, "pending": 0, "deny": 0, "error": 0}
        for f in self.findings:
            out[f.outcome] += 1
        return out


def check_plan(gk: Gatekeeper, plan: Plan, *, given: dict[str, str] | None = None, principal: str = "",
               dry_run: bool = False) -> PlanReport:
    """Decide every compute resource the plan creates or changes. ``given``: provider -> account id."""
    findings: list[Finding] = []
    ignored = 0
    for res in plan.resources:
        row = RESOURCE_TYPES.get(res.type)
        if row is None or not res.provisions:
            ignored += 1
            continue
        findings.append(_decide(gk, plan, res, given or {}, principal or f"plan:{plan.source}", dry_run))
    return PlanReport(plan.source, plan.terraform_version, tuple(findings), ignored, dry_run)


def _decide(gk: Gatekeeper, plan: Plan, res: PlanResource, given: dict[str, str], principal: str,
            dry_run: bool) -> Finding:
    row = RESOURCE_TYPES[res.type]
    op = f"{row.operation[0]}:{row.operation[1]}"
    try:
        subject = subject_for(plan, res, row.provider, given)
    except SubjectError as exc:
        return Finding(res.address, res.type, row.provider, "", op, error=f"no subject: {exc}")
    try:
        ex = extract(plan, res, gk.catalog, subject.region)
    except GatekeeperError as exc:
        return Finding(res.address, res.type, row.provider, subject.account_id, op, error=str(exc))
    request = ProvisioningRequest(
        provider=row.provider, account_id=subject.account_id, items=ex.items, region=ex.region,
        service=row.operation[0], operation=row.operation[1], principal=principal, source=SOURCE,
        resource_ids=(res.address,))
    decision = gk.decide(request, dry_run=dry_run)
    notes = (f"subject from {subject.found_in}", *ex.unknown)
    if not ex.items:
        notes += ("names no machine type gatekeeper reads (nothing accelerated)",)
    return Finding(res.address, res.type, row.provider, subject.account_id, op, decision, decision.error, notes)
