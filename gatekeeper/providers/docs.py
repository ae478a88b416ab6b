"""Rendering a provider spec for the docs: the covered operations, one row each (pure functions).

``python -m gatekeeper.gendocs`` writes them into docs/aws.md and README.md; the tests check that
the committed docs match the spec, so that the list of covered operations cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator

from gatekeeper.providers._spec import Existing, Operation, ProviderSpec, Slot, Source


def _join(prefix: str, path: str) -> str:
    if path.startswith("$."):
        return path[2:]
    return f"{prefix}.{path}" if prefix and path else (prefix or path)


def _source(src: Source, scope: str) -> Iterator[tuple[str, str]]:
    elem = _join(scope, src.at)
    for p in src.type:
        yield "type", _join(elem, p)
    if src.requirements:
        yield "type", _join(elem, src.requirements) + " (attribute-based)"
    for ref in src.refs:
        yield "follows", ref.kind.replace("_", " ") + (f" `{_join(elem, ref.at)}`" if ref.at else "")
    for a in src.attached:
        yield "type", _join(elem, a.at or a.type) + " (attached accelerators)"
    if src.fixed:
        yield "type", f"any of {len(src.fixed)} accelerated types offered (e.g. {src.fixed[0]})"
    if src.inner is not None:
        yield from _source(src.inner, elem)


def _slots(slots: tuple[Slot, ...], prefix: str = "") -> Iterator[tuple[str, str]]:
    for slot in slots:
        scope = _join(prefix, slot.at)
        for src in slot.sources:
            yield from _source(src, scope)
        for p in (*slot.count, *slot.multiplier):
            yield "count", " + ".join(_join(scope, q) for q in p.split("+"))
        if slot.tally:
            yield "count", f"number of {_join(scope, slot.tally)}"


def _existing(e: Existing) -> str:
    return e.kind.replace("_", " ")


def reads(op: Operation) -> str:
    """What a row reads, in one cell: types, counts and what it follows."""
    parts: dict[str, list[str]] = {"type": [], "count": [], "follows": []}
    for kind, text in _slots(op.slots):
        if text not in parts[kind]:
            parts[kind].append(text)
    if op.base is not None:
        parts["follows"].append(f"the {_existing(op.base)} it changes")
    for e in op.extra:
        parts["follows"].append(f"the {_existing(e)} it uses")
    if op.template is not None:
        parts["type"].append("every compute resource of the template (`" + "`, `".join(
            p for p in (op.template.body, op.template.url) if p) + "`)")
    cells = []
    if parts["type"]:
        cells.append("types " + ", ".join(f"`{t}`" if "`" not in t and " " not in t else t for t in parts["type"]))
    if parts["count"]:
        cells.append("count " + ", ".join(f"`{c}`" for c in parts["count"]))
    if parts["follows"]:
        cells.append("follows " + ", ".join(parts["follows"]))
    return "; ".join(cells) or "—"


def operations_table(spec: ProviderSpec, remedies: dict[str, tuple[str, str]] | None = None) -> str:
    """The markdown table of a spec's operations (one row each)."""
    lines = ["| Service | Operation | Reads | Audit event | Put right (stop / terminate) |", "|---|---|---|---|---|"]
    for op in spec.operations:
        audit = f"`{op.audit.source}` {op.audit.name or op.name}" if op.audit else "not recorded"
        kinds = []
        for a in op.audit.affected if op.audit else ():
            stop, terminate = (remedies or {}).get(a.kind, ("", ""))
            verbs = " / ".join(v for v in dict.fromkeys((stop, terminate)) if v) or "tag"
            kinds.append(f"{a.kind}: {verbs.replace('_', ' ')}")
        lines.append(f"| {op.service} | {op.name} | {reads(op)} | {audit} | {'; '.join(kinds) or '—'} |")
    return "\n".join(lines)


def summary(spec: ProviderSpec) -> str:
    """One line per service: the operations covered (for the README)."""
    by: dict[str, list[str]] = {}
    for op in spec.operations:
        by.setdefault(op.service, []).append(op.name)
    return "\n".join(f"- **{service}** ({len(names)}): {', '.join(names)}" for service, names in by.items())
