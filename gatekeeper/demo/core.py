"""Demo section: the sample customers' requests across the three clouds, decided by the shipped packs."""

from __future__ import annotations

from rich.table import Table

from gatekeeper.demo import DemoContext
from gatekeeper.model import AttachedAccelerator, ComputeItem, Outcome, ProvisioningRequest

STYLE = {Outcome.ALLOW: "green", Outcome.FLAG: "yellow", Outcome.PENDING: "magenta", Outcome.DENY: "red"}

# (role, cloud, instance type, count, region, attached accelerators)
REQUESTS: tuple[tuple[str, str, str, int, str, tuple[AttachedAccelerator, ...]], ...] = (
    ("us_verified", "aws", "p5.48xlarge", 2, "us-east-1", ()),
    ("us_verified", "aws", "p4d.24xlarge", 1, "cn-north-1", ()),
    ("sg_cn_parent", "aws", "p4d.24xlarge", 1, "ap-southeast-1", ()),
    ("sg_cn_parent", "aws", "ml.g4dn.xlarge", 1, "ap-southeast-1", ()),
    ("sg_cn_parent", "aws", "t3.micro", 4, "ap-southeast-1", ()),
    ("sg_cn_parent", "azure", "STANDARD_ND96ISR_H100_V5", 1, "southeastasia", ()),
    ("sg_cn_parent", "gcp", "n1-standard-8", 1, "asia-southeast1", (AttachedAccelerator("nvidia-tesla-a100", 2),)),
    ("unverified_foreign", "gcp", "a3-highgpu-8g", 1, "southamerica-west1", ()),
    ("unverified_foreign", "aws", "g4dn.xlarge", 1, "sa-east-1", ()),
    ("embargoed", "azure", "Standard_NC4as_T4_v3", 1, "westeurope", ()),
    ("us_verified", "aws", "p9.96xlarge", 1, "us-east-1", ()),
)


def run(ctx: DemoContext) -> None:
    ctx.section("Decisions across AWS, Azure and Google Cloud (what-if)")
    table = Table(show_lines=False)
    for col in ("customer", "cloud", "request", "region", "decision", "why"):
        table.add_column(col, overflow="fold")
    for role, cloud, itype, count, region, attached in REQUESTS:
        account = ctx.accounts_by_cloud[role][cloud]
        request = ProvisioningRequest(
            provider=cloud, account_id=account, items=(ComputeItem(itype, count, attached),), region=region,
            service="demo", operation="Provision", principal="demo", source="cli",
        )
        d = ctx.gk.decide(request, dry_run=True)
        what = f"{count} x {itype}" + "".join(f" + {int(a.count)} x {a.type}" for a in attached)
        why = d.reasons[0] if d.reasons else ("no accelerator" if not d.accelerated else "no rule matched")
        if len(d.matches) > 1:
            more = len(d.matches) - 1
            why += f" [dim](and {more} more rule{'' if more == 1 else 's'}: gatekeeper check --json lists them)[/]"
        name = ctx.gk.profile(cloud, account).legal_name or account
        table.add_row(name, cloud, what, region,
                      f"[{STYLE[d.outcome]}]{d.outcome.label}[/]", why)
    ctx.console.print(table)
    ctx.console.print("[dim](what-if decisions: --dry-run, nothing recorded; the sections below make real calls)[/]")
