"""Object-store audit URLs: one parser for ``s3://``, ``gs://`` and ``azblob://``, one location shape.

Every object-store URL is ``SCHEME://HOST[/CONTAINER]/PREFIX?PARAMS``: the host is the bucket (S3,
Google Cloud Storage) or the storage account (Azure Blob, whose container is the first path
segment). The parameters every store takes are ``endpoint_url``, ``spool`` (the local spool
directory; default ``.gatekeeper/audit-spool/HOST[/CONTAINER]/PREFIX`` under the base directory),
``immutability`` (``require``, ``warn`` (the default), ``off``) and ``max_unshipped_seconds``; a
store adds its own (S3 ``region``, GCS ``project``). An unknown parameter or a bad value is an
AuditError naming the URL.

Each store's location (``_s3.S3Location``, ``_gcs.GCSLocation``, ``_azblob.AzureBlobLocation``)
is an :class:`ObjectLocation` with the store's own fields added; the shipper needs only the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from gatekeeper.errors import AuditError

IMMUTABILITY_MODES = ("require", "warn", "off")
COMMON_PARAMS = frozenset({"endpoint_url", "spool", "immutability", "max_unshipped_seconds"})


@dataclass(frozen=True)
class ObjectLocation:
    """Where an object-store audit log goes: the objects under ``prefix``, and the local spool."""

    prefix: str
    spool: Path
    endpoint_url: str | None = None
    immutability: str = "warn"
    max_unshipped_seconds: float | None = None

    def key(self, name: str) -> str:
        """The object name of the spool's file ``name``."""
        return f"{self.prefix}/{name}" if self.prefix else name


@dataclass(frozen=True, kw_only=True)
class BucketLocation(ObjectLocation):
    """A location in a bucket named by the URL's host (S3, Google Cloud Storage)."""

    bucket: str


B = TypeVar("B", bound=BucketLocation)


def parse_bucket_url(cls: type[B], url: str, base_dir: Path, *, scheme: str, shape: str, option: str) -> B:
    """``SCHEME://BUCKET/PREFIX`` as ``cls``, whose one store-specific field ``option`` (S3's
    ``region``, GCS's ``project``) is the URL parameter of that name."""
    u = parse_object_url(url, base_dir, scheme=scheme, shape=shape, extra=frozenset({option}))
    fields: dict[str, Any] = {**u.common(), "bucket": u.host, option: u.params.get(option) or None}
    return cls(**fields)


@dataclass(frozen=True)
class ObjectURL:
    """A parsed object-store URL: ``host`` (bucket or account), ``container`` (Azure only), the
    store's own parameters, and the fields of :class:`ObjectLocation` (``common()``)."""

    host: str
    container: str
    prefix: str
    spool: Path
    params: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    immutability: str = "warn"
    max_unshipped_seconds: float | None = None

    def common(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "spool": self.spool, "endpoint_url": self.endpoint_url,
                "immutability": self.immutability, "max_unshipped_seconds": self.max_unshipped_seconds}


def parse_object_url(url: str, base_dir: Path, *, scheme: str, shape: str, extra: frozenset[str] = frozenset(),
                     container: bool = False) -> ObjectURL:
    """Parse ``url`` of ``scheme``; ``shape`` names the form in the error (``an s3://BUCKET/PREFIX``);
    ``extra``: the store's own parameters; ``container``: the first path segment is a container."""
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/")
    box, prefix = path.partition("/")[::2] if container else ("", path)
    if parts.scheme != scheme or not parts.netloc or (container and not box):
        raise AuditError(f"not {shape} URL: {url!r}")
    params = query_params(parts.query, COMMON_PARAMS | extra, url)
    prefix = prefix.strip("/")
    spool = spool_dir(params, Path(parts.netloc) / box / prefix, base_dir)
    return ObjectURL(parts.netloc, box, prefix, spool, {k: v for k, v in params.items() if k in extra},
                     params.get("endpoint_url") or None, params.get("immutability", "warn"),
                     max_unshipped(params, url))


def query_params(query: str, allowed: frozenset[str] | set[str], url: str) -> dict[str, str]:
    """The URL's parameters (last value wins); AuditError naming any that is not ``allowed``."""
    parsed = parse_qs(query, keep_blank_values=True)
    unknown = set(parsed) - allowed
    if unknown:
        raise AuditError(f"unknown parameter(s) {', '.join(sorted(unknown))} in audit URL {url!r}; "
                         f"expected {', '.join(sorted(allowed))}")
    params = {k: v[-1] for k, v in parsed.items()}
    mode = params.get("immutability", "warn")
    if "immutability" in allowed and mode not in IMMUTABILITY_MODES:
        raise AuditError(f"audit URL {url!r}: immutability must be one of {', '.join(IMMUTABILITY_MODES)}")
    return params


def max_unshipped(params: dict[str, str], url: str) -> float | None:
    """``max_unshipped_seconds=N``: how long a closed segment may wait for the store before the log
    reports itself unavailable (controlled compute then fails closed); absent: never."""
    raw = params.get("max_unshipped_seconds")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise AuditError(f"audit URL {url!r}: max_unshipped_seconds must be a positive number of seconds")
    return value


def spool_dir(params: dict[str, str], default: Path, base_dir: Path) -> Path:
    """``spool=DIR`` or the default under ``.gatekeeper/audit-spool/``, relative to ``base_dir``."""
    spool = Path(params["spool"]) if params.get("spool") else Path(".gatekeeper/audit-spool") / default
    return spool if spool.is_absolute() else Path(base_dir) / spool
