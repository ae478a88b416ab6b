"""``python -m gatekeeper.gendocs [--check]``: the generated blocks of docs/aws.md, docs/azure-gcp.md and README.md.

Each block sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->`` and is
rendered from the provider specs (``gatekeeper.providers.docs``) with the remediation each resource
kind gets; ``--check`` exits non-zero naming a block that differs (the test suite runs the check).
A tool at the top layer: it reads the specs and the hooks' remediation table, nothing imports it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gatekeeper.hooks.remediation import KINDS
from gatekeeper.providers.aws import SPEC
from gatekeeper.providers.docs import operations_table, summary
from gatekeeper.providers.docs_azure_gcp import (
    azure_operations,
    azure_summary,
    azure_templates,
    gcp_operations,
    gcp_summary,
)

ROOT = Path(__file__).resolve().parents[1]


def blocks() -> dict[Path, dict[str, str]]:
    """Each generated block's expected text, per file."""
    remedies = {k: (v.stop, v.terminate) for k, v in KINDS.items()}
    return {
        ROOT / "docs" / "aws.md": {"aws operations": operations_table(SPEC, remedies) + "\n"},
        ROOT / "README.md": {"aws operations": summary(SPEC) + "\n", "azure operations": azure_summary() + "\n",
                             "gcp operations": gcp_summary() + "\n"},
        ROOT / "docs" / "azure-gcp.md": {"azure operations": azure_operations() + "\n",
                                         "azure templates": azure_templates() + "\n",
                                         "gcp operations": gcp_operations() + "\n"},
    }


def _pattern(name: str) -> re.Pattern[str]:
    begin, end = f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"
    return re.compile(rf"({re.escape(begin)}\n)(.*?)({re.escape(end)})", re.DOTALL)


def differences() -> list[str]:
    """The generated blocks that are missing or differ from the spec ("" list: in step)."""
    out = []
    for path, wanted in blocks().items():
        text = path.read_text(encoding="utf-8")
        for name, body in wanted.items():
            m = _pattern(name).search(text)
            if m is None:
                out.append(f"{path.name}: no generated block {name!r}")
            elif m.group(2) != body:
                out.append(f"{path.name}: block {name!r} differs from the spec (python -m gatekeeper.gendocs)")
    return out


def write() -> None:
    for path, wanted in blocks().items():
        text = path.read_text(encoding="utf-8")
        for name, body in wanted.items():
            m = _pattern(name).search(text)
            if m is None:
                raise SystemExit(f"{path}: add the markers of block {name!r} first")
            text = text[:m.start(2)] + body + text[m.end(2):]
        path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if "--check" in argv:
        diffs = differences()
        for d in diffs:
            print(d, file=sys.stderr)
        return 1 if diffs else 0
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
