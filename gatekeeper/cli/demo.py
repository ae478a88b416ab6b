"""``gatekeeper demo``: the main job on embedded defaults (see gatekeeper.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, fail


def demo(
    home: Annotated[Path, typer.Option(help="Folder for the demo's store and audit log (emptied first).")] = Path(
        ".gatekeeper/demo"),
    section: Annotated[list[str], typer.Option(help="Run only these sections.")] = [],  # noqa: B006
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the end-to-end demo: decisions, a blocked boto3 call, a case approved, audit verified."""
    from gatekeeper.demo import SECTIONS, run_demo
    from gatekeeper.errors import GatekeeperError

    unknown = [s for s in section if s not in SECTIONS]
    if unknown:
        fail(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", as_json=json_out)
    if config is not None:
        console.print("[dim]--config is ignored: the demo always runs on embedded defaults in --home[/]")
    try:
        run_demo(home, console, tuple(section) or SECTIONS)
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
