"""State stores: customer profiles, screening, cases and licences.

SQLite (WAL) embedded; PostgreSQL and DynamoDB shared by many machines. ``open_store(url)`` picks the
backend by URL scheme (see docs/workflow.md for the schemas); every backend implements the Protocols
of ``gatekeeper.stores.base`` (``StateStore`` with ``.profiles``, ``.cases``, ``.licences``,
``.screening`` and ``init()``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from gatekeeper.errors import ConfigError
from gatekeeper.stores.base import CaseStore, LicenceStore, ProfileStore, StateStore

# scheme -> "module:factory"; imported lazily so that an unused backend costs nothing.
BACKENDS: dict[str, str] = {
    "sqlite": "gatekeeper.stores.sqlite:open_sqlite_store",
    "dynamodb": "gatekeeper.stores.dynamodb:open_dynamodb_store",
    "postgresql": "gatekeeper.stores.postgres:open_postgres_store",
    "postgres": "gatekeeper.stores.postgres:open_postgres_store",
}


def open_store(url: str, *, base_dir: str | Path = ".", create: bool = True,
               timeout_seconds: float | None = None) -> Any:
    """The store named by ``url``; relative SQLite paths are resolved against ``base_dir``.

    For SQLite, ``create=False`` refuses a file that does not exist (ConfigError) and
    ``timeout_seconds`` bounds the wait for another process's lock.
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    target = BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(f"store url {url!r}: unknown scheme {scheme!r}; use one of {sorted(BACKENDS)}")
    module, factory = target.split(":")
    options: dict[str, Any] = {}
    if scheme == "sqlite":  # the file-based backend's options
        options["create"] = create
        if timeout_seconds is not None:
            options["timeout_seconds"] = timeout_seconds
    return getattr(importlib.import_module(module), factory)(url, base_dir=Path(base_dir), **options)


__all__ = ["BACKENDS", "CaseStore", "LicenceStore", "ProfileStore", "StateStore", "open_store"]
