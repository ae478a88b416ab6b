"""The methods ``dataclasses`` generates for gatekeeper's classes, compiled when a function is built.

A dataclass writes its ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` (and, frozen,
``__setattr__`` and ``__delattr__``) as source text and compiles each with ``exec`` when its class is
created: about 0.4 of the 0.55 ms a class costs (Python 3.11), and a Lambda's cold start creates
about 60 of them, in every new container (a ``.pyc`` keeps the module's code, not these methods).
``python -m gatekeeper.policy.bundle`` (deploy/aws/build.sh) records the text of every method
generated for a gatekeeper class and stores its compiled code in the bundle (``_prebuilt``); a
function host installs it before its handler's imports, and ``dataclasses`` then executes the stored
code object for a text it holds instead of compiling that text again.

# INVARIANT: the result is the function ``dataclasses`` would have made. The code is looked up by the
# exact text ``dataclasses`` is about to compile (another Python's text, another class's fields: no
# entry, compiled as usual), was compiled from that text with ``exec``'s own settings (file name
# ``<string>``, no inherited future flags), and is only used by the Python whose bytecode it is
# (``_prebuilt.PYTHON``). Trusted as the package's ``.pyc`` files are: it comes from the
# package, inside the bundle's digest.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import sys
from types import CodeType
from typing import Any

from gatekeeper._prebuilt import PYTHON, decode_code, encode_code

# What the recording child imports: every module of the package a host may load (the CLI, the web
# console, the demo and the gates, plan check and guardrails export, never run in a function).
_SKIPPED = ("gatekeeper.cli", "gatekeeper.web", "gatekeeper.demo", "gatekeeper.gates")

# module name -> its methods' table, marshalled, compressed and base64-encoded as the bundle has it;
# decoded on the first class of that module, so a host pays only for the modules it imports.
_packed: dict[str, str] = {}
_tables: dict[str, dict[str, CodeType]] = {}
# Methods of gatekeeper's classes taken from the tables / compiled at run time (the tests read them).
hits = 0
misses = 0


def _compile(text: str) -> CodeType:
    # What exec(text, ...) compiles when dataclasses calls it (its module has no future imports).
    return compile(text, "<string>", "exec", dont_inherit=True)


def _module_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    env = args[0] if args else kwargs.get("globals")
    return str(env.get("__name__", "")) if isinstance(env, dict) else ""


def _recorded(module: str) -> bool:
    return module.startswith("gatekeeper.") and not module.startswith(_SKIPPED)


def _table(module: str) -> dict[str, CodeType]:
    table = _tables.get(module)
    if table is None:
        try:
            table = decode_code(_packed.pop(module, ""))
        except ValueError:  # nothing (another module's class) or unreadable: compiled as usual
            table = {}
        _tables[module] = table
    return table


def _exec(source: Any, *args: Any, **kwargs: Any) -> Any:
    """``exec`` as ``dataclasses`` sees it once ``install`` ran: the stored code for a text it holds."""
    global hits, misses
    module = _module_of(args, kwargs)
    code = _table(module).get(source) if type(source) is str else None
    if code is None:
        misses += _recorded(module)  # another library's classes (and the CLI's...) are never recorded
        return builtins.exec(source, *args, **kwargs)
    hits += 1
    return builtins.exec(code, *args, **kwargs)


def record_here() -> bytes:
    """Import every module a host may load, recording the methods generated for gatekeeper's classes;
    ``{module: {text: compiled code}}``, marshalled. Run in a fresh interpreter (``record``): a class
    created before the recording started is missed."""
    import importlib
    import pkgutil

    import gatekeeper

    found: dict[str, set[str]] = {}

    def recording(source: Any, *args: Any, **kwargs: Any) -> Any:
        module = _module_of(args, kwargs)
        if type(source) is str and _recorded(module):
            found.setdefault(module, set()).add(source)
        return builtins.exec(source, *args, **kwargs)

    dataclasses.exec = recording  # type: ignore[attr-defined]
    try:
        for info in pkgutil.walk_packages(gatekeeper.__path__, "gatekeeper."):
            if info.name.startswith(_SKIPPED) or info.name.endswith(".__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except ImportError:  # an extra not installed here (an SDK): its classes compile at run time
                continue
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    return marshal.dumps({m: {t: _compile(t) for t in sorted(texts)} for m, texts in sorted(found.items())})


def record() -> dict[str, Any]:
    """The bundle's entry: the compiled methods recorded in a fresh interpreter, for this Python."""
    import os
    import subprocess
    from pathlib import Path

    # The child records this very package, wherever it was imported from.
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    code = "import sys; from gatekeeper._dataclass_code import record_here; sys.stdout.buffer.write(record_here())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=False, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"recording the dataclass methods failed: {out.stderr.decode(errors='replace')[-1500:]}")
    modules = marshal.loads(out.stdout)
    return {"python": PYTHON, "modules": {m: encode_code(t) for m, t in modules.items()}}


def install(entry: Any) -> int:
    """Use the bundle's compiled methods for the classes created from now on; for how many modules.
    ValueError (nothing installed) when this Python cannot use them."""
    if not isinstance(entry, dict) or not isinstance(entry.get("modules"), dict):
        raise ValueError("unreadable")
    if entry.get("python") != PYTHON:
        raise ValueError("compiled by another Python")
    modules = entry["modules"]
    if not all(type(k) is str and type(v) is str for k, v in modules.items()):
        raise ValueError("unreadable")
    _packed.update(modules)
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # dataclasses looks exec up in its globals first
    return len(modules)
