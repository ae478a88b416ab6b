"""What every CLI command shares: the --config/--json options, loading the runtime, output, exit codes.

Exit codes (a public contract, see README):
    0  success; for ``check``: allow or flag
    1  gatekeeper error (bad config, bad input, store or audit failure, integrity failure)
    2  usage error (unknown option, missing argument)
    3  ``check``: pending (a licence is needed; a case was opened or joined)
    4  ``check``: deny
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from gatekeeper.errors import GatekeeperError

if TYPE_CHECKING:
    from rich.console import Console

    from gatekeeper.config import Config
    from gatekeeper.service import Gatekeeper

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
EXIT_DENY = 4
# The one rule every command that decides follows (check, plan check, hooks test): 0 allow or flag,
# 3 pending, 4 deny, and 1 when gatekeeper could not decide (the decision carries an error and was
# denied fail-closed). Several decisions exit with the most restrictive; an error shows when nothing
# else stopped the caller.
_EXIT_BY_LABEL = {"allow": EXIT_OK, "flag": EXIT_OK, "pending": EXIT_PENDING, "deny": EXIT_DENY}
_EXIT_RANK = (EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_DENY)


def decision_exit_code(outcome: str, error: object = None) -> int:
    """The exit code of one decision given by its outcome label and its ``error`` (None when decided)."""
    if error and outcome not in ("allow", "flag"):
        return EXIT_ERROR
    return _EXIT_BY_LABEL.get(outcome, EXIT_ERROR)


def worst_exit_code(codes: Iterable[int]) -> int:
    """The exit code of several decisions: the most restrictive (deny, pending, error, ok)."""
    return max(codes, key=_EXIT_RANK.index, default=EXIT_OK)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", envvar="GATEKEEPER_CONFIG", help="Configuration TOML (default: embedded defaults)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]



class _LazyConsole:
    """A rich ``Console`` made on first use: a command that prints only JSON never imports rich."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            # Wide enough for reviewers' tables when output goes to a file or a pipe (rich assumes 80 there).
            self._console = Console(stderr=self._stderr, width=None if stream.isatty() else 160)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    # Special methods are looked up on the type, never through __getattr__: rich's live displays
    # (progress bars) enter the console as a context manager on a terminal.
    def __enter__(self) -> Console:
        return self._real().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._real().__exit__(*exc)


console: Console = cast("Console", _LazyConsole(stderr=False))
err_console: Console = cast("Console", _LazyConsole(stderr=True))


def config(path: Path | None) -> Config:
    # Imported here: the configuration's models (pydantic) cost more than many commands' own work,
    # and a command given --from never loads them.
    from gatekeeper.config import load_config

    try:
        return load_config(path)
    except GatekeeperError as exc:
        fail(exc)


def runtime(path: Path | None, *, as_json: bool = False) -> Any:
    """A Gatekeeper built from the config (not the process-wide one: a CLI run is its own process)."""
    from gatekeeper.config import load_config
    from gatekeeper.service import Gatekeeper

    try:
        return Gatekeeper(load_config(path))
    except GatekeeperError as exc:
        fail(exc, as_json=as_json)


@contextmanager
def opened(path: Path | None, *, as_json: bool = False) -> Iterator[Gatekeeper]:
    """The runtime for one command: a GatekeeperError becomes a clear error and exit 1; closed at the end.

    Closed also when the block ends with ``typer.Exit`` or any other exception. A command whose error
    needs more than ``fail(exc)`` (its own message, extra JSON fields) catches it inside the block.
    """
    gk = runtime(path, as_json=as_json)
    try:
        yield gk
    except GatekeeperError as exc:
        fail(exc, as_json=as_json)
    finally:
        gk.close()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def fail(exc: BaseException | str, *, as_json: bool = False, code: int = EXIT_ERROR) -> NoReturn:
    message = str(exc)
    if as_json:
        emit_json({"error": message, "type": type(exc).__name__ if not isinstance(exc, str) else "error"})
    else:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def cli_actor() -> str:
    """Who runs this command, as the audit log names a CLI user: ``cli:<login name>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
