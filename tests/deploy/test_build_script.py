"""deploy/build.py's parts that need no pip: in step with the templates' runtimes and platforms, the zip
it writes (sorted, fixed dates, readable modes: the same bytes from the same files), and how it reads
pip's "no distribution for this platform" answer. The builds themselves: tests/deploy/test_bundles.py."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gatekeeper_deploy_build", ROOT / "deploy" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_builder_targets_the_templates_runtime_and_platforms() -> None:
    from cfnlint.decode import decode

    b = builder()
    template, errors = decode(str(ROOT / "deploy" / "aws" / "template.yaml"))
    assert not errors and template is not None
    [fn] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert fn["Properties"]["Runtime"] == "python" + b.PYTHON_VERSION
    assert list(fn["Properties"]["Architectures"]) == [b.CLOUDS["aws"].arch]
    azure = (ROOT / "deploy" / "azure" / "azuredeploy.json").read_text(encoding="utf-8")
    assert f'"linuxFxVersion": "Python|{b.PYTHON_VERSION}"' in azure and b.CLOUDS["azure"].arch == "x86_64"
    gcp = json.loads((ROOT / "deploy" / "gcp" / "main.tf.json").read_text(encoding="utf-8"))
    [function] = gcp["resource"]["google_cloudfunctions2_function"].values()
    assert function["build_config"]["runtime"] == "python" + b.PYTHON_VERSION.replace(".", "")
    # Each cloud's own files exist where the builder copies them from.
    for name, cloud in b.CLOUDS.items():
        assert all((ROOT / "deploy" / name / f).is_file() for f in cloud.files)
        script = ROOT / "deploy" / name / "build.sh"
        assert script.is_file() and os.access(script, os.X_OK)


def test_the_zip_is_the_same_bytes_for_the_same_files_with_readable_modes(tmp_path: Path) -> None:
    b = builder()
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("x = 1\n", encoding="utf-8")
    (src / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (src / "run").write_text("#!/bin/sh\n", encoding="utf-8")
    os.chmod(src / "run", 0o700)
    os.chmod(src / "pkg" / "mod.py", 0o600)  # umask 077 on the builder: Lambda could not read it
    b.write_zip(src, tmp_path / "a.zip")
    time.sleep(1.1)
    os.utime(src / "pkg" / "mod.py")  # another build, other file times
    b.write_zip(src, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and "pkg/" in names
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["pkg/mod.py"] == 0o644 and modes["run"] == 0o755 and modes["pkg/"] == 0o755
    assert {i.date_time for i in infos} == {b.EPOCH}


PIP_NO_WHEEL = """ERROR: Cannot install None because these package versions have conflicting dependencies.

The conflict is caused by:
    gatekeeper 0.1.0 depends on duckdb>=1.0
    The user requested (constraint) duckdb==2.0.1

Additionally, some packages in these conflicts have no matching distributions available for your environment:
    duckdb
    RapidFuzz

To fix this you could try to:
"""


@pytest.mark.parametrize("output, names", [
    (PIP_NO_WHEEL, ("duckdb", "rapidfuzz")),
    ("ERROR: No matching distribution found for nosuchpackage==1.0\n", ()),
    ("", ()),
])
def test_the_packages_pip_has_no_wheel_of_for_the_platform(output: str, names: tuple[str, ...]) -> None:
    assert builder()._unavailable(output) == names


def test_another_python_than_the_runtimes_is_refused(tmp_path: Path) -> None:
    b = builder()
    if f"{sys.version_info.major}.{sys.version_info.minor}" == b.PYTHON_VERSION:
        b.PYTHON_VERSION = "3.99"  # the module's own constant, as a build for another runtime would have it
    with pytest.raises(b.BuildError, match=r"build with Python 3\.\d+, the functions' runtime"):
        b.build("aws", tmp_path / "x.zip", [])
    assert not (tmp_path / "x.zip").exists()


def test_the_platform_tags_are_every_manylinux_the_functions_glibc_runs() -> None:
    b = builder()
    aws = b.platform_tags(b.CLOUDS["aws"], "arm64")  # Amazon Linux 2: glibc 2.26
    assert aws[0] == "manylinux_2_26_aarch64" and "manylinux_2_24_aarch64" in aws and "manylinux2014_aarch64" in aws
    assert "manylinux_2_27_aarch64" not in aws and all(t.endswith("_aarch64") for t in aws)
    azure = b.platform_tags(b.CLOUDS["azure"], "x86_64")
    assert azure[0] == "manylinux_2_28_x86_64" and {"manylinux2014_x86_64", "manylinux1_x86_64"} <= set(azure)
