"""Module-level loggers that import structlog only when something is first logged.

``import structlog`` imports ``structlog.dev``, which imports rich when it is installed: 100-300 ms
that a Lambda cold start or a ``gatekeeper --help`` would pay for a logger it may never use. Each
gatekeeper module that logs holds ``log = get_logger("gatekeeper.x")`` instead of
``structlog.get_logger(...)``; the proxy asks structlog for its logger on the first attribute
access (``log.info``) and hands every call on to it.

The logger it hands on to is structlog's own lazy proxy, so ``structlog.configure``,
``structlog.reset_defaults`` and ``structlog.testing.capture_logs`` act on these loggers exactly as
on ``structlog.get_logger`` ones, whenever they are called.
"""

from __future__ import annotations

from typing import Any


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
            import structlog

            # Two threads may both get here: each gets an equivalent proxy, either may be kept.
            logger = self._logger = structlog.get_logger(self._name)
        return getattr(logger, attr)

    def __repr__(self) -> str:
        state = "bound" if self._logger is not None else "structlog not loaded"
        return f"<LazyLogger {self._name!r} ({state})>"


def get_logger(name: str) -> Any:
    """A logger for ``name`` that behaves as ``structlog.get_logger(name)`` (typed ``Any`` as that is)."""
    return LazyLogger(name)
