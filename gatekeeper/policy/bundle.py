"""Packs validated when a function's package is built, so that its cold start needs no pydantic.

The bundle (its file: ``gatekeeper._prebuilt``) holds each validated pack keyed by the SHA-256 of its
pack file's bytes, and a fingerprint of the pack format's source (``schema.py``, ``plain.py``);
``python -m gatekeeper.policy.bundle [--out FILE] [PATH ...]`` builds it (``read_packs``: the
pydantic models, every check of ``gatekeeper policy validate``; default: the shipped packs, into
``gatekeeper/policy/bundle.json`` where a package built by deploy/aws/build.sh has it), with the shipped
data files parsed beside them. A function host (``load_policies`` when ``_log.in_function_host``)
reads its packs from the bundle (``$GATEKEEPER_POLICY_BUNDLE``, else that file) instead of validating
them, then compiles them as always: the catalog and country-group checks run on every cold start.

# INVARIANT: a bundle is used only when it vouches for exactly the files in force: its header digest
# matches its content (not edited or damaged), it was built by this version of the pack format
# (``validator``: schema.py and plain.py as they are now), and every pack file the configuration
# names has a bundled entry with its SHA-256 (a pack changed, added or renamed after the build is
# not in it). Otherwise the bundle is rejected (logged as ``policy.bundle_rejected``) and the files
# are read and validated as everywhere else, with the same errors: a bad bundle costs the cold start
# pydantic, never a pack that was not validated. No bundle at all: the same, without the warning.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gatekeeper import _prebuilt
from gatekeeper._log import get_logger
from gatekeeper._prebuilt import DEFAULT as DEFAULT
from gatekeeper._prebuilt import ENV_VAR as ENV_VAR
from gatekeeper._prebuilt import FORMAT as FORMAT
from gatekeeper._prebuilt import MAGIC as MAGIC
from gatekeeper._prebuilt import BundleError as BundleError
from gatekeeper._prebuilt import location as location
from gatekeeper.policy import plain

log = get_logger("gatekeeper.policy")

# What decides whether a bundle's packs are still what validation gives: the format and its form.
_VALIDATOR_SOURCES = ("schema.py", "plain.py")


def validator_fingerprint() -> str:
    """SHA-256 over the pack format's source (the models that validate, the form the host builds)."""
    h = hashlib.sha256()
    for name in _VALIDATOR_SOURCES:
        try:
            h.update(Path(__file__).with_name(name).read_bytes())
        except OSError as exc:  # a package without sources: no bundle can be vouched for
            raise BundleError(f"cannot read {name} to check the bundle: {exc.strerror or exc}") from None
        h.update(b"\0")
    return h.hexdigest()


def build(paths: Iterable[str | Path], *, dataclass_code: dict[str, Any] | None = None,
          rule_code: bool = False) -> bytes:
    """A bundle of every pack under ``paths``, validated by ``read_packs`` (PolicyError as it raises),
    and of the shipped data files (the catalog's and the jurisdictions', parsed as their modules do);
    with ``dataclass_code`` (``gatekeeper._dataclass_code.record()``: ``main`` records it, a few
    seconds in a child interpreter) the compiled methods of gatekeeper's dataclasses too, and with
    ``rule_code`` the packs' rules compiled into code (``compiled.recorded_rule_code``)."""
    from gatekeeper.catalog._catalog import _read_yaml
    from gatekeeper.jurisdictions import DATA_DIR
    from gatekeeper.policy.loader import read_packs

    entries = []
    for pack, file in read_packs(list(paths)):
        entries.append({"sha256": hashlib.sha256(Path(file).read_bytes()).hexdigest(), "file": Path(file).name,
                        "pack": pack.model_dump(mode="json")})  # its test cases too
    data: dict[str, Any] = {}
    for f in sorted(DATA_DIR.glob("*.yaml")):  # both modules read with the same safe (C) loader
        try:
            text = _prebuilt.document_text(_read_yaml(f))
        except TypeError:  # JSON cannot hold it alike: that file is parsed at run time
            continue
        data[hashlib.sha256(f.read_bytes()).hexdigest()] = {"file": f.name, "doc": text}
    body: dict[str, Any] = {"validator": validator_fingerprint(), "packs": entries, "data": data}
    if dataclass_code is not None:
        body["dataclass_code"] = dataclass_code
    if rule_code:  # compiled from the packs as a host has them: the plain form of each
        from gatekeeper.policy.compiled import recorded_rule_code

        packs = [(plain.from_data(e["pack"], str(e["file"])), str(e["file"])) for e in entries]
        body["rule_code"] = {"python": _prebuilt.PYTHON, "code": _prebuilt.encode_code(recorded_rule_code(packs))}
    return _prebuilt.encode(body)


def entries(data: dict[str, Any]) -> dict[str, Any]:
    """A checked bundle body's packs by pack file SHA-256; BundleError when they are of another format."""
    try:
        if data["validator"] != validator_fingerprint():
            raise BundleError("built by another version of the pack format (rebuild it with this gatekeeper)")
        return {e["sha256"]: e for e in data["packs"]}
    except (KeyError, TypeError) as exc:
        raise BundleError(f"unreadable: {type(exc).__name__}: {exc}") from None


def packs_from(by_digest: dict[str, Any], files: Sequence[Path], *,
               cases: bool = True) -> list[tuple[plain.Pack, str]]:
    """The bundled pack of each file, in order (with its test cases unless ``cases`` is false);
    BundleError when a file has none, or its data is bad."""
    out: list[tuple[plain.Pack, str]] = []
    for f in files:
        try:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError as exc:
            raise BundleError(f"cannot read {f}: {exc.strerror or exc}") from None
        entry = by_digest.get(digest)
        if entry is None:
            raise BundleError(f"{f} is not in it (changed or added since the bundle was built)")
        try:
            out.append((plain.from_data(entry["pack"], f"{f.name} in the bundle", cases=cases), str(f)))
        except (plain.DataError, KeyError, TypeError) as exc:
            raise BundleError(str(exc)) from None
    return out


def bundled_packs(paths: Sequence[str | Path], *, cases: bool = True) -> list[tuple[plain.Pack, str]] | None:
    """The packs under ``paths`` from the bundle (with their test cases unless ``cases`` is false),
    or None: no bundle, or one that cannot vouch for them (logged: ``bundle_rejected`` for the file,
    ``policy.bundle_rejected`` for its packs), or files the usual reader must judge (none, a pack id
    twice)."""
    data = _prebuilt.body()  # read and checked once per process for the packs and the data files
    if data is None:
        return None
    from gatekeeper.policy.files import pack_files

    try:
        files = pack_files(paths)
    except Exception:  # a path that does not exist: the usual reader says so
        return None
    try:
        packs = packs_from(entries(data), files, cases=cases)
    except BundleError as exc:
        log.warning("policy.bundle_rejected", bundle=str(location()), reason=str(exc))
        return None
    if not packs or len({p.id for p, _ in packs}) != len(packs):
        return None
    _use_rule_code(data)
    return packs


def packs_in(bundle_file: Path, paths: Sequence[str | Path]) -> list[tuple[plain.Pack, str]]:
    """The packs under ``paths`` from the bundle ``bundle_file``, in or out of a function host (what
    ``gatekeeper policy test --bundle`` tests); PolicyError naming the bundle when it cannot vouch for
    exactly these files, as the reader's errors for the files themselves (none, a pack id twice)."""
    from gatekeeper.errors import PolicyError
    from gatekeeper.policy.files import pack_files

    files = pack_files(paths)
    try:
        packs = packs_from(entries(_prebuilt.decode(bundle_file.read_bytes())), files)
    except OSError as exc:
        raise PolicyError(f"cannot read the bundle: {exc.strerror or exc}", file=str(bundle_file)) from None
    except BundleError as exc:
        raise PolicyError(f"the bundle cannot be used: {exc}", file=str(bundle_file)) from None
    if not packs or len({p.id for p, _ in packs}) != len(packs):
        from gatekeeper.policy.loader import read_packs

        read_packs(paths)  # raises the reader's error for these files
    return packs


def _use_rule_code(data: dict[str, Any]) -> None:
    """The bundle's compiled rules, for the packs it vouched for (a bundle of another Python: logged,
    the rules are compiled from their text as without it)."""
    entry = data.get("rule_code")
    if entry is None:
        return
    from gatekeeper.policy.compiled import use_rule_code

    try:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            raise ValueError("unreadable")
        if entry.get("python") != _prebuilt.PYTHON:
            raise ValueError("compiled by another Python")
        use_rule_code(_prebuilt.decode_code(entry["code"]))
    except ValueError as exc:
        log.warning("policy.bundle_code_unused", bundle=str(location()), reason=str(exc))


def main(argv: list[str] | None = None) -> int:
    import argparse  # not with the module: a function host imports it for its packs

    ap = argparse.ArgumentParser(prog="python -m gatekeeper.policy.bundle",
                                 description="Validate policy packs and write them as a bundle for function hosts.")
    ap.add_argument("paths", nargs="*", type=Path, help="pack files or folders (default: the shipped packs)")
    ap.add_argument("--out", type=Path, default=DEFAULT, help=f"the bundle to write (default: {DEFAULT})")
    args = ap.parse_args(argv)
    from gatekeeper import _dataclass_code
    from gatekeeper.errors import PolicyError
    from gatekeeper.policy import shipped_policies_dir

    try:
        data = build(args.paths or [shipped_policies_dir()], dataclass_code=_dataclass_code.record(), rule_code=True)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    body = json.loads(data.partition(b"\n")[2])
    print(f"{args.out}: {len(body['packs'])} packs validated and bundled, {len(body['data'])} data files parsed, "
          "the rules and the dataclasses' methods compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
