"""The configuration file read without pydantic: what function hosts (Lambda, Azure, Google) run on.

``gatekeeper.config`` validates the TOML file with pydantic models; importing pydantic and building
those models was about a third of a Lambda's cold start. :func:`read_config` reads the same file into
the frozen records below (``_record``: dataclasses' shape, without the code a dataclass compiles
when its class is created): the same sections, fields, defaults, methods and values as the models
(``Config``, ``StoreConfig``...), built from the file's TOML types directly.

It never decides differently from the models, and never words an error differently, because it
decides only what it is sure of: a value of exactly the TOML type the field takes (an int for a
float field too, as pydantic converts it), within the field's bounds and pattern, and passing the
field's check (the functions below, which the models' validators call as well: one implementation).
Anything else -- an unknown key, a string where a number goes, a bound crossed, a failed check, a
notification channel (whose sender needs the models) -- is handed to the models
(``gatekeeper.config.validate``): their value, or their ``ConfigError``, is the answer. An unusual
file so costs pydantic's import, never a different result.

# INVARIANT: read_config(p) returns a configuration equal, field by field, to load_config(p), or
# raises the same ConfigError. tests/test_config_reader.py holds the fields, defaults, types, bounds
# and patterns equal to the models' (a field added to a model and not here fails it) and runs
# generated configurations through both.

The objects are typed as ``gatekeeper.config.Config`` for the runtime they are handed to: they have
its fields and its methods (``resolve``, ``provider_accounts``, ``policy_paths``: the mixins below,
shared with the models), not pydantic's (``model_copy``...), which nothing on a function host's path
calls.
"""

# No ``from __future__ import annotations``: the reader walks the fields' real types.

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args, get_origin

from gatekeeper._record import Record, fields, is_record, replaced, spec
from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from gatekeeper import config as models

ENV_VAR = "GATEKEEPER_CONFIG"
DEFAULT_HOME = Path(".gatekeeper")
DEFAULT_STORE_URL = "sqlite:///.gatekeeper/state.db"
WEB_ROLES: tuple[str, ...] = ("requester", "reviewer", "auditor")
EVENT_KINDS: tuple[str, ...] = ("case.opened", "case.deadline", "licence.expiring", "licence.low")


# -- the fields' checks (the models' validators call these too) -----------------------------------
def check_trusted_keys(v: list[str]) -> list[str]:
    for key in v:
        if key.strip().lower().startswith("ed25519:"):
            from gatekeeper.audit.witness import check_fingerprint
            from gatekeeper.errors import AuditError

            try:
                check_fingerprint(key)
            except AuditError as exc:
                raise ValueError(str(exc)) from None
        elif not key.strip():
            raise ValueError("a trusted key must be an ed25519:<64 hex> fingerprint or a PEM file path")
    return v


def check_witness(v: str) -> str:
    if v not in ("store", "none") and not v.startswith("s3://"):
        raise ValueError(f"witness must be 'store', 'none' or an s3://BUCKET/PREFIX URL, not {v!r}")
    return v


def check_origins(v: list[str]) -> list[str]:
    for origin in v:
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ValueError(f"origin {origin!r} must be scheme://host[:port] (http or https, no path)")
    return [o.lower() for o in v]


def check_tokens(v: dict[str, str]) -> dict[str, str]:
    for token, entry in v.items():
        if not token or token != token.strip():
            raise ValueError("a token must be non-empty and have no surrounding spaces")
        name, _, role = entry.strip().rpartition(":")
        if role not in WEB_ROLES:
            raise ValueError(f"token role {role!r} must be one of {', '.join(WEB_ROLES)} (as NAME:ROLE or ROLE)")
        if ":" in entry and not name.strip():
            raise ValueError(f"token {entry!r}: the name before ':' must not be empty")
    return v


# -- methods shared by the models and the records ---------------------------------------------
class ConfigMethods:
    """``Config``'s methods, for the pydantic model and the record alike."""

    __slots__ = ()
    if TYPE_CHECKING:  # the fields it reads (the sections' classes differ: typed loosely)
        base_dir: str
        policies: list[str]
        aws: Any
        azure: Any
        gcp: Any

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def provider_accounts(self) -> dict[str, frozenset[str]]:
        """Each provider's own accounts / subscriptions / projects (``[aws|azure|gcp] provider_accounts``)."""
        return {"aws": frozenset(a.strip() for a in self.aws.provider_accounts),
                "azure": frozenset(a.strip().lower() for a in self.azure.provider_accounts),
                "gcp": frozenset(a.strip() for a in self.gcp.provider_accounts)}

    def policy_paths(self) -> list[Path]:
        from gatekeeper.policy import shipped_policies_dir

        return [self.resolve(p) for p in self.policies] if self.policies else [shipped_policies_dir()]


class NotifyMethods:
    """``NotifyConfig``'s methods, for the pydantic model and the record alike."""

    __slots__ = ()
    if TYPE_CHECKING:
        webhooks: list[Any]
        email: Any
        sns: Any

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks or self.email or self.sns)


# -- the sections: the models' fields as records ----------------------------------------------
# A field's metadata: the model's ``Field(...)`` bounds (gt, ge, lt, le, pattern), its validator
# (``check``), or ``models_only`` (any value but the default is handed to the models).
class StoreConfig(Record):
    url: str = DEFAULT_STORE_URL
    create: bool = False
    timeout_seconds: float = spec(5.0, gt=0, le=300)


class AuditConfig(Record):
    url: str = "file://.gatekeeper/audit"
    record_all: bool = False
    signing_key: str = ".gatekeeper/audit-signing-key.pem"
    segment_max_bytes: int = 64 * 1024 * 1024
    segment_max_seconds: int = 3600
    log_id: str = spec("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$")
    trusted_keys: list[str] = spec(factory=list, check=check_trusted_keys)
    witness: str = spec("store", check=check_witness)
    witness_interval_seconds: float = spec(60.0, gt=0, le=60)
    witness_retention_days: int = spec(2555, ge=1)


class WorkflowConfig(Record):
    approvals_required: int = spec(1, ge=1, le=2)


class ScreeningConfig(Record):
    threshold: float = spec(88.0, ge=0, le=100)
    workers: int = spec(0, ge=0, le=256)


class HooksConfig(Record):
    on_flag: Literal["none", "tag"] = "tag"
    on_pending: Literal["none", "tag", "stop"] = "stop"
    on_deny: Literal["none", "tag", "stop", "terminate"] = "terminate"
    on_error: Literal["none", "tag", "stop", "terminate"] = "stop"
    account_map: dict[str, str] = spec(factory=dict)
    ignore_principals: list[str] = spec(factory=list)
    aws_role: str = ""


class WebConfig(Record):
    host: str = "127.0.0.1"
    port: int = spec(8765, ge=0, le=65535)
    tokens: dict[str, str] = spec(factory=dict, check=check_tokens)
    max_body_bytes: int = spec(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    origins: list[str] = spec(factory=list, check=check_origins)


class AwsConfig(Record):
    resolver_ttl_seconds: float = 60.0
    provider_accounts: list[str] = spec(factory=list)


class AzureConfig(Record):
    provider_accounts: list[str] = spec(factory=list)


class GcpConfig(Record):
    provider_accounts: list[str] = spec(factory=list)


class NotifyConfig(Record, NotifyMethods):
    console_url: str = ""
    events: list[Literal["case.opened", "case.deadline", "licence.expiring", "licence.low"]] = spec(
        factory=lambda: list(EVENT_KINDS))
    # A channel is read by the models (its sender uses them): a function host that notifies pays for them.
    webhooks: list[Any] = spec(factory=list, models_only=True)
    email: Any = spec(None, models_only=True)
    sns: Any = spec(None, models_only=True)
    case_deadline_hours: float = spec(72.0, gt=0)
    case_warning_hours: float = spec(24.0, ge=0)
    licence_expiry_days: int = spec(30, ge=0)
    licence_low_fraction: float = spec(0.1, ge=0, lt=1)
    retries: int = spec(4, ge=0, le=20)
    backoff_seconds: float = spec(1.0, ge=0)
    backoff_max_seconds: float = spec(60.0, ge=0)
    scan_interval_seconds: float = spec(300.0, gt=0)
    state_file: str = ".gatekeeper/notify-sent.json"


class Config(Record, ConfigMethods):
    mode: Literal["enforce", "shadow"] = "enforce"
    on_error: Literal["deny", "allow"] = "deny"
    policies: list[str] = spec(factory=list)
    store: StoreConfig = spec(factory=StoreConfig)
    audit: AuditConfig = spec(factory=AuditConfig)
    workflow: WorkflowConfig = spec(factory=WorkflowConfig)
    screening: ScreeningConfig = spec(factory=ScreeningConfig)
    hooks: HooksConfig = spec(factory=HooksConfig)
    web: WebConfig = spec(factory=WebConfig)
    aws: AwsConfig = spec(factory=AwsConfig)
    azure: AzureConfig = spec(factory=AzureConfig)
    gcp: GcpConfig = spec(factory=GcpConfig)
    notify: NotifyConfig = spec(factory=NotifyConfig)
    base_dir: str = "."


# -- reading ---------------------------------------------------------------------------------------
class _Unsure(Exception):
    """A value the models must judge (their value or their error is the answer)."""


def _bounded(meta: Any, v: Any) -> None:
    # Written as "not (v > x)" so that a NaN fails every bound, as it does in pydantic.
    if "gt" in meta and not v > meta["gt"]:
        raise _Unsure
    if "ge" in meta and not v >= meta["ge"]:
        raise _Unsure
    if "lt" in meta and not v < meta["lt"]:
        raise _Unsure
    if "le" in meta and not v <= meta["le"]:
        raise _Unsure
    # pydantic's regex (Rust) anchors $ at the very end; Python's $ also matches before a final newline.
    if "pattern" in meta and not re.search(meta["pattern"].removesuffix("$") + r"\Z", v):
        raise _Unsure


def _value(tp: Any, v: Any) -> Any:
    """``v`` as the field of type ``tp`` holds it, when the models would hold the same; else _Unsure."""
    origin = get_origin(tp)
    if tp is str or tp is bool or tp is int:
        if type(v) is not tp:  # exactly: pydantic would turn 1 into True, 2.0 into 2, "5" into 5
            raise _Unsure
        return v
    if tp is float:
        if type(v) is not float and type(v) is not int:
            raise _Unsure
        return float(v)
    if origin is Literal:
        if type(v) is not str or v not in get_args(tp):
            raise _Unsure
        return v
    if origin is list:
        if type(v) is not list:
            raise _Unsure
        (item,) = get_args(tp)
        return [_value(item, x) for x in v]
    if origin is dict:
        if type(v) is not dict:
            raise _Unsure
        _, item = get_args(tp)
        return {k: _value(item, x) for k, x in v.items()}
    if is_record(tp):
        if type(v) is not dict:
            raise _Unsure
        return _section(tp, v)
    raise _Unsure


def _section(cls: Any, data: dict[str, Any]) -> Any:
    known = _FIELDS[cls]
    if not known.keys() >= data.keys():
        raise _Unsure  # an unknown key (extra="forbid")
    values: dict[str, Any] = {}
    for name, v in data.items():
        f = known[name]
        meta = f.metadata
        if meta.get("models_only"):
            raise _Unsure
        v = _value(f.type, v)
        if meta:
            _bounded(meta, v)
            check = meta.get("check")
            if check is not None:
                try:
                    v = check(v)
                except ValueError:
                    raise _Unsure from None
        values[name] = v
    return cls(**values)


_FIELDS: dict[Any, dict[str, Any]] = {
    cls: {f.name: f for f in fields(cls)}
    for cls in (StoreConfig, AuditConfig, WorkflowConfig, ScreeningConfig, HooksConfig, WebConfig, AwsConfig,
                AzureConfig, GcpConfig, NotifyConfig, Config)
}


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML file's data, or ConfigError (unreadable, not UTF-8, not TOML, a ``base_dir`` key)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{p}: not valid TOML: nested too deeply") from None
    if "base_dir" in data:
        raise ConfigError(f"{p}: 'base_dir' is not a setting")
    return data


def config_path(path: str | os.PathLike[str] | None) -> Path | None:
    """The file named by ``path``, else ``$GATEKEEPER_CONFIG``; None for the embedded defaults."""
    chosen = path or os.environ.get(ENV_VAR)
    return Path(chosen) if chosen else None


def plain_config(data: dict[str, Any], base_dir: str = ".") -> Config | None:
    """``data`` (a TOML document) as the records, or None when the models must judge it."""
    if "base_dir" in data:  # not a setting (read_toml says so)
        return None
    try:
        built: Config = _section(Config, data)
    except _Unsure:
        return None
    found: Config = replaced(built, base_dir=base_dir)
    return found


def read_config(path: str | os.PathLike[str] | None = None) -> "models.Config":
    """What ``gatekeeper.config.load_config(path)`` returns (equal values) or raises, without pydantic
    unless the file holds something only the models can judge (see the module docstring)."""
    p = config_path(path)
    if p is None:
        return cast("models.Config", Config())
    data = read_toml(p)
    base_dir = str(p.parent.resolve())
    found = plain_config(data, base_dir)
    if found is not None:
        return cast("models.Config", found)
    from gatekeeper.config import validate

    return validate(p, data, base_dir)
