"""What a cold start imports: the Lambda module and the package import no runtime, SDK or heavy library.

Each check runs in a fresh interpreter (this test process has everything loaded already). The time it
takes is measured by bench/bench_hook_cold_start.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pydantic", "structlog", "rich", "yaml", "cryptography", "boto3", "botocore", "duckdb", "orjson", "sqlite3")


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("statement", ["import gatekeeper", "import gatekeeper.hooks.aws_lambda",
                                       "from gatekeeper.hooks.aws_lambda import handler"])
def test_importing_loads_no_runtime_and_no_heavy_library(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []
    runtime = ("gatekeeper.runtime", "gatekeeper.service", "gatekeeper.config", "gatekeeper.engine",
               "gatekeeper.policy", "gatekeeper.catalog", "gatekeeper.stores", "gatekeeper.audit")
    assert [m for m in loaded if m.startswith(runtime)] == []


def test_the_public_names_load_what_they_need_on_first_use() -> None:
    loaded = _loaded_after("import gatekeeper\nassert callable(gatekeeper.current)")
    assert "gatekeeper.runtime" in loaded and "gatekeeper.service" in loaded
    loaded = _loaded_after("import gatekeeper\nassert callable(gatekeeper.acting_for)")
    assert "gatekeeper.context" in loaded and "gatekeeper.runtime" not in loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    import gatekeeper

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gatekeeper.nope  # noqa: B018 - the lookup is the test
    assert "current" in dir(gatekeeper) and "aws" in dir(gatekeeper)


def test_the_package_alone_imports_nothing_of_its_own() -> None:
    # The model (a dataclass module) comes with its first name: the CLI's read commands never use it.
    loaded = _loaded_after("import gatekeeper")
    assert [m for m in loaded if m.startswith("gatekeeper.")] == []
    assert "dataclasses" not in loaded


def test_every_public_name_resolves_in_a_fresh_process() -> None:
    # Each name on its own (no other name's import warming the module for it), as `from ... import`
    # and as `import *`, and each is the defining module's object.
    code = """
import importlib, json, subprocess, sys
import gatekeeper
names = list(gatekeeper.__all__) + ["aws", "azure", "gcp", "model"]
for name in names:
    out = subprocess.run([sys.executable, "-c", f"from gatekeeper import {name} as x; print(x is not None)"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "True", (name, out.stderr[-800:])
ns = {}
exec("from gatekeeper import *", ns)
assert sorted(k for k in ns if not k.startswith("__builtins__")) == sorted(gatekeeper.__all__)
for name, (module, attr) in gatekeeper._LAZY.items():
    m = importlib.import_module(module)
    assert getattr(gatekeeper, name) is (m if attr is None else getattr(m, attr)), name
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
