"""The ``gatekeeper`` command: commands and groups registered from an explicit table.

A command's module is imported when that command runs (or when ``gatekeeper --help`` lists it), not
at start: ``gatekeeper audit summary`` never imports the modules of ``cases`` or ``check`` (the
configuration's models, the workflow), which cost more than a footer-only summary itself. Group
modules also import only what their commands need inside the command functions, so no SDK is
imported for a command that does not use it, and a group builds only the command that runs
(``_LazyGroup``). Option values are converted without pydantic where the conversion is plain
(``_coerce``). Logging is configured when the first log line is
written (``gatekeeper._log``), so a command that logs nothing never imports structlog.
"""

from __future__ import annotations

import copy
import importlib
import sys
from types import ModuleType
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import TyperInfo

from gatekeeper import _log
from gatekeeper.cli import _coerce, _help


class _Gatekeeper(TyperGroup):
    """The top-level group: ``--config PATH`` is accepted before the command as well as after it.

    ``gatekeeper --config x.toml cases list`` is read as ``gatekeeper cases list --config x.toml``
    (as the aws CLI and kubectl take global options anywhere); given both before and after, the one
    after the command wins.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_config(args))

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *GROUPS, *(n for n in super().list_commands(ctx) if n not in COMMANDS and n not in GROUPS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and (cmd_name in COMMANDS or cmd_name in GROUPS):
            self.add_command(_load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


class _LazyGroup(TyperGroup):
    """A command group whose commands are built when first used.

    typer inspects every parameter of every command it builds: ``gatekeeper audit summary`` builds
    ``summary``, not the other audit commands. Help, and an unknown command name (whose error
    suggests the close ones), build them all, in the order they were declared.
    """

    source: typer.Typer
    pending: dict[str, Any]  # name -> typer's CommandInfo, not built yet
    order: list[str]

    @classmethod
    def of(cls, app: typer.Typer) -> _LazyGroup:
        shell = copy.copy(app)  # the group itself (help, options, callback), without its commands
        shell.registered_commands = []
        group = typer.main.get_group_from_info(
            TyperInfo(shell, cls=cls), pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode, suggest_commands=app.suggest_commands)
        assert isinstance(group, cls)
        group.source = app
        group.pending = {info.name or typer.main.get_command_name(info.callback.__name__): info
                         for info in app.registered_commands if info.callback is not None}
        group.order = [*group.pending, *group.commands]
        return group

    def build(self, *names: str) -> None:
        for name in names:
            info = self.pending.pop(name, None)
            if info is not None:
                self.commands[name] = typer.main.get_command_from_info(
                    info, pretty_exceptions_short=self.source.pretty_exceptions_short,
                    rich_markup_mode=self.source.rich_markup_mode)
        if not self.pending and list(self.commands) != self.order:
            self.commands = {n: self.commands[n] for n in self.order}

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self.build(cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self.build(*self.order)
        return super().list_commands(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.order:
            self.build(*self.order)  # not a command: the error's suggestions look at every name
        return super().resolve_command(ctx, args)


def _load(name: str) -> Any:
    """The click command of top-level command or group ``name``, its module imported now."""
    command: Any
    if name in GROUPS:
        # Always a group (as add_typer makes it), even for a group of one command (``store init``).
        command = _LazyGroup.of(importlib.import_module(GROUPS[name]).app)
    else:
        module, func = COMMANDS[name]
        sub = typer.Typer()
        sub.command(name)(getattr(importlib.import_module(module), func))
        command = typer.main.get_command(sub)
    command.name = name
    return command


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
_coerce.install()


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure_logging() -> None:
    # When structlog is first imported (by the first log line), or now if it already is.
    _log.configure_structlog(_setup_structlog)


def _setup_structlog(structlog: ModuleType) -> None:
    import logging

    # Logs go to stderr so that --json output on stdout stays machine-readable.
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
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
