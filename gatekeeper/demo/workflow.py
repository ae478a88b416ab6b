"""Demo section: government permission. A blocked call, a reviewer's approval, the same call going through.

The Singapore customer whose ultimate parent is in China asks for an A100 instance: the request is
held (pending) and a case is opened; the requester cannot approve their own case; a compliance
reviewer approves it, issuing a licence for exactly that quantity; the same call is then allowed and
draws the licence down to zero, so the next one is held again.

Runs through ``Gatekeeper.decide`` with the request the AWS adapter builds for ``ec2.run_instances``
(the boto3 path is shown by the "aws" section and tested in tests/workflow/test_aws_lifecycle.py).
"""

from __future__ import annotations

from datetime import timedelta

from rich.table import Table

from gatekeeper.demo import DemoContext
from gatekeeper.errors import WorkflowError
from gatekeeper.model import ComputeItem, Decision, Outcome, ProvisioningRequest
from gatekeeper.workflow import workflow_of

STYLE = {Outcome.ALLOW: "green", Outcome.FLAG: "yellow", Outcome.PENDING: "magenta", Outcome.DENY: "red"}
REQUESTER = "arn:aws:iam::222222222222:user/ml-platform"
REVIEWER = "export-compliance@provider.example"
LICENCE = "D-2026-104117"


def _show(ctx: DemoContext, label: str, d: Decision) -> None:
    ctx.console.print(f"{label}: [bold {STYLE[d.outcome]}]{d.outcome.label.upper()}[/]"
                      + (f"  licence [bold]{d.licence_id}[/]" if d.licence_id else "")
                      + (f"  case [bold]{d.case_id}[/]" if d.case_id else ""))
    for reason in d.reasons:
        ctx.console.print(f"  - {reason}", highlight=False)


def run(ctx: DemoContext) -> None:
    ctx.section("Government permission in detail: separation of duties, a licence used up")
    provider, account = ctx.accounts["sg_cn_parent"]
    gk, wf = ctx.gk, workflow_of(ctx.gk)
    call = ProvisioningRequest(provider=provider, account_id=account, items=(ComputeItem("p4d.24xlarge", 1),),
                               region="ap-southeast-1", service="ec2", operation="RunInstances",
                               principal=REQUESTER, source="sdk")

    first = gk.decide(call)
    _show(ctx, "a) ec2.run_instances(p4d.24xlarge)", first)
    if first.outcome != Outcome.PENDING or first.case_id is None:
        ctx.console.print("[red]expected a pending decision with a case; stopping this section[/]")
        return
    case = wf.get_case(first.case_id)
    t = Table(title=f"case {case.case_id}: what the reviewer sees", show_header=False)
    p = case.profile
    t.add_row("customer", f"{case.customer} ({case.provider} {case.account_id})")
    t.add_row("countries", f"location {p['country']}, headquarters {p['headquarters_country']}, "
                           f"ultimate parent {p['ultimate_parent_country']}")
    totals = case.totals()
    for a in totals.chips:
        t.add_row("accelerators", f"{a.model} ({a.export_class}, TPP {a.tpp or 0:,.0f}, PD {a.pd or 0:g})")
    t.add_row("requested", totals.describe())
    for r in case.rules():
        t.add_row("legal basis", r.citation)
    ctx.console.print(t)

    expires = wf.today() + timedelta(days=365)
    try:
        wf.approve(case.case_id, reviewer=REQUESTER, licence_number=LICENCE, expires=expires)
    except WorkflowError as exc:
        ctx.console.print(f"b) the requester tries to approve it: [red]refused[/]: {exc}", highlight=False)
    # Exactly one call's worth (8 A100s), so that the demo also shows the licence running out.
    _, licence = wf.approve(case.case_id, reviewer=REVIEWER, licence_number=LICENCE, expires=expires, quantity=8,
                            conditions="end use: model training in Singapore; no re-export")
    assert licence is not None  # approvals_required = 1 in the demo configuration
    ctx.console.print(f"c) {REVIEWER} approves: licence [bold]{licence.number}[/] for {licence.customer}: "
                      f"{licence.scope.describe()}, {licence.quantity:g} accelerators, valid "
                      f"{licence.valid_from} to {licence.valid_until}", highlight=False)

    _show(ctx, "d) the same call again", gk.decide(call))
    _show(ctx, "e) and once more (the licence is used up)", gk.decide(call))
    ctx.console.print(f"[dim]Review with: gatekeeper cases list --config {ctx.config_path}; "
                      f"gatekeeper licences show {licence.number} --config {ctx.config_path}; "
                      f"gatekeeper cases export {case.case_id} --config {ctx.config_path}[/]")
