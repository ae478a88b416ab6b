"""What a function's package carries pre-built: the bundle file, read and checked here for every layer.

``python -m gatekeeper.policy.bundle`` (run by deploy/aws/build.sh) writes one file, by default
``gatekeeper/policy/bundle.json`` inside the package (``$GATEKEEPER_POLICY_BUNDLE`` elsewhere)::

    gatekeeper-policy-bundle 2 sha256:<digest of the rest of the file>
    {"validator": ..., "packs": [...], "data": {"<SHA-256 of a data file>": {"file": ..., "doc": "<JSON>"}},
     "dataclass_code": {"python": "<bytecode magic>", "modules": {"<module>": "<encode_code>"}},
     "rule_code": {"python": "<bytecode magic>", "code": "<encode_code>"}}

``packs`` are the validated policy packs (``gatekeeper.policy.bundle`` reads them); ``data`` the
shipped YAML data files (the catalog's, the jurisdictions' and regions') as libyaml parsed them,
dates tagged (``{"$date": "2025-01-15"}``), so that a function host's cold start imports and runs no
YAML parser: :func:`document` gives a data file's document when the bundle holds the SHA-256 of the
file's bytes as they are now, and the caller parses the file otherwise. ``dataclass_code`` (optional)
the compiled methods of gatekeeper's dataclasses (``gatekeeper._dataclass_code``), installed by
:func:`install_dataclass_code` before a handler's imports; ``rule_code`` (optional) the packs' rules
compiled (``policy.compiled.recorded_rule_code``), used with the packs (``policy.bundle``). Both are
tables from a source text to the code compiled from it (:func:`encode_code`), for one Python.

# INVARIANT: nothing from a bundle is used unless its header digest matches its content; a data
# document only for the exact bytes it was parsed from; only in a function host
# (``_log.in_function_host``). A bundle that cannot be used is logged once (``bundle_rejected``),
# never fatal: the caller reads the source files as everywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, datetime
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

from gatekeeper._log import get_logger, in_function_host

log = get_logger("gatekeeper.bundle")

MAGIC = "gatekeeper-policy-bundle"
FORMAT = 2
ENV_VAR = "GATEKEEPER_POLICY_BUNDLE"
DEFAULT = Path(__file__).parent / "policy" / "bundle.json"
MISSING: Any = object()
# The bytecode version compiled code in a bundle is for: no other Python uses it.
PYTHON = MAGIC_NUMBER.hex()


class BundleError(ValueError):
    """Why a bundle cannot be used."""


def location() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT)


def _tagged(o: Any) -> Any:
    if isinstance(o, datetime):
        return {"$datetime": o.isoformat()}
    if isinstance(o, date):
        return {"$date": o.isoformat()}
    raise TypeError(f"{type(o).__name__} is not JSON")


def _untagged(o: dict[str, Any]) -> Any:
    if len(o) == 1:
        if "$date" in o:
            return date.fromisoformat(o["$date"])
        if "$datetime" in o:
            return datetime.fromisoformat(o["$datetime"])
    return o


def document_text(doc: Any) -> str:
    """A data document as a bundle keeps it (JSON, dates tagged); TypeError when JSON cannot keep it."""
    text = json.dumps(doc, default=_tagged, allow_nan=False, separators=(",", ":"))
    if json.loads(text, object_hook=_untagged) != doc:  # a key that is not a string, say
        raise TypeError("the document does not survive JSON")
    return text


def encode(body: dict[str, Any]) -> bytes:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=_tagged, allow_nan=False).encode()
    return f"{MAGIC} {FORMAT} sha256:{hashlib.sha256(raw).hexdigest()}\n".encode() + raw


def decode(raw: bytes) -> dict[str, Any]:
    """A bundle's body; BundleError when it is damaged, edited or of another format."""
    header, sep, body = raw.partition(b"\n")
    parts = header.decode("ascii", errors="replace").split(" ")
    if not sep or len(parts) != 3 or parts[0] != MAGIC:
        raise BundleError("not a policy bundle")
    if parts[1] != str(FORMAT):
        raise BundleError(f"bundle format {parts[1]}, this gatekeeper reads {FORMAT}")
    if parts[2] != "sha256:" + hashlib.sha256(body).hexdigest():
        raise BundleError("its content does not match its digest (edited or damaged)")
    try:
        data = json.loads(body, object_hook=_untagged)
    except ValueError as exc:
        raise BundleError(f"unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError("unreadable: not an object")
    return data


_cache: tuple[bytes, dict[str, Any] | None] | None = None


def body() -> dict[str, Any] | None:
    """The bundle's checked body (decoded once per content of the file); None without a usable bundle."""
    global _cache
    where = location()
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("bundle_rejected", bundle=str(where), reason=f"unreadable: {exc.strerror or exc}")
        return None
    if _cache is not None and _cache[0] == raw:
        return _cache[1]
    found: dict[str, Any] | None
    try:
        found = decode(raw)
    except BundleError as exc:
        log.warning("bundle_rejected", bundle=str(where), reason=str(exc))
        found = None
    _cache = (raw, found)
    return found


def document(path: Path) -> Any:
    """The bundled document of the data file ``path`` as its bytes are now, or MISSING (not a function
    host, no bundle, or not these bytes: parse the file)."""
    if not in_function_host():
        return MISSING
    data = body()
    docs = data.get("data") if data is not None else None
    if not isinstance(docs, dict):
        return MISSING
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return MISSING  # the caller's reading reports it
    entry = docs.get(digest)
    if not isinstance(entry, dict) or not isinstance(entry.get("doc"), str):
        return MISSING
    return json.loads(entry["doc"], object_hook=_untagged)  # new objects for every caller


def encode_code(table: dict[str, CodeType]) -> str:
    """A source text -> compiled code table as a bundle keeps it: marshalled, compressed (a sixth of
    the size: the bundle's digest and JSON then cost less than inflating it), base64."""
    import base64
    import marshal
    import zlib

    return base64.b64encode(zlib.compress(marshal.dumps(table), 9)).decode("ascii")


def decode_code(packed: str) -> dict[str, CodeType]:
    """``encode_code``'s table back; ValueError when ``packed`` is not one."""
    import base64
    import binascii
    import marshal
    import zlib

    try:
        table = marshal.loads(zlib.decompress(base64.b64decode(packed, validate=True)))
    except (binascii.Error, zlib.error, ValueError, EOFError, TypeError) as exc:
        raise ValueError(f"unreadable: {exc}") from None
    if not isinstance(table, dict) or not all(type(k) is str and type(v) is CodeType for k, v in table.items()):
        raise ValueError("unreadable: not a table of compiled code")
    return table


def install_dataclass_code() -> None:
    """In a function host whose bundle carries them, the compiled methods of gatekeeper's dataclasses
    (``gatekeeper._dataclass_code``): the classes created afterwards do not compile them again. A
    bundle without them, or built by another Python, changes nothing (the latter is logged)."""
    if not in_function_host():
        return
    data = body()
    entry = data.get("dataclass_code") if data is not None else None
    if entry is None:
        return
    from gatekeeper import _dataclass_code

    try:
        _dataclass_code.install(entry)
    except ValueError as exc:
        log.warning("bundle_code_unused", bundle=str(location()), reason=str(exc))
