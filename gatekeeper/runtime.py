"""The process-wide Gatekeeper that adapters and hooks use, built lazily from configuration.

``current()`` builds it on first use from ``$GATEKEEPER_CONFIG`` (or the embedded defaults);
``configure(...)`` replaces it, e.g. in tests or in an application's start-up code.

In a function host (``_log.in_function_host``) the file is read by ``gatekeeper.config_reader``
(the same values and errors as ``gatekeeper.config.load_config``, without importing pydantic).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatekeeper._log import in_function_host
from gatekeeper.service import Gatekeeper

if TYPE_CHECKING:
    from gatekeeper.config import Config

_lock = threading.Lock()
_current: Gatekeeper | None = None


def current() -> Gatekeeper:
    global _current
    gk = _current
    if gk is None:
        with _lock:
            if _current is None:
                _current = Gatekeeper(_load())
            gk = _current
    return gk


def _load() -> Config:
    if in_function_host():
        from gatekeeper.config_reader import read_config

        return read_config()
    from gatekeeper.config import load_config

    return load_config()


def configure(config: Config | str | os.PathLike[str] | None = None, **kwargs: Any) -> Gatekeeper:
    """Replace the process-wide Gatekeeper; ``config`` is a Config, a TOML path, or None for defaults.

    Keyword arguments go to :class:`Gatekeeper` (store, audit, permits, policies, clock).
    """
    global _current
    from gatekeeper.config import Config, load_config

    cfg = config if isinstance(config, Config) else load_config(Path(config) if config else None)
    gk = Gatekeeper(cfg, **kwargs)
    with _lock:
        old, _current = _current, gk
    if old is not None:
        old.close()
    return gk


def reset() -> None:
    """Forget the process-wide Gatekeeper (closing it)."""
    global _current
    with _lock:
        old, _current = _current, None
    if old is not None:
        old.close()
