"""DuckDB as the audit reader uses it: the engine itself, without the Python layer around it.

``import duckdb`` (2.x) loads the engine, the C++ extension ``_duckdb``, and then about 0.07 s of CPU
of Python around it (the relation API, the expression builder, the package's version metadata), more
than a footer-only ``gatekeeper audit summary`` spends on its own work. The reader and the sidecar
writer use only ``connect``, a connection's ``execute`` / ``fetch*`` / ``description`` / ``close``
and ``Error``: all of them the engine's own objects (``duckdb.connect is _duckdb.connect``), so the
engine module is imported alone. duckdb 1.x keeps its engine inside the package: then the package.
"""

from __future__ import annotations

try:
    import _duckdb as duckdb
except ImportError:  # duckdb 1.x
    import duckdb  # type: ignore[no-redef]

__all__ = ["duckdb"]
