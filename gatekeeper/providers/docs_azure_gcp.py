"""The Azure and Google Cloud tables of docs/azure-gcp.md, rendered from their provider specs.

Their rows carry what the cloud-neutral table (``gatekeeper.providers.docs``) does not: the ARM
methods and SDK calls, the GAPIC client methods and Cloud Audit Logs method names. ``python -m
gatekeeper.gendocs`` writes them between the doc's ``<!-- BEGIN generated: NAME -->`` markers; the
tests check the committed doc is current.
"""

from __future__ import annotations

from gatekeeper.hooks.remediation import KINDS


def _remedy(kind: str) -> str:
    spec = KINDS.get(kind)
    if not kind:
        return "per pool (agent pools)"
    if spec is None:
        return "decided and audited; no action (see below)"
    acts = [a for a in (("label/tag" if spec.taggable else ""), spec.stop, spec.terminate) if a]
    return " / ".join(dict.fromkeys(a.replace("_", " ") for a in acts)) or "recorded only"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def azure_operations() -> str:
    from gatekeeper.providers.azure import OPERATIONS

    rows = ["| ARM resource type | PUT / PATCH / POST action (operation id) | SDK calls | size | count | Event Grid "
            "`operationName` | hook remediation (stop / terminate) |", "|---|---|---|---|---|---|---|"]
    for op in OPERATIONS:
        shape = op.shape
        size = " or ".join(f"`{p}`" for p in shape.size) + (f"; mix `{shape.alternatives}[].name`"
                                                           if shape.alternatives else "")
        if op.pools:
            size = f"each `{op.pools}[]`: {size}"
        count = " / ".join(f"`{c}`" for c in shape.counts) or "1"
        if shape.counts and len(shape.counts) > 1:
            count = "max of " + count
        methods = ", ".join([f"{m} ({oid})" for m, oid in op.methods.items()]
                            + [f"POST {a} ({oid})" for a, (oid, _) in op.actions.items()])
        sdk = "<br>".join(f"`{s}`" for s in (*op.sdk, *(s for _, s in op.actions.values())))
        events = "<br>".join(f"`{e}`" for e in (op.write, *(op.action_name(a) for a in op.actions)))
        rows.append(f"| `{op.type}` | {methods} | {sdk} | {_cell(size)} | {_cell(count)} | {events} | "
                    f"{_remedy(op.kind)} |")
    return "\n".join(rows)


def azure_templates() -> str:
    from gatekeeper.providers.azure import DEPLOYMENTS

    rows = ["| scope | call | HTTP | SDK call |", "|---|---|---|---|"]
    for call in DEPLOYMENTS:
        path = f"{call.resource}/NAME" + (f"/{call.action}" if call.action else "")
        rows.append(f"| {call.scope} | {call.name} | {call.method} `.../Microsoft.Resources/{path}` | `{call.sdk}` |")
    return "\n".join(rows)


def gcp_operations() -> str:
    from gatekeeper.providers.gcp import OPERATIONS

    rows = ["| client.method | reads | where | count | Cloud Audit Logs `methodName` | hook remediation |",
            "|---|---|---|---|---|---|"]
    for op in OPERATIONS:
        where = " ; ".join(f"`{p}`" for p in (op.at, op.template, op.image) if p) or "the resource it names"
        count = f"`{op.count}`" if op.count else "1"
        if op.multiplier:
            count += f" x `{op.multiplier}`"
        rows.append(f"| `{op.sdk}` | {op.reads} | {_cell(where)} | {_cell(count)} | `{op.audit}` | "
                    f"{_remedy(op.kind)} |")
    return "\n".join(rows)


def azure_summary() -> str:
    """One line per resource provider, for the README."""
    from gatekeeper.providers.azure import DEPLOYMENTS, OPERATIONS

    by_service: dict[str, list[str]] = {}
    for op in OPERATIONS:
        verbs = "/".join([*op.methods, *(a for a in op.actions)])
        by_service.setdefault(op.service, []).append(f"{op.resource} ({verbs})")
    lines = [f"- **{s}** ({len(v)}): {', '.join(v)}" for s, v in by_service.items()]
    calls = ", ".join(dict.fromkeys(f"{c.resource}{'/' + c.action if c.action else ''}" for c in DEPLOYMENTS))
    lines.append(f"- **Microsoft.Resources**: {calls} at every scope, each template resource decided; `/batch`")
    return "\n".join(lines)


def gcp_summary() -> str:
    """One line per service, for the README."""
    from gatekeeper.providers.gcp import OPERATIONS

    by_service: dict[str, list[str]] = {}
    for op in OPERATIONS:
        by_service.setdefault(op.service, []).append(op.operation.split(".", 1)[1])
    return "\n".join(f"- **{s}** ({len(v)}): {', '.join(v)}" for s, v in by_service.items())
