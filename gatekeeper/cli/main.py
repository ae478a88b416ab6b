"""The ``gatekeeper`` command: groups registered from an explicit table, each module imported at start.

Group modules import only what their commands need inside the command functions, so ``gatekeeper
--help`` stays fast and no SDK is imported for a command that does not use it.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated, Any

import structlog
import typer
from typer.core import TyperGroup

from gatekeeper.cli import _help


class _Gatekeeper(TyperGroup):
    """The top-level group: ``--config PATH`` is accepted before the command as well as after it.

    ``gatekeeper --config x.toml cases list`` is read as ``gatekeeper cases list --config x.toml``
    (as the aws CLI and kubectl take global options anywhere); given both before and after, the one
    after the command wins.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_config(args))


def hoist_config(args: list[str]) -> list[str]:
    """Move ``--config X`` / ``--config=X`` given before the command name to the end of the arguments."""
    front: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("-"):
        if rest[0] == "--config" and len(rest) > 1:
            front += rest[:2]
            rest = rest[2:]
        elif rest[0].startswith("--config="):
            front.append(rest.pop(0))
        else:
            break
    if not front or not rest or rest[0].startswith("-"):  # no command after it: leave it for the usage error
        return list(args)
    if any(a == "--config" or a.startswith("--config=") for a in rest):
        return rest  # the one after the command is the more specific
    return rest + front

app = typer.Typer(
    name="gatekeeper",
    help="Decide, enforce and audit export-controlled AI compute provisioning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Gatekeeper,
)

# Top-level commands: module -> function name.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("gatekeeper.cli.check", "check"),
    "demo": ("gatekeeper.cli.demo", "demo"),
    "serve": ("gatekeeper.cli.serve", "serve"),
}
# Command groups: name -> module exposing ``app``.
GROUPS: dict[str, str] = {
    "catalog": "gatekeeper.cli.catalog",
    "policy": "gatekeeper.cli.policy",
    "accounts": "gatekeeper.cli.accounts",
    "cases": "gatekeeper.cli.cases",
    "licences": "gatekeeper.cli.licences",
    "store": "gatekeeper.cli.store",
    "audit": "gatekeeper.cli.audit",
    "screening": "gatekeeper.cli.screening",
    "hooks": "gatekeeper.cli.hooks",
    "notify": "gatekeeper.cli.notify",
    "plan": "gatekeeper.cli.plan",
    "guardrails": "gatekeeper.cli.guardrails",
}

_help.install()
for _name, (_module, _func) in COMMANDS.items():
    app.command(_name)(getattr(importlib.import_module(_module), _func))
for _name, _module in GROUPS.items():
    app.add_typer(importlib.import_module(_module).app, name=_name)


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure_logging() -> None:
    # Logs go to stderr so that --json output on stdout stays machine-readable.
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
    )


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"gatekeeper {version('gatekeeper')}")
        except PackageNotFoundError:
            typer.echo("gatekeeper (version unknown: not installed as a package)")
        raise typer.Exit()


@app.callback()
def _main(
    _show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False,
) -> None:
    """Decide, enforce and audit export-controlled AI compute provisioning.

    --config PATH may be given before the command or after it.
    """
    _configure_logging()


def run() -> None:
    app()


if __name__ == "__main__":
    run()
