"""``gatekeeper policy``: validate packs and run the test cases they ship with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail
from gatekeeper.cli._common import config as load_cfg

app = typer.Typer(help="Validate and test policy packs.", no_args_is_help=True)

PathArg = Annotated[list[Path] | None, typer.Argument(help="Pack files or folders (default: the configured packs).")]
BundleOpt = Annotated[Path | None, typer.Option(
    "--bundle", help="Take the packs from this policy bundle (python -m gatekeeper.policy.bundle), which must "
                     "vouch for exactly these files.")]


def _paths(paths: list[Path] | None, config: Path | None) -> list[Path]:
    return list(paths) if paths else load_cfg(config).policy_paths()


@app.command("validate")
def validate(paths: PathArg = None, bundle: BundleOpt = None, config: ConfigOpt = None,
             json_out: JsonOpt = False) -> None:
    """Parse, validate and compile packs; exit 1 naming file, line, rule and field of the first problem."""
    from gatekeeper.errors import PolicyError
    from gatekeeper.policy.compiled import compile_packs, pack_sources

    try:
        ps = compile_packs(pack_sources(_paths(paths, config), bundle=bundle))
    except PolicyError as exc:
        if json_out:
            emit_json({"valid": False, "error": exc.detail, "file": exc.file, "line": exc.line, "rule": exc.rule,
                       "field": exc.field})
            raise typer.Exit(1) from None
        fail(exc)
    packs = [{"id": p.id, "version": p.pack.version, "file": p.file, "rules": len(p.pack.rules),
              "tests": len(p.pack.tests), "effective_from": str(p.pack.effective_from),
              "effective_until": str(p.pack.effective_until) if p.pack.effective_until else None,
              "simulation_only": p.pack.simulation_only, "basis": p.pack.basis,
              "suspended": [{"from": str(x.effective_from), "until": str(x.effective_until), "citation": x.citation}
                            for x in p.pack.suspended],
              "status_note": p.pack.status_note or None} for p in ps.packs]
    if json_out:
        emit_json({"valid": True, "packs": packs})
        return
    t = Table("pack", "version", "rules", "tests", "in force", "basis", "file")
    for p in packs:
        window = f"{p['effective_from']} .. {p['effective_until'] or ''}" + "".join(
            f"; suspended {x.effective_from} .. {x.effective_until}" for x in ps.pack(str(p["id"])).pack.suspended)
        t.add_row(str(p["id"]), str(p["version"]), str(p["rules"]), str(p["tests"]),
                  window + (" (simulation)" if p["simulation_only"] else ""), str(p["basis"]), str(p["file"]))
    console.print(t)
    console.print(f"[green]{len(packs)} packs valid[/]")


@app.command("test")
def test(paths: PathArg = None, bundle: BundleOpt = None, config: ConfigOpt = None,
         json_out: JsonOpt = False) -> None:
    """Run every pack's test cases; exit 1 if any fails."""
    from gatekeeper.errors import PolicyError
    from gatekeeper.policy.testing import run_pack_tests

    try:
        results = run_pack_tests(_paths(paths, config), bundle=bundle)
    except PolicyError as exc:
        fail(exc, as_json=json_out)
    failed = [r for r in results if not r.passed]
    if json_out:
        emit_json({"passed": len(results) - len(failed), "failed": len(failed), "cases": [
            {"pack": r.pack_id, "name": r.name, "expected": r.expected, "actual": r.actual,
             "expected_rules": list(r.expected_rules) if r.expected_rules is not None else None,
             "actual_rules": list(r.actual_rules), "passed": r.passed, "reasons": list(r.reasons)}
            for r in results]})
    else:
        t = Table("pack", "case", "expected", "actual", "result")
        for r in results:
            t.add_row(r.pack_id, r.name, r.expected + (f" {list(r.expected_rules)}" if r.expected_rules else ""),
                      r.actual + (f" {list(r.actual_rules)}" if r.actual_rules else ""),
                      "[green]pass[/]" if r.passed else "[red]FAIL[/]")
        console.print(t)
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
