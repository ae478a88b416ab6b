"""The process-wide Gatekeeper that adapters and hooks use, built lazily from configuration.

``current()`` builds it on first use from ``$GATEKEEPER_CONFIG`` (or the embedded defaults);
``configure(...)`` replaces it, e.g. in tests or in an application's start-up code.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from gatekeeper.config import Config, load_config
from gatekeeper.service import Gatekeeper

_lock = threading.Lock()
_current: Gatekeeper | None = None


def current() -> Gatekeeper:
    global _current
    gk = _current
    if gk is None:
        with _lock:
            if _current is None:
                _current = Gatekeeper(load_config())
            gk = _current
    return gk


def configure(config: Config | str | os.PathLike[str] | None = None, **kwargs: Any) -> Gatekeeper:
    """Replace the process-wide Gatekeeper; ``config`` is a Config, a TOML path, or None for defaults.

    Keyword arguments go to :class:`Gatekeeper` (store, audit, permits, policies, clock).
    """
    global _current
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
