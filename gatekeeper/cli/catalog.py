"""``gatekeeper catalog``: what an instance type carries and how its chips classify.

``catalog show`` also says how a licence for the type would be reviewed (the review policy and the
rules with their dates) for typical D:5/Macau customers, as the engine decides it under the packs in
force on a day: the same rules a decision and its case carry.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, runtime

app = typer.Typer(help="Chips and instance types, with TPP, PD and export class.", no_args_is_help=True)


def _type_row(t: Any, cat: Any) -> dict[str, Any]:
    chip = cat.chips.get(t.chip) if t.chip else None
    c = chip.classification if chip else None
    return {
        "provider": t.provider, "instance_type": t.name, "family": t.family, "chip": t.chip,
        "accelerators": t.count, "fractional": t.fractional,
        "tpp": c.tpp if c else None, "pd": c.pd if c else None,
        "export_class": c.export_class if c else "none",
        "confirmed": c.confirmed if c else True, "named_by": list(chip.named_by) if chip else [],
        "basis": c.basis if c else "no accelerator", "source": t.source,
        "chip_source": chip.source if chip else None,
        "memory_bandwidth": chip.memory_bandwidth if chip else None,
        "bandwidth_source": (chip.bandwidth_source or None) if chip else None,
        "tf32": chip.tf32.text() if chip and chip.tf32 else None,
        "class_rests_on_tf32": bool(chip and chip.tf32 and chip.tf32.decides_class),
    }


# Typical subjects for the licence-review display: (label, location, headquarters, ultimate parent).
REVIEW_SUBJECTS = (
    ("China (located, headquartered and owned)", "CN", "CN", "CN"),
    ("Macau", "MO", "MO", "MO"),
    ("Russia (D:5 outside China)", "RU", "RU", "RU"),
    ("Singapore company with a Chinese parent", "SG", "SG", "CN"),
)


def licence_review(gk: Any, provider: str, instance_type: str, on: date) -> list[dict[str, Any]]:
    """How the packs in force ``on`` decide the type for each typical subject (the engine's answer)."""
    from gatekeeper.model import ComputeItem, CustomerProfile, ProvisioningRequest, review_policy

    out = []
    for label, country, hq, parent in REVIEW_SUBJECTS:
        profile = CustomerProfile(provider, "catalog-review", label, country, hq, parent, "verified")
        request = ProvisioningRequest(provider, "catalog-review", (ComputeItem(instance_type),))
        ev = gk.engine.evaluate(request, profile, on=on)
        policies = [m.review_policy for m in ev.matches if m.review_policy]
        out.append({"subject": label, "countries": [country, hq, parent], "decision": ev.outcome.label,
                    "review_policy": review_policy(policies) or None,
                    "rules": [m.as_dict() for m in ev.matches]})
    return out


@app.command("show")
def show(
    instance_type: Annotated[str, typer.Argument(help="Instance type, VM size or machine type.")],
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp (default: any).")] = None,
    on: Annotated[str | None, typer.Option(help="Date (YYYY-MM-DD) of the packs for the licence review "
                                                "(default: today).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one type: its accelerators, TPP, PD, bandwidth, export class, sources, and licence review."""
    from gatekeeper.catalog import default_catalog
    from gatekeeper.model import ComputeItem

    try:
        day = date.fromisoformat(on) if on else date.today()
    except ValueError:
        fail(f"--on must be a date YYYY-MM-DD, not {on!r}", as_json=json_out)
    cat = default_catalog()
    found = [cat.lookup(provider, instance_type)] if provider else cat.find(instance_type)
    rows = [_type_row(t, cat) for t in found if t is not None]
    if rows and any(r["chip"] for r in rows):
        gk = runtime(config, as_json=json_out)
        try:
            for r in rows:
                if r["chip"]:
                    r["licence_review"] = {"on": day.isoformat(),
                                           "subjects": licence_review(gk, r["provider"], r["instance_type"], day)}
        finally:
            gk.close()
    if not rows:
        # Not in the catalog: say what the family rules make of it.
        providers = [provider] if provider else ["aws", "azure", "gcp"]
        guesses = []
        for p in providers:
            ci = cat.classify_item(p, ComputeItem(instance_type))
            guesses.append({"provider": p, "instance_type": ci.instance_type, "known": False,
                            "accelerated": ci.accelerated, "export_class": ci.export_class,
                            "family_kind": cat.family_kind(p, instance_type)})
        from gatekeeper.suggest import similar_instance_types

        near = similar_instance_types(cat, provider, instance_type)
        if json_out:
            emit_json({"found": False, "guesses": guesses, "did_you_mean": near})
        else:
            console.print(f"[yellow]{instance_type!r} is not in the catalog.[/]"
                          + (f" Did you mean {' or '.join(near)}?" if near else "") + " By its family name:",
                          highlight=False)
            for g in guesses:
                console.print(f"  {g['provider']}: {g['family_kind']} family -> export class {g['export_class']}")
        raise typer.Exit(1)
    if json_out:
        emit_json(rows if len(rows) > 1 else rows[0])
        return
    for r in rows:
        t = Table(show_header=False, title=f"{r['provider']} {r['instance_type']}")
        for label, value in _show_rows(r):
            t.add_row(label, value)
        console.print(t)
        review = r.get("licence_review")
        if review:
            rt = Table("subject", "decision", "review policy", "rules (in force)",
                       title=f"licence review under the packs in force on {review['on']}")
            for s_ in review["subjects"]:
                rules = "; ".join(f"{x['pack']}/{x['id']}" + (f" ({_window(x)})" if _window(x) else "")
                                  for x in s_["rules"]) or "-"
                rt.add_row(s_["subject"], s_["decision"], s_["review_policy"] or "-", rules)
            console.print(rt)


def _window(rule: dict[str, Any]) -> str:
    from gatekeeper.model import dates_text

    return dates_text(date.fromisoformat(rule["effective_from"]) if rule["effective_from"] else None,
                      date.fromisoformat(rule["effective_until"]) if rule["effective_until"] else None)


def _show_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """One type as a reader wants it: numbers formatted, yes/no, "-" for nothing (never Python's None)."""
    count = f"{r['accelerators']:g}" + (" (a fraction of one GPU)" if r["fractional"] else "")
    return [
        ("family", r["family"] or "-"),
        ("chip", r["chip"] or "none"),
        ("accelerators", count if r["chip"] else "0"),
        ("TPP", f"{r['tpp']:,.0f}" if r["tpp"] is not None else "-"),
        ("PD", f"{r['pd']:g}" if r["pd"] is not None else "-"),
        ("memory bandwidth", f"{r['memory_bandwidth']:,.0f} GB/s" if r.get("memory_bandwidth") else "-"),
        ("export class", r["export_class"]),
        ("figures confirmed", "-" if not r["chip"] else "yes" if r["confirmed"]
         else "no (estimates: flagged for review)"),
        ("named by rules", ", ".join(r["named_by"]) or "-"),
        ("basis", r["basis"] or "-"),
        *([("TF32 counted as", str(r["tf32"]) + (" (the class rests on this choice)" if r["class_rests_on_tf32"]
                                                 else ""))] if r.get("tf32") else []),
        ("source", r["source"] or "-"),
        ("chip source", r["chip_source"] or "-"),
        ("bandwidth source", r.get("bandwidth_source") or "-"),
    ]


@app.command("list")
def list_types(
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp.")] = None,
    controlled: Annotated[bool, typer.Option("--controlled", help="Only 3A090, unknown or named chips.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List instance types with their chips and export classes."""
    from gatekeeper.catalog import default_catalog

    if provider and provider not in ("aws", "azure", "gcp"):
        fail(f"--provider must be aws, azure or gcp, not {provider!r}", as_json=json_out)
    cat = default_catalog()
    rows = [_type_row(t, cat) for t in cat.types(provider)]
    if controlled:
        rows = [r for r in rows if r["export_class"] in ("3A090.a", "3A090.b", "unknown") or r["named_by"]]
    if json_out:
        emit_json(rows)
        return
    t = Table("provider", "instance type", "chip", "count", "TPP", "PD", "GB/s", "class", "confirmed")
    for r in rows:
        t.add_row(r["provider"], r["instance_type"], r["chip"] or "-", f"{r['accelerators']:g}",
                  f"{r['tpp']:,.0f}" if r["tpp"] else "-", f"{r['pd']:g}" if r["pd"] else "-",
                  f"{r['memory_bandwidth']:,.0f}" if r["memory_bandwidth"] else "-",
                  r["export_class"] + (" (named)" if r["named_by"] else "")
                  + (" (rests on TF32)" if r["class_rests_on_tf32"] else ""), "yes" if r["confirmed"] else "no")
    console.print(t)
    console.print(f"{len(rows)} types; catalog as of {cat.as_of}; TF32 counted at {cat.tf32_bits} bits")
