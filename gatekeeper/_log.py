"""Module-level loggers that import structlog only when something is first logged.

``import structlog`` imports ``structlog.dev``, which imports rich when it is installed: 100-300 ms
that a Lambda cold start or a ``gatekeeper --help`` would pay for a logger it may never use. Each
gatekeeper module that logs holds ``log = get_logger("gatekeeper.x")`` instead of
``structlog.get_logger(...)``; the proxy asks structlog for its logger on the first attribute
access (``log.info``) and hands every call on to it.

The logger it hands on to is structlog's own lazy proxy, so ``structlog.configure``,
``structlog.reset_defaults`` and ``structlog.testing.capture_logs`` act on these loggers exactly as
on ``structlog.get_logger`` ones, whenever they are called.

In a function host (AWS Lambda, Azure Functions: see ``FUNCTION_HOST_VARS``), whose output is
collected into a log service and never shown on a terminal, structlog is imported without rich
when it is first imported here: structlog then renders exception tracebacks as plain text (which
is what such a log service can show) instead of rich's console boxes, and the first event of a
cold container does not wait ~70-100 ms for rich and pygments. Nothing changes when structlog or
rich was imported before, or anywhere else.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

# Set by the platform in every function process (and only there).
FUNCTION_HOST_VARS = ("AWS_LAMBDA_FUNCTION_NAME", "FUNCTIONS_WORKER_RUNTIME")


def in_function_host() -> bool:
    return any(os.environ.get(v) for v in FUNCTION_HOST_VARS)


def _import_structlog() -> ModuleType:
    if "structlog" in sys.modules or "rich" in sys.modules or not in_function_host():
        import structlog

        return structlog
    # structlog.dev and structlog.tracebacks do ``try: import rich ... except ImportError``: a None
    # entry in sys.modules makes that import fail, for the duration of this one import only.
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        if "rich" in sys.modules and sys.modules["rich"] is None:
            del sys.modules["rich"]
    return structlog


class LazyLogger:
    """Stands for ``structlog.get_logger(name)`` until a log method is first looked up."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not on the proxy itself (its two slots are found normally).
        logger = self._logger
        if logger is None:
            # Two threads may both get here: each gets an equivalent proxy, either may be kept.
            logger = self._logger = _import_structlog().get_logger(self._name)
        return getattr(logger, attr)

    def __repr__(self) -> str:
        state = "bound" if self._logger is not None else "structlog not loaded"
        return f"<LazyLogger {self._name!r} ({state})>"


def get_logger(name: str) -> Any:
    """A logger for ``name`` that behaves as ``structlog.get_logger(name)`` (typed ``Any`` as that is)."""
    return LazyLogger(name)
