"""Which files are packs: the folders and files a configuration names, in a stable order.

Apart from the reader (``loader``) so that a function host, which reads its packs from the bundle,
lists them without importing the YAML parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gatekeeper.errors import PolicyError

PACK_SUFFIXES = (".yaml", ".yml")


def pack_files(paths: Iterable[str | Path]) -> list[Path]:
    """Pack files named by ``paths`` (files, or folders searched for *.yaml), in a stable order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in PACK_SUFFIXES and f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise PolicyError("no such file or folder", file=str(p))
    return out
