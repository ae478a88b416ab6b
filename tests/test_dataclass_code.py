"""The dataclass methods a function's bundle carries compiled are the ones ``dataclasses`` makes.

Two fresh interpreters import every module a host may load: one compiles the methods as usual, the
other with the recorded code installed; every method of every gatekeeper dataclass must come out the
same (its code, compared field by field and recursively, its defaults, annotations and names), and the
second must have compiled none of them itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatekeeper import _dataclass_code, _prebuilt

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import dataclasses, importlib, json, pkgutil, re, sys
from types import CodeType
from gatekeeper import _dataclass_code, _prebuilt
if sys.argv[1] != "-":
    _dataclass_code.install(json.load(open(sys.argv[1])))
import gatekeeper
for info in pkgutil.walk_packages(gatekeeper.__path__, "gatekeeper."):
    if info.name.startswith(_dataclass_code._SKIPPED) or info.name.endswith(".__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except ImportError:
        continue

def r(x):  # repr without addresses, which differ from process to process
    return re.sub(r" at 0x[0-9a-f]+", "", repr(x))

def shape(x):
    if isinstance(x, CodeType):
        skip = ("co_lines", "co_positions", "co_lnotab")  # methods, or derived from co_linetable
        return {k: shape(getattr(x, k)) for k in dir(x) if k.startswith("co_") and k not in skip}
    if isinstance(x, tuple):
        return [shape(v) for v in x]
    return r(x)

out = {}
for name, module in sorted(sys.modules.items()):
    if not name.startswith("gatekeeper.") or name.startswith(_dataclass_code._SKIPPED):
        continue
    for cls in list(vars(module).values()):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == name):
            continue
        for meth in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
            fn = cls.__dict__.get(meth)
            if fn is None or not hasattr(fn, "__code__"):
                continue
            out[f"{name}.{cls.__qualname__}.{meth}"] = {
                "code": shape(fn.__code__), "qualname": fn.__qualname__, "defaults": r(fn.__defaults__),
                "kwdefaults": r(fn.__kwdefaults__), "annotations": r(fn.__annotations__),
                "globals": fn.__globals__.get("__name__"),
            }
print(json.dumps({"methods": out, "hits": _dataclass_code.hits, "misses": _dataclass_code.misses}))
"""


@functools.cache
def _recorded() -> dict[str, Any]:
    return _dataclass_code.record()


def _methods(code_file: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, code_file], capture_output=True, text=True, check=False,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.slow
def test_the_recorded_methods_are_those_dataclasses_compiles(tmp_path: Path) -> None:
    entry = tmp_path / "code.json"
    entry.write_text(json.dumps(_recorded()), encoding="utf-8")
    plain, cached = _methods("-"), _methods(str(entry))
    assert len(plain["methods"]) > 300  # the model, the specs, the stores, the audit log...
    assert cached["methods"] == plain["methods"]
    assert cached["misses"] == 0 and cached["hits"] > 300


def test_the_entry_holds_only_code_compiled_by_this_python_from_gatekeepers_classes() -> None:
    entry = _recorded()
    assert entry["python"] == _prebuilt.PYTHON
    modules = entry["modules"]
    assert "gatekeeper.model" in modules and "gatekeeper.providers._spec" in modules
    assert not [m for m in modules if not m.startswith("gatekeeper.") or m.startswith(_dataclass_code._SKIPPED)]
    table = _prebuilt.decode_code(modules["gatekeeper.model"])
    assert table and all(code == compile(text, "<string>", "exec", dont_inherit=True) for text, code in table.items())


@pytest.mark.parametrize("entry, reason", [
    ({"python": "00000d0a", "modules": {}}, "another Python"),
    ({"python": _prebuilt.PYTHON}, "unreadable"),
    ({"python": _prebuilt.PYTHON, "modules": {"gatekeeper.model": 3}}, "unreadable"),
    ("not an entry", "unreadable"),
])
def test_an_entry_this_python_cannot_use_installs_nothing(entry: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _dataclass_code.install(entry)
    assert "exec" not in vars(dataclasses)  # dataclasses still compiles with the builtin


def test_a_damaged_module_table_is_compiled_as_usual() -> None:
    for packed in ("", "!!!", "aGVsbG8="):  # empty, not base64, not marshal data
        with pytest.raises(ValueError, match="unreadable"):
            _prebuilt.decode_code(packed)
