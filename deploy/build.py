"""Build the deploy bundle of one detective hook: the AWS Lambda zip, the Azure Functions zip, the Google
Cloud function source zip (docs/hooks.md, "Deploy bundles").

    python deploy/build.py aws|azure|gcp [OUT.zip] [PACK_PATH ...] [--arch arm64|x86_64]

(``deploy/<cloud>/build.sh`` runs this with ``$PYTHON``, default python3.) One implementation for the
three clouds; they differ only in the layout of the zip and in what is installed into it:

- aws: gatekeeper with the ``aws`` extra (its own boto3/botocore: docs/hooks.md says why) at the zip's
  root, which Lambda puts first on ``sys.path`` (``/var/task``); handler
  ``gatekeeper.hooks.aws_lambda.handler``.
- azure: ``function_app.py``, ``host.json``, ``requirements.txt`` at the root and gatekeeper with the
  ``azure`` extra and deploy/azure/requirements.txt in ``.python_packages/lib/site-packages``, where
  the Python worker finds them (a run-from-package app gets no remote build).
- gcp: ``main.py`` and gatekeeper itself (vendored: it is not on PyPI) at the root, and a
  ``requirements.txt`` that pins the rest of the ``gcp-hook`` extra, which Cloud Build installs for
  the function's own platform.

Reproducible: every dependency is pinned (``==``) to the version installed in the Python that builds
(the one the test suite ran with; pyproject.toml only gives lower bounds) unless the function's platform
has no wheel of that version; binary wheels only, for the platform of the function;
``gatekeeper-bundle.txt`` in the zip lists what it holds. The ``.pyc``
files are compiled as unchecked-hash (PEP 552): no source timestamps, which the zip does not keep
exactly (2-second DOS times), and which would otherwise make a read-only ``/var/task`` recompile every
module on every cold start. The zip's entries are sorted with fixed dates and modes.

The policy bundle (gatekeeper/policy/bundle.py) is built into the package as ``deploy/aws/build.sh``
always did: the packs validated now, their rules and gatekeeper's dataclass methods compiled for this
Python. So the building Python must be the function's (3.11): the script refuses another.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"  # the runtime of all three templates (template.yaml, azuredeploy.json, main.tf.json)
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
# A fixed date for every entry of the zip (the earliest a zip can hold).
EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Cloud:
    """What one cloud's bundle holds and where."""

    extras: str
    arch: str                  # the platform its functions run on (the template's)
    glibc: str                 # the C library of the function's Linux: wheels up to this manylinux
    site: str                  # where the packages go, relative to the zip's root
    files: tuple[str, ...]     # copied from deploy/<cloud>/ to the zip's root
    requirements: str = ""     # deploy/<cloud>/ file installed too (azure)
    vendored_only: bool = False  # gcp: only gatekeeper in the zip, the rest pinned in requirements.txt
    out: str = "gatekeeper-hook.zip"


# Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26); Azure Functions' Python 3.11 image on Debian
# (glibc 2.31 or later) and Cloud Functions' python311 on Ubuntu 22.04 (2.35): 2.28 for both, the newest
# manylinux tag wheels commonly carry.
CLOUDS = {
    "aws": Cloud("aws", "arm64", "2_26", "", (), out="gatekeeper-hook.zip"),
    "azure": Cloud("azure", "x86_64", "2_28", ".python_packages/lib/site-packages", ("function_app.py", "host.json"),
                   requirements="requirements.txt", out="gatekeeper-function.zip"),
    "gcp": Cloud("gcp-hook", "x86_64", "2_28", "", ("main.py",), vendored_only=True,
                 out="gatekeeper-gcp-function.zip"),
}


class BuildError(Exception):
    """The bundle cannot be built as asked (the message says why)."""

    def __init__(self, message: str, unavailable: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unavailable = unavailable


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def build_constraints() -> list[str]:
    """``name==version`` of every distribution of the building Python, gatekeeper itself excepted."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _name(name) != "gatekeeper":
            pins.setdefault(_name(name), dist.version)
    return [f"{n}=={v}" for n, v in sorted(pins.items())]


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"pip failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}",
                         unavailable=_unavailable(done.stdout + done.stderr))


def _unavailable(output: str) -> tuple[str, ...]:
    """The packages pip names as having no distribution for the target platform."""
    found = re.search(r"no matching distributions available for your environment:\s*\n((?:[ \t]+\S+\n?)+)", output)
    return tuple(_name(n) for n in found.group(1).split()) if found else ()


def _pip_pinned(constraints: Path, *args: str) -> None:
    """pip with the building Python's pins; a pin the function's platform has no wheel of (duckdb 2.0's
    x86_64 wheels need glibc 2.27, Lambda's Python 3.11 has 2.26) is dropped, with a warning: that
    package gets its newest version the platform has (and gatekeeper-bundle.txt records it)."""
    while True:
        try:
            _pip(*args)
            return
        except BuildError as exc:
            pins = constraints.read_text(encoding="utf-8").splitlines()
            lift = [p for p in pins if p.split("==")[0] in exc.unavailable]
            if not lift:
                raise
            for pin in lift:
                print(f"deploy/build.py: no {pin} for this platform: not pinned", file=sys.stderr)
            constraints.write_text("\n".join(p for p in pins if p not in lift) + "\n", encoding="utf-8")


def platform_tags(cloud: Cloud, arch: str) -> list[str]:
    """Every manylinux tag the function's glibc runs, newest first: pip matches ``--platform`` exactly,
    so a wheel tagged only ``manylinux_2_24`` would be missed by ``manylinux_2_26`` alone."""
    machine = MACHINES[arch]
    top = int(cloud.glibc.split("_")[1])
    tags = [f"manylinux_2_{m}_{machine}" for m in range(top, 16 if machine == "aarch64" else 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{machine}" for m, name in legacy.items() if f"manylinux_2_{m}_{machine}" in tags]


def _binary_args(platforms: list[str], constraints: Path) -> list[str]:
    return [*(a for p in platforms for a in ("--platform", p)), "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--constraint", str(constraints)]


def installed(site: Path) -> list[str]:
    """``name==version`` of every distribution installed in ``site`` (its .dist-info folders)."""
    pins = []
    for meta in site.glob("*.dist-info/METADATA"):
        dist = importlib.metadata.Distribution.at(meta.parent)
        pins.append(f"{_name(dist.metadata['Name'])}=={dist.version}")
    return sorted(pins)


def resolve(spec: str, platforms: list[str], constraints: Path) -> list[str]:
    """The pinned closure of ``spec`` on the function's platform, gatekeeper excepted (pip's report)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _pip_pinned(constraints, "install", "--dry-run", "--ignore-installed", "--report", str(report),
             "--target", str(Path(tmp) / "unused"), *_binary_args(platforms, constraints), spec)
        data = json.loads(report.read_text(encoding="utf-8"))
    pins = {_name(i["metadata"]["name"]): i["metadata"]["version"] for i in data["install"]}
    pins.pop("gatekeeper", None)
    return [f"{n}=={v}" for n, v in sorted(pins.items())]


def policy_bundle(package: Path, packs: list[str]) -> None:
    """The packs validated and compiled into ``package/gatekeeper/policy/bundle.json``, by this checkout's
    gatekeeper in the building Python (the package's own dependencies may be for another platform)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "gatekeeper.policy.bundle", "--out", str(package / "gatekeeper/policy/bundle.json"),
           str(package / "gatekeeper/_shipped_policies"), *packs]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise BuildError(f"the policy bundle failed: {done.stdout}{done.stderr}")
    print(done.stdout.strip(), file=sys.stderr)


def compile_all(root: Path) -> None:
    """Unchecked-hash .pyc files for every module (paths in them relative to the bundle's root)."""
    ok = compileall.compile_dir(str(root), quiet=1, stripdir=str(root), prependdir="",
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        raise BuildError(f"compiling the modules under {root} failed")


def write_zip(root: Path, out: Path) -> None:
    """``root`` as a zip with sorted entries, fixed dates, and modes Lambda can read (644/755)."""
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
            rel = path.relative_to(root).as_posix()
            if path.is_dir():
                info = zipfile.ZipInfo(rel + "/", EPOCH)
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(rel, EPOCH)
            info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)


def _commit() -> str:
    """The checkout's commit, ``+dirty`` when it has changes the commit does not hold; "unknown" outside git."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=False, capture_output=True,
                              text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               check=False, capture_output=True, text=True)
    except OSError:  # no git on the machine (an unpacked source tarball)
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def build(cloud_name: str, out: Path, packs: list[str], arch: str | None = None) -> Path:
    """Build one cloud's bundle into ``out``; returns ``out``."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise BuildError(f"build with Python {PYTHON_VERSION}, the functions' runtime (this is "
                         f"{sys.version.split()[0]}): the .pyc files and the bundle's compiled code are for the"
                         " Python that builds")
    cloud = CLOUDS[cloud_name]
    arch = arch or cloud.arch
    platforms = platform_tags(cloud, arch)
    deploy = ROOT / "deploy" / cloud_name
    with tempfile.TemporaryDirectory(prefix=f"gatekeeper-{cloud_name}-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(build_constraints()) + "\n", encoding="utf-8")
        root = Path(tmp) / "bundle"
        site = root / cloud.site
        site.mkdir(parents=True)
        for name in cloud.files:
            shutil.copy2(deploy / name, root / name)
        spec = f"{ROOT}[{cloud.extras}]"
        if cloud.vendored_only:
            # gatekeeper's own code beside main.py; its dependencies by name and version for Cloud Build.
            _pip("install", "--no-compile", "--no-deps", "--target", str(site), str(ROOT))
            pins = resolve(spec, platforms, constraints)
            (root / "requirements.txt").write_text(
                "# The function's dependencies, pinned by deploy/build.py (gatekeeper is vendored: gatekeeper/).\n"
                + "\n".join(pins) + "\n", encoding="utf-8")
        else:
            extra = ["-r", str(deploy / cloud.requirements)] if cloud.requirements else []
            _pip_pinned(constraints, "install", "--no-compile", "--no-warn-conflicts", "--target", str(site),
                 *_binary_args(platforms, constraints), spec, *extra)
            duckdb = [p for p in installed(site) if p.startswith("duckdb==")]
            if duckdb and int(duckdb[0].split("==")[1].split(".")[0]) < 2:
                # duckdb 1.x (what an x86_64 Lambda's glibc 2.26 gets) needs pytz to hand a TIMESTAMPTZ to
                # Python, which the audit log's sidecar of a closed segment does; 2.x uses zoneinfo.
                print(f"deploy/build.py: {duckdb[0]} for this platform: adding pytz", file=sys.stderr)
                _pip_pinned(constraints, "install", "--no-compile", "--no-warn-conflicts", "--target", str(site),
                            *_binary_args(platforms, constraints), "pytz")
            pins = [p for p in installed(site) if not p.startswith("gatekeeper==")]
            if cloud.requirements:  # what is in .python_packages, for the record (no remote build runs)
                (root / "requirements.txt").write_text(
                    "# Installed in .python_packages by deploy/build.py; listed for the record.\n"
                    + "\n".join(pins) + "\n", encoding="utf-8")
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts, with the builder's interpreter path
        for direct in site.glob("*.dist-info/direct_url.json"):  # the builder's checkout path
            direct.unlink()
        policy_bundle(site, packs)
        compile_all(root)
        (root / "gatekeeper-bundle.txt").write_text(
            f"# gatekeeper {cloud_name} bundle: Python {PYTHON_VERSION}, {platforms[0]} (and older), "
            f"source commit {_commit()}\n"
            + "\n".join([*(p for p in installed(site) if p.startswith("gatekeeper==")), *pins]) + "\n",
            encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_zip(root, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("cloud", choices=sorted(CLOUDS))
    parser.add_argument("out", nargs="?", help="the zip to write (default: ./gatekeeper-*.zip)")
    parser.add_argument("packs", nargs="*", help="your own pack files or folders, bundled beside the shipped packs")
    parser.add_argument("--arch", choices=sorted(MACHINES), help="the function's platform (default: the template's)")
    args = parser.parse_args(argv)
    out = Path(args.out or CLOUDS[args.cloud].out).resolve()
    try:
        build(args.cloud, out, list(args.packs), args.arch)
    except BuildError as exc:
        print(f"deploy/build.py: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
