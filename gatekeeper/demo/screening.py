"""Demo section: restricted-party screening. A listed customer is denied naming the entry; a reviewer
clears a namesake's false positive, and the namesake is then allowed."""

from __future__ import annotations

from datetime import date

from rich.table import Table

from gatekeeper.demo import DATA, DemoContext
from gatekeeper.model import ComputeItem, CustomerProfile, Outcome, ProvisioningRequest
from gatekeeper.screening import clear_hit, list_hits, load_list, screen_profiles

LISTED = CustomerProfile("aws", "555555555555", "Huawei Technologies Co Ltd", "CN", "CN", "CN", "verified")
NAMESAKE = CustomerProfile("aws", "666666666666", "Sugon GmbH", "DE", "DE", "DE", "verified")
COLOUR = {Outcome.ALLOW: "green", Outcome.FLAG: "yellow", Outcome.PENDING: "magenta", Outcome.DENY: "red"}


def _decide(ctx: DemoContext, profile: CustomerProfile) -> str:
    d = ctx.gk.decide(ProvisioningRequest("aws", profile.account_id, (ComputeItem("g6.xlarge"),),
                                          region="eu-central-1", service="ec2", operation="RunInstances",
                                          principal="demo", source="cli"))
    why = "; ".join(m.reason for m in d.matches if m.pack_id == "us-restricted-parties") or (
        d.reasons[0] if d.reasons else "no rule matched")
    return f"[{COLOUR[d.outcome]}]{d.outcome.label}[/]: {why}"


def run(ctx: DemoContext) -> None:
    ctx.section("Restricted-party screening (Consolidated Screening List)")
    screen_profiles(ctx.gk, [LISTED, NAMESAKE])
    ctx.gk.store.profiles.put_profiles([LISTED, NAMESAKE])
    loaded = load_list(ctx.gk, DATA / "consolidated-sample.csv", list_date=date(2026, 11, 1), actor="demo")
    ctx.console.print(f"Loaded {sum(loaded.parsed.counts().values())} entries "
                      f"({', '.join(f'{k} {v}' for k, v in sorted(loaded.parsed.counts().items()))}); "
                      f"every stored profile re-screened.")
    t = Table("customer", "list", "entry", "score", "why")
    for h in list_hits(ctx.gk):
        t.add_row(h.legal_name, h.list_code, f"{h.entry_id} {h.entry_name}", f"{h.score:.0f}",
                  str(h.explanation.get("summary", "")))
    ctx.console.print(t)
    ctx.console.print(f"{LISTED.legal_name}, a g6.xlarge (L4): {_decide(ctx, LISTED)}")
    ctx.console.print(f"{NAMESAKE.legal_name}, a g6.xlarge (L4): {_decide(ctx, NAMESAKE)}")
    for h in list_hits(ctx.gk):
        if h.account_id == NAMESAKE.account_id:
            clear_hit(ctx.gk, h.account_id, h.entry_id, by="compliance-reviewer",
                      reason="German bakery; not Dawning Information Industry (Sugon)")
            ctx.console.print(f"Reviewer cleared {h.entry_id} for {NAMESAKE.legal_name} (recorded in the audit log).")
    ctx.console.print(f"{NAMESAKE.legal_name} again: {_decide(ctx, NAMESAKE)}")
