"""The ``gatekeeper`` command: groups registered from an explicit table, each module imported at start.

Group modules import only what their commands need inside the command functions, so ``gatekeeper
--help`` stays fast and no SDK is imported for a command that does not use it.
"""

from __future__ import annotations

import importlib
import logging
import sys

import structlog
import typer

app = typer.Typer(
    name="gatekeeper",
    help="Decide, enforce and audit export-controlled AI compute provisioning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    "plan": "gatekeeper.cli.plan",
    "guardrails": "gatekeeper.cli.guardrails",
}

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


@app.callback()
def _main() -> None:
    """Decide, enforce and audit export-controlled AI compute provisioning."""
    _configure_logging()


def run() -> None:
    app()


if __name__ == "__main__":
    run()
