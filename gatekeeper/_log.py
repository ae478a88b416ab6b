"""Module-level loggers that import structlog only when something is first logged.

``import structlog`` imports ``structlog.dev``, which imports rich when it is installed: 100-300 ms
that a Lambda cold start or a ``gatekeeper --help`` would pay for a logger it may never use. Each
gatekeeper module that logs holds ``log = get_logger("gatekeeper.x")`` instead of
``structlog.get_logger(...)``; the proxy asks structlog for its logger on the first attribute
access (``log.info``) and hands every call on to it.

The logger it hands on to is structlog's own lazy proxy, so ``structlog.configure``,
``structlog.reset_defaults`` and ``structlog.testing.capture_logs`` act on these loggers exactly as
on ``structlog.get_logger`` ones, whenever they are called.

In a function host (AWS Lambda, Azure Functions, Google Cloud Functions: see
``FUNCTION_HOST_VARS``), whose output is collected into a log service and never shown on a terminal,
structlog is not imported at all unless something imported it before: each event is written as one
JSON object a line on stdout (``JsonLineLogger``), which CloudWatch Logs, Azure Monitor and Cloud
Logging index as fields (Cloud Logging reads ``severity``), with a plain-text traceback for
``exception``. structlog and what it pulls in (asyncio, and rich where installed: 70-150 ms) would
otherwise be the largest single cost of a cold start. ``GATEKEEPER_LOG_LEVEL`` (default ``info``)
sets the threshold there. When structlog was imported before (a test using ``capture_logs``, a
host that configured it), it is used as everywhere else.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Set by the platform in every function process (and only there).
FUNCTION_HOST_VARS = ("AWS_LAMBDA_FUNCTION_NAME", "FUNCTIONS_WORKER_RUNTIME", "FUNCTION_TARGET", "K_SERVICE")


def in_function_host() -> bool:
    return any(os.environ.get(v) for v in FUNCTION_HOST_VARS)


# What configures structlog for this process, run when structlog is first imported (see configure_structlog).
_setup: Callable[[ModuleType], None] | None = None


def configure_structlog(setup: Callable[[ModuleType], None]) -> None:
    """Run ``setup(structlog)`` now if structlog is imported, else when a logger first needs it.

    The CLI configures its logging this way, so a command that writes no log line never imports
    structlog (and rich.pretty, asyncio... with it).
    """
    global _setup
    module = sys.modules.get("structlog")
    if module is not None:
        _setup = None
        setup(module)
    else:
        _setup = setup


def _import_structlog() -> ModuleType:
    global _setup
    import structlog

    setup, _setup = _setup, None
    if setup is not None:
        setup(structlog)
    return structlog


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "exception": 40, "critical": 50}


class JsonLineLogger:
    """structlog's logging calls, written as one JSON object a line on stdout (function hosts)."""

    __slots__ = ("_context", "_min")

    def __init__(self, context: dict[str, Any], min_level: int) -> None:
        self._context = context
        self._min = min_level

    def bind(self, **kw: Any) -> JsonLineLogger:
        return JsonLineLogger({**self._context, **kw}, self._min)

    def new(self, **kw: Any) -> JsonLineLogger:
        return JsonLineLogger({"logger": self._context.get("logger"), **kw}, self._min)

    def _emit(self, method: str, event: str, kw: dict[str, Any]) -> None:
        if _LEVELS[method] < self._min:
            return
        level = "error" if method == "exception" else method
        doc = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level,
               "severity": level.upper(), **self._context, "event": event, **kw}
        if method == "exception" or kw.get("exc_info"):
            doc.pop("exc_info", None)
            doc["exception"] = traceback.format_exc()
        sys.stdout.write(json.dumps(doc, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def debug(self, event: str, **kw: Any) -> None:
        self._emit("debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._emit("info", event, kw)

    msg = info

    def warning(self, event: str, **kw: Any) -> None:
        self._emit("warning", event, kw)

    warn = warning

    def error(self, event: str, **kw: Any) -> None:
        self._emit("error", event, kw)

    def exception(self, event: str, **kw: Any) -> None:
        self._emit("exception", event, kw)

    def critical(self, event: str, **kw: Any) -> None:
        self._emit("critical", event, kw)


def _function_host_logger(name: str) -> JsonLineLogger:
    level = os.environ.get("GATEKEEPER_LOG_LEVEL", "info").strip().lower()
    return JsonLineLogger({"logger": name}, _LEVELS.get(level, 20))


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
            if in_function_host() and "structlog" not in sys.modules:
                logger = self._logger = _function_host_logger(self._name)
            else:
                logger = self._logger = _import_structlog().get_logger(self._name)
        return getattr(logger, attr)

    def __repr__(self) -> str:
        state = "bound" if self._logger is not None else "structlog not loaded"
        return f"<LazyLogger {self._name!r} ({state})>"


def get_logger(name: str) -> Any:
    """A logger for ``name`` that behaves as ``structlog.get_logger(name)`` (typed ``Any`` as that is)."""
    return LazyLogger(name)
