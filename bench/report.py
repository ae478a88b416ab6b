"""The report: a Markdown table for people, a JSON document for scripts."""

from __future__ import annotations

from typing import Any

from bench._common import Row

SECTION_TITLES = {"engine": "Engine", "decide": "decide()", "wrapper": "AWS wrapper", "audit": "Audit log",
                  "hook": "Hook", "screening": "Screening", "error": "Not measured"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


NOTE = {"full": "", "quick": "Quick pass (--quick): small counts, rough figures. ",
        "smoke": "Smoke run (--smoke): tiny counts, the figures mean nothing. "}


def markdown(rows: list[Row], machine: dict[str, Any], *, mode: str, seconds: float) -> str:
    lines = ["| Area | Benchmark | Gatekeeper | Peer, same run | Goal | Met |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        name = f"{r.name}. {r.note[:1].upper()}{r.note[1:]}" if r.note else r.name
        lines.append("| " + " | ".join(_cell(x) for x in (SECTION_TITLES.get(r.section, r.section), name,
                                                          r.gatekeeper, r.peer, r.goal, met)) + " |")
    load = ", ".join(f"{x:g}" for x in machine.get("load_average_at_start", []))
    lines.append("")
    lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']} "
                 f"({machine['platform']}); load average at start {load}. "
                 f"{NOTE[mode]}Whole run {seconds:.0f} s.")
    return "\n".join(lines) + "\n"
